"""The demo and its first look, as a newcomer gets them from Home's "Launch the demo".

    .venv/bin/python benchmarks/first_look.py [--busy] [--tiny] [--timeout 1800]

In a fresh store the demo preset (reading data from this installation's data folder, as
the app's `preset_spec` does) is submitted with `then=first_look(spec)`, as Home's button
does, and the app's embedded worker (`engine.jobs.embedded`: a `python -m engine worker`
child that keeps one core for the server, with the app's thread policy) trains it and runs
the analyses its run job queues when done. The worker is started just before the submit,
so its start-up counts (the app starts it when the page opens, before anyone clicks).

One JSON line each, from the jobs' records: the training (the run job's start to end), each
first-look analysis (its start to end), the first look (the training's end to the last
analysis's end: the wait after training, claims included) and end to end (the worker's
start to the last analysis's end). References: the issue's targets (180 s first look, 240 s
end to end; the training gets what they leave, 60 s) and, for four analyses, what a
newcomer waited for them before (issue 17, on a busy machine). Every line carries the
1-minute load average at the start, at the training's end and at the end, the cores, and
the worker's thread policy. `--busy` runs one busy process beside it all (the issue's
"beside one busy process"); `--tiny` is the suite's smoke size (one level of two epochs of
the synthetic 8x8 set, the one-shot baseline). Exits 1 if a job fails or a follow-up is not
queued.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import busy_process, emit
from engine import paths
from engine.config import RunSpec
from engine.jobs.embedded import EmbeddedWorker, ensure_embedded_worker
from engine.jobs.follow_ups import first_look
from engine.jobs.queue import ACTIVE, Job, JobQueue
from engine.presets import preset
from engine.settings import data_root
from engine.threads import CAP_ENV, WAIT_ENV, worker_text

TARGETS = {"first look": 180.0, "end to end": 240.0}
BEFORE = {"spectrum": 256.0, "density": 167.0, "trace": 94.0, "landscape": 82.0}  # issue 17


def demo_spec(tiny: bool) -> RunSpec:
    """The demo as Home launches it; `tiny`: the same recipe at the suite's smoke size."""
    spec = preset("demo")
    spec = spec.replace(data=spec.data.replace(root=data_root()))
    if not tiny:
        return spec
    return spec.replace(
        data=spec.data.replace(name="synthetic_tiny"),
        train=spec.train.replace(length="2ep"),
        prune=spec.prune.replace(levels=1),
        baselines=spec.baselines.replace(kinds=("one_shot",)),
    )


class Failed(RuntimeError):
    """A job failed, a follow-up was not queued, the worker died or time ran out."""


def wait(queue: JobQueue, ids: list[str], worker: EmbeddedWorker, deadline: float) -> list[Job]:
    """The jobs `ids` once none is active; polls the queue twice a second."""
    while True:
        jobs = [queue.get(i) for i in ids]
        if all(j.status not in ACTIVE for j in jobs):
            return jobs
        if not worker.alive():
            raise Failed(f"the worker exited (code {worker.proc.returncode}); see its log")
        if time.time() > deadline:
            raise Failed(f"still running after the timeout: {[j.id for j in jobs]}")
        time.sleep(0.5)


def check(jobs: list[Job]) -> None:
    for job in jobs:
        if job.status != "done":
            raise Failed(
                f"job {job.id} ({job.kind} {job.payload.get('what', '')}) ended "
                f"{job.status}: {job.error}"
            )


def measure(spec: RunSpec, root: Path, timeout: float) -> None:
    loads = [os.getloadavg()[0]]
    t0 = time.time()
    worker = ensure_embedded_worker(root)
    if worker is None:
        raise Failed(f"another worker holds {root}")
    queue = JobQueue(root)
    try:
        job = queue.submit("run", spec.to_dict(), then=first_look(spec))
        deadline = t0 + timeout
        (run,) = wait(queue, [job.id], worker, deadline)
        check([run])
        policy = next((worker_text(w) for w in queue.live_workers()), "")  # for this run's jobs
        loads.append(os.getloadavg()[0])
        notes = (run.result or {}).get("follow_ups", [])
        skipped = [n for n in notes if n.startswith("not queued")]
        if skipped:
            raise Failed("; ".join(skipped))
        analyses = wait(queue, notes, worker, deadline)
        check(analyses)
        loads.append(os.getloadavg()[0])
    finally:
        queue.close()
        worker.stop()
    context = {
        "demo": f"{spec.prune.levels} levels x {spec.train.length}, {spec.data.name}, "
        f"baselines {list(spec.baselines.kinds)}",
        "load_1m": [round(x, 2) for x in loads],  # at the start, the training's end, the end
        "cores": len(os.sched_getaffinity(0)),
        "worker": policy,
    }
    budget = TARGETS["end to end"] - TARGETS["first look"]
    emit(
        "demo training",
        run.finished - run.started,
        "s",
        "what the targets leave it",
        budget,
        **context,
    )
    for a in analyses:
        what = a.payload["what"]
        options = {k: v for k, v in a.payload.items() if k not in ("run_id", "what")}
        ref = ("first look before (issue 17)", BEFORE[what]) if what in BEFORE else ()
        emit(f"first look: {what}", a.finished - a.started, "s", *ref, options=options, **context)
    last = max(a.finished for a in analyses)
    emit(
        "first look",
        last - run.finished,
        "s",
        "target",
        TARGETS["first look"],
        analyses=len(analyses),
        **context,
    )
    emit(
        "demo and first look, end to end",
        last - t0,
        "s",
        "target",
        TARGETS["end to end"],
        **context,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--busy", action="store_true", help="one busy process beside it")
    p.add_argument("--tiny", action="store_true", help="the suite's smoke size")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before giving up")
    args = p.parse_args()
    for name in (CAP_ENV, WAIT_ENV):  # a caller's (the suite's) settings: the app has none
        os.environ.pop(name, None)
    with busy_process(args.busy), tempfile.TemporaryDirectory(prefix="imp-lab-first-") as tmp:
        root = Path(tmp) / "store"
        try:
            measure(demo_spec(args.tiny), root, args.timeout)
        except Failed as e:
            for log in paths.logs(root).glob("worker-*.log"):  # the worker's last words
                print("".join(log.read_text().splitlines(True)[-30:]), file=sys.stderr)
            sys.exit(f"first_look benchmark: {e}")


if __name__ == "__main__":
    main()
