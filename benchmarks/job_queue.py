"""Job-queue overhead: one JSON line per measurement, with a reference from the same run.

    .venv/bin/python benchmarks/job_queue.py [--depths 100,1000,10000] [--samples 300]
        [--jobs 200] [--latency-samples 20] [--seconds 2] [--no-workers]

- `submit_rate` at each depth (jobs already queued): no-op submits per second, against a bare
  SQLite insert (one row of the same size per transaction, same pragmas) into a table of the
  same depth. Target: >= 500/s at every depth.
- `claim_latency` at each depth: median claim time (each claimed job is then finished),
  against the median at the first depth (flat: the ratio stays near 1); also claims/s.
- `diskcache_list_rewrite` at each depth: what every submit, claim and update cost before
  this queue (rewriting the diskcache "queued" list of that many entries), against our submit.
- `write_floor`: a bare SQLite read-modify-write transaction (the floor every queue
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
import json
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
from engine.database import Database  # noqa: E402
from engine.jobs.queue import MODULES_ENV, JobQueue  # noqa: E402

RECORD = "x" * 500  # about the size of a no-op job's record


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="100,1000,10000", help="queued jobs, comma-separated")
    parser.add_argument("--samples", type=int, default=300, help="submits and claims per depth")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--no-workers", action="store_true", help="skip the worker processes")
    parser.add_argument("--seconds", type=float, default=2.0, help="per rate measurement")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp:
        at_depths(Path(tmp), [int(d) for d in args.depths.split(",")], args.samples)
        measure(Path(tmp), args.jobs, args.latency_samples, args.seconds, not args.no_workers)


def timed(fn, n: int) -> list[float]:
    """Seconds of each of `n` calls `fn(i)`."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def bare_inserts(path: Path, depth: int, n: int) -> float:
    """Inserts per second, one row per BEGIN IMMEDIATE transaction, into `depth` rows."""
    schema = "CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, record TEXT NOT NULL);"
    db = Database(path, schema, "benchmark table")
    with db.write() as c:
        c.executemany("INSERT INTO t VALUES (?, ?)", ((f"fill-{i}", RECORD) for i in range(depth)))

    def insert(i: int) -> None:
        with db.write() as c:
            c.execute("INSERT INTO t VALUES (?, ?)", (f"probe-{i}", RECORD))

    rate = n / sum(timed(insert, n))
    db.close()
    return rate


def diskcache_rewrites(path: Path, depth: int, n: int) -> float:
    """Per second: the old queue's step on every submit, claim and update (read the whole
    "queued" list of `depth` entries, change it, write it back, in one transaction)."""
    cache = diskcache.Cache(str(path), eviction_policy="none")
    cache["queued"] = [[f"{NOOP}-{i:012d}", NOOP] for i in range(depth)]

    def rewrite(i: int) -> None:
        with cache.transact():
            cache["queued"] = [*cache.get("queued", []), [f"probe-{i}", NOOP]]

    rate = n / sum(timed(rewrite, n))
    cache.close()
    return rate


def queue_at_depth(root: Path, depth: int, samples: int) -> tuple[list[float], list[float]]:
    """Each submit's and each claim's seconds, with `depth` no-op jobs queued."""
    queue = JobQueue(root)
    for n in range(depth):
        queue.submit(NOOP, {"fill": n})
    submits = timed(lambda n: queue.submit(NOOP, {"probe": n}), samples)
    claims = []
    for _ in range(samples):  # time the claim alone; finishing keeps the queue realistic
        t0 = time.perf_counter()
        job = queue.claim("bench")
        claims.append(time.perf_counter() - t0)
        queue.finish(job.id, "bench", {})
    queue.close()
    return submits, claims


def at_depths(tmp: Path, depths: list[int], samples: int) -> None:
    """Submit rate and claim latency at each depth, with their references."""
    first = None
    for depth in depths:
        submit_times, claims = queue_at_depth(tmp / f"depth-{depth}", depth, samples)
        submits = samples / sum(submit_times)
        floor = bare_inserts(tmp / f"bare-{depth}.sqlite3", depth, samples)
        median_ms = round(statistics.median(submit_times) * 1e3, 4)
        extra = {"queued": depth, "median_ms": median_ms}
        emit("submit_rate", submits, "submits/s", "bare_sqlite_insert", floor, **extra)
        median = statistics.median(claims) * 1e3
        first = first or median
        p90 = round(sorted(claims)[int(0.9 * len(claims))] * 1e3, 4)
        extra = {"queued": depth, "p90_ms": p90, "claims_per_s": round(samples / sum(claims), 1)}
        emit("claim_latency", median, "ms", f"claim_latency_at_{depths[0]}", first, **extra)
        old = diskcache_rewrites(tmp / f"old-{depth}", depth, min(samples, 50))
        emit("diskcache_list_rewrite", old, "writes/s", "submit_rate", submits, queued=depth)


def measure(tmp: Path, jobs: int, latency_samples: int, seconds: float, workers: bool) -> None:
    """The per-operation floors, and (with `workers`) submit-to-start and throughput."""
    db = Database(tmp / "floor.sqlite3", "CREATE TABLE IF NOT EXISTS k (v TEXT);", "floor")
    record = {"progress": {"epoch": 1, "loss": 0.5, "label": "imp level 1"}, "x": "y" * 500}
    with db.write() as c:
        c.execute("INSERT INTO k VALUES (?)", (json.dumps(record),))

    def floor_write(n: int) -> None:
        with db.write() as c:
            rec = json.loads(c.execute("SELECT v FROM k").fetchone()[0])
            rec["n"] = n
            c.execute("UPDATE k SET v = ?", (json.dumps(rec),))

    floor = rate(floor_write, seconds)
    db.close()
    emit("write_floor", floor, "writes/s")
    queue = JobQueue(tmp / "store")
    job = queue.submit(NOOP, {"n": -1})
    queue.claim("bench")
    progress = {"label": "imp level 1", "epoch": 3, "step": 120, "loss": 0.31, "eta": 12.0}
    writes = rate(lambda n: queue.heartbeat(job.id, "bench", {**progress, "step": n}), seconds)
    emit("progress_writes", writes, "writes/s", "write_floor", floor)

    spec = RunSpec().to_dict()
    submits = rate(lambda n: queue.submit("run", {**spec, "seed": n}), seconds)
    emit("submit", submits, "submits/s", "write_floor", floor)
    queue.close()
    if not workers:
        return

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
