"""Ray backend overhead per task: submit → start, beside a local worker's, as JSON lines.

    .venv/bin/python benchmarks/ray_overhead.py [--samples 20] [--burst 20]

Starts a local Ray head on loopback (2 CPUs) and a dispatcher (`engine ray-dispatch`), then a
local worker (`engine worker`), both polling the queue at $IMP_LAB_POLL_INTERVAL (0.25 s by
default), and times no-op jobs:

- `ray_dispatcher_start`: `engine ray-dispatch` started → connected and polling.
- `ray_first_task`: submit → start of the first job, which waits for Ray to start a worker
  process and import the engine (once per dispatcher and worker slot).
- `ray_submit_to_start`: one job at a time on a warm cluster (Ray reuses its worker
  processes), against `local_submit_to_start` measured the same way.
- `ray_burst_submit_to_start`: `--burst` jobs submitted at once, mean submit → start, with
  two warm task slots (2 CPUs), against one local worker taking the same burst.

The no-op kind comes from `benchmarks.common` (the dispatcher's tasks and
the worker load it through $IMP_LAB_JOB_MODULES).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import MODULE, NOOP, emit  # noqa: E402
from engine.jobs.queue import MODULES_ENV, JobQueue  # noqa: E402


def stats(waits: list[float]) -> dict:
    ordered = sorted(waits)
    return {"p90": round(ordered[int(0.9 * len(ordered)) - 1], 4), "samples": len(waits)}


def submit_and_wait(queue: JobQueue, tag: str, n: int) -> float:
    t0 = time.time()
    job = queue.submit(NOOP, {"tag": tag, "n": n})
    while (job := queue.get(job.id)).status != "done":
        time.sleep(0.005)
    return job.started - t0


def sequential(queue: JobQueue, tag: str, samples: int) -> list[float]:
    waits = []
    for n in range(samples):
        time.sleep(0.1 + 0.037 * n)  # submit at varying phases of the poll
        waits.append(submit_and_wait(queue, tag, n))
    return waits


def burst(queue: JobQueue, tag: str, count: int) -> list[float]:
    t0 = time.time()
    ids = [queue.submit(NOOP, {"tag": tag, "n": n}).id for n in range(count)]
    while any(queue.get(i).status != "done" for i in ids):
        time.sleep(0.01)
    return [queue.get(i).started - t0 for i in ids]


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "engine", *cmd], cwd=REPO, env=env, stdout=out, stderr=out
        )


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument(
        "--ray-niceness",
        type=int,
        default=0,
        help="Niceness of Ray's worker processes (Ray's default is 15; 0 matches the local "
        "worker, so a busy shared machine slows both sides alike).",
    )
    args = parser.parse_args()
    os.environ["RAY_worker_niceness"] = str(args.ray_niceness)  # noqa: SIM112 - read by the head

    from engine.jobs.ray_backend import LOOPBACK_ENV, start_local_head

    os.environ.update(LOOPBACK_ENV)
    env = dict(os.environ, PYTHONPATH=str(REPO), **{MODULES_ENV: MODULE})
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        head = start_local_head(tmp / "head", num_cpus=2)
        try:
            ray_store = tmp / "ray-store"
            queue = JobQueue(ray_store)
            cmd = ["ray-dispatch", "--store", str(ray_store), "--address", head.address]
            t0 = time.time()
            dispatcher = start([*cmd, "--device", "cpu"], env, tmp / "dispatcher.log")
            while not queue.live_workers():  # connected to Ray and polling
                time.sleep(0.05)
            connect = time.time() - t0
            first = submit_and_wait(queue, "first", 0)
            ray_waits = sequential(queue, "seq", args.samples)
            burst(queue, "warm-up", args.burst)  # Ray starts a process for each slot
            ray_burst = burst(queue, "burst", args.burst)
            stop(dispatcher)
        finally:
            head.stop()

        local_store = tmp / "local-store"
        local = JobQueue(local_store)
        worker = start(
            ["worker", "--store", str(local_store), "--device", "cpu", "--worker-id", "bench"],
            env,
            tmp / "worker.log",
        )
        while not local.live_workers():
            time.sleep(0.05)
        local_waits = sequential(local, "seq", args.samples)
        local_burst = burst(local, "burst", args.burst)
        stop(worker)

    poll = queue.settings.poll_interval
    local_mean = statistics.mean(local_waits)
    emit("ray_dispatcher_start", connect, "s", ray_niceness=args.ray_niceness)
    emit("ray_first_task", first, "s", "local_submit_to_start_mean", local_mean, poll=poll)
    emit(
        "ray_submit_to_start_mean",
        statistics.mean(ray_waits),
        "s",
        "local_submit_to_start_mean",
        local_mean,
        **stats(ray_waits),
    )
    emit("local_submit_to_start_mean", local_mean, "s", "poll_interval/2", poll / 2)
    emit(
        "ray_burst_submit_to_start_mean",
        statistics.mean(ray_burst),
        "s",
        "local_burst_submit_to_start_mean",
        statistics.mean(local_burst),
        jobs=args.burst,
        ray_slots=2,
        local_workers=1,
    )


if __name__ == "__main__":
    main()
