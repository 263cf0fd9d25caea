"""Job-queue overhead: one JSON line per measurement, with a reference from the same run.

    .venv/bin/python benchmarks/job_queue.py [--jobs 200] [--latency-samples 20]

- `write_floor`: a bare diskcache read-modify-write transaction (the floor every queue
  operation pays).
- `progress_writes`: `JobQueue.heartbeat` with a progress dict, as fast as it goes, against
  the floor; and the rate a live worker actually writes (design: every 0.5 s).
- `submit`: validating and queueing a run spec, against the floor.
- `submit_to_start`: submit → claimed by an idle worker process, against the worker's
  poll interval / 2 (the expected wait of a polling worker).
- `claim_throughput`: no-op jobs per second through two worker processes, against one.

The no-op kind comes from `benchmarks.common` (workers load it through
$IMP_LAB_JOB_MODULES).
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

import diskcache

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import MODULE, NOOP, emit  # noqa: E402
from engine.config import RunSpec  # noqa: E402
from engine.jobs import MODULES_ENV, JobQueue  # noqa: E402


def rate(fn, seconds: float = 2.0) -> float:
    """Calls per second of `fn` over about `seconds`."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(n)
        n += 1
    return n / (time.perf_counter() - t0)


def start_workers(root: Path, n: int, poll: float) -> list[subprocess.Popen]:
    env = dict(os.environ, PYTHONPATH=str(REPO), **{MODULES_ENV: MODULE})
    cmd = [sys.executable, "-m", "engine", "worker", "--store", str(root), "--device", "cpu"]
    cmd += ["--poll-interval", str(poll)]
    procs = [
        subprocess.Popen(
            [*cmd, "--worker-id", f"bench{i}"], cwd=REPO, env=env, stdout=subprocess.DEVNULL
        )
        for i in range(n)
    ]
    queue = JobQueue(root)
    while len(queue.live_workers()) < n:
        time.sleep(0.05)
    queue.close()
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)


def wait_done(queue: JobQueue, ids: list[str]) -> None:
    while any(queue.get(i).status != "done" for i in ids):
        time.sleep(0.01)


def throughput(root: Path, workers: int, jobs: int) -> float:
    """No-op jobs per second from the first claim to the last finish."""
    procs = start_workers(root, workers, poll=0.01)
    queue = JobQueue(root)
    ids = [queue.submit(NOOP, {"tag": str(root), "n": n}).id for n in range(jobs)]
    wait_done(queue, ids)
    done = [queue.get(i) for i in ids]
    stop(procs)
    queue.close()
    return jobs / (max(j.finished for j in done) - min(j.started for j in done))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency-samples", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp:
        measure(Path(tmp), args.jobs, args.latency_samples)


def measure(tmp: Path, jobs: int, latency_samples: int) -> None:

    cache = diskcache.Cache(str(tmp / "floor"), eviction_policy="none")
    record = {"progress": {"epoch": 1, "loss": 0.5, "label": "imp level 1"}, "x": "y" * 500}

    def floor_write(n: int) -> None:
        with cache.transact():
            rec = cache.get("k", record)
            rec["n"] = n
            cache.set("k", rec)

    floor = rate(floor_write)
    cache.close()
    emit("write_floor", floor, "writes/s")

    queue = JobQueue(tmp / "store")
    job = queue.submit(NOOP, {"n": -1})
    queue.claim("bench")
    progress = {"label": "imp level 1", "epoch": 3, "step": 120, "loss": 0.31, "eta": 12.0}
    writes = rate(lambda n: queue.heartbeat(job.id, "bench", {**progress, "step": n}))
    emit("progress_writes", writes, "writes/s", "write_floor", floor)

    spec = RunSpec().to_dict()
    submits = rate(lambda n: queue.submit("run", {**spec, "seed": n}))
    emit("submit", submits, "submits/s", "write_floor", floor)
    queue.close()

    root = tmp / "latency"
    (worker,) = start_workers(root, 1, poll=float(os.environ.get("IMP_LAB_POLL_INTERVAL", 0.25)))
    queue = JobQueue(root)
    waits = []
    for n in range(latency_samples):
        time.sleep(0.1 + 0.037 * n)  # submit at varying phases of the worker's poll
        t0 = time.time()
        job = queue.submit(NOOP, {"n": n})
        wait_done(queue, [job.id])
        waits.append(queue.get(job.id).started - t0)
    beats = set()  # the heartbeat thread writes the worker's record and its job's progress
    t_end = time.time() + 3.0
    while time.time() < t_end:
        beats |= {w["heartbeat"] for w in queue.live_workers()}
        time.sleep(0.02)
    stop([worker])
    poll = queue.settings.poll_interval
    emit(
        "submit_to_start_mean",
        statistics.mean(waits),
        "s",
        "poll_interval/2",
        poll / 2,
        p90=round(sorted(waits)[int(0.9 * len(waits)) - 1], 4),
        samples=len(waits),
    )
    emit("worker_heartbeat_rate", len(beats) / 3.0, "writes/s", "required", 1.0)
    queue.close()

    one = throughput(tmp / "tp1", 1, jobs)
    two = throughput(tmp / "tp2", 2, jobs)
    emit("claim_throughput_2_workers", two, "jobs/s", "claim_throughput_1_worker", one)


if __name__ == "__main__":
    main()
