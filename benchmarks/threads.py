"""Thread pile-ups: the demo's training beside one busy process, against its quiet time.

    .venv/bin/python benchmarks/threads.py [--levels 2 --length 8ep --baselines one_shot]
        [--repeat 3] [--no-default] [--quick]

By default a shortened demo (the demo preset with 2 IMP levels and the one-shot baseline:
the variant measured in issue 17, 18 s quiet on main) is trained in a fresh store each time,
timed from the job's start to its end (process start-up and imports excluded), beside one
busy process (`while True: pass`) and alone; one JSON line each way, busy against quiet:

- "worker thread policy": a real `python -m engine worker` (`engine.threads`), with the
  environment the app's embedded worker gets. Target: ratio <= 1.3.
- "torch default threads": `run_imp` in a plain process with torch's default threads and
  OpenMP's default (active) wait, as `main` trained before the policy (skip with
  --no-default: beside a busy process it is the slow one).

Quiet and busy alternate `--repeat` times (3) and each line gives the medians, every
sample, and the 1-minute load average before the first pair and after each: another
session's work on a shared machine makes a "quiet" time anything but quiet. --quick trains
one level of 20 iterations, once (the suite's smoke size).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import busy_process, emit  # noqa: E402
from engine.config import RunSpec  # noqa: E402
from engine.jobs.queue import JobQueue  # noqa: E402
from engine.presets import preset  # noqa: E402
from engine.threads import CAP_ENV, WAIT_ENV, worker_env  # noqa: E402

# The reference trains in a child with torch's own defaults: nothing of ours set.
DEFAULT_CHILD = """
import json, sys, time
from engine.config import RunSpec
from engine.imp import run_imp
from engine.store import Store
spec, store = RunSpec.from_dict(json.loads(sys.argv[1])), Store(sys.argv[2])
t0 = time.perf_counter()
run_imp(spec, store, "cpu")
print(time.perf_counter() - t0)
"""


def bare_env() -> dict[str, str]:
    """The environment without the thread settings a caller (a test suite) may have set."""
    env = {k: v for k, v in os.environ.items() if k not in (CAP_ENV, WAIT_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def with_policy(spec: RunSpec, root: Path) -> float:
    """Seconds from the job's start to its end in a real worker process."""
    queue = JobQueue(root)
    job = queue.submit("run", spec.to_dict())
    cmd = [sys.executable, "-m", "engine", "worker", "--store", str(root), "--device", "cpu"]
    subprocess.run(
        [*cmd, "--max-jobs", "1"], env=worker_env(bare_env()), check=True, capture_output=True
    )
    done = queue.get(job.id)
    if done.status != "done":
        raise RuntimeError(f"the demo job ended {done.status}: {done.error}")
    return done.finished - done.started


def with_defaults(spec: RunSpec, root: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", DEFAULT_CHILD, json.dumps(spec.to_dict()), str(root)],
        env=bare_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def timed(train, spec: RunSpec, busy: bool) -> float:
    """`train(spec, store)` in a fresh store, beside a busy process or not."""
    with busy_process(busy), tempfile.TemporaryDirectory(prefix="imp-lab-threads-") as tmp:
        return train(spec, Path(tmp) / "store")


def shortened(levels: int, length: str, baselines: tuple[str, ...]) -> RunSpec:
    spec = preset("demo")
    return spec.replace(
        train=spec.train.replace(length=length),
        prune=spec.prune.replace(levels=levels),
        baselines=spec.baselines.replace(kinds=baselines),
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", type=int, default=2)
    p.add_argument("--length", default="8ep")
    p.add_argument("--baselines", default="one_shot", help="comma-separated; '' for none")
    p.add_argument("--no-default", action="store_true", help="skip torch's default threads")
    p.add_argument("--repeat", type=int, default=3, help="quiet/busy pairs (medians)")
    p.add_argument("--quick", action="store_true", help="1 level of 20 iterations, no baseline")
    args = p.parse_args()
    if args.quick:
        args.levels, args.length, args.baselines, args.repeat = 1, "20it", "", 1
    kinds = tuple(k for k in args.baselines.split(",") if k)
    spec = shortened(args.levels, args.length, kinds)
    what = {"demo": f"{args.levels} levels x {args.length}, baselines {list(kinds)}"}
    ways = [("policy", with_policy)] + ([] if args.no_default else [("default", with_defaults)])
    for name, train in ways:
        loads, quiet, busy = [os.getloadavg()[0]], [], []
        for _ in range(args.repeat):  # interleaved, so a neighbour's burst hits both sides
            quiet.append(timed(train, spec, busy=False))
            busy.append(timed(train, spec, busy=True))
            loads.append(os.getloadavg()[0])
        label = "worker thread policy" if name == "policy" else "torch default threads"
        emit(
            f"demo beside one busy process, {label}",
            statistics.median(busy),
            "s",
            "the same, quiet",
            statistics.median(quiet),
            **what,
            busy_s=[round(t, 2) for t in busy],
            quiet_s=[round(t, 2) for t in quiet],
            load_1m=[round(x, 2) for x in loads],
            cores=len(os.sched_getaffinity(0)),
        )


if __name__ == "__main__":
    main()
