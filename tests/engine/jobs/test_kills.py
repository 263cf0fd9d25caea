"""SIGKILL at random in the middle of queue and index writes.

5,000 jobs go through forked submitters and workers while the test kills them (at least 36
kills, a third each while submitting, claiming and updating) and starts replacements: at the
end every job is done once, none is stranded (queued or held forever), none lost. Then the
run index: processes touching records of up to 300 KB are killed mid-touch; every record is
still there and whole. Forked children start in milliseconds, so this runs in seconds.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from engine.jobs.queue import KINDS, JobKind, JobQueue, JobSettings, Prepared, register_kind
from engine.settings import Limits
from engine.store import Store
from tests.engine.conftest import tiny_spec

pytestmark = pytest.mark.slow

KIND = "test_kill"
if KIND not in KINDS:  # executed here by hand, never by a real worker
    register_kind(JobKind(KIND, lambda store, p: Prepared(dict(p), p), lambda *a: None))

JOBS, SUBMITTERS, WORKERS = 5_000, 2, 3
KILLS_PER_PHASE = 12
IDLE, SUBMIT, CLAIM, UPDATE, TOUCH = range(5)
FORK = mp.get_context("fork")
SETTINGS = JobSettings(heartbeat_timeout=0.5, max_attempts=10_000, poll_interval=0.005)


def _queue(root: Path) -> JobQueue:
    return JobQueue(root, SETTINGS, Limits())


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{line}\n".encode())
    os.close(fd)


def submitter(root: Path, slot: int, phase, acks: Path) -> None:
    """Submit this slot's share of the jobs, resuming after the last one acknowledged."""
    queue, done = _queue(root), [int(n) for n in _lines(acks)]
    for n in range(max(done, default=slot - SUBMITTERS) + SUBMITTERS, JOBS, SUBMITTERS):
        phase[slot] = SUBMIT
        queue.submit(KIND, {"n": n})
        phase[slot] = IDLE
        _append(acks, str(n))
        time.sleep(0.001)  # leave the workers some of the two cores


def worker(root: Path, slot: int, phase, finishes: Path, worker_id: str) -> None:
    """Claim, report progress, finish; log each finish the queue accepted."""
    queue = _queue(root)
    while True:
        phase[slot] = CLAIM
        job = queue.claim(worker_id)
        phase[slot] = UPDATE if job else IDLE
        if job is None:
            time.sleep(0.005)
            continue
        running = queue.heartbeat(job.id, worker_id, {"step": 1}) == "running"
        if running and queue.finish(job.id, worker_id, {"n": job.payload["n"]}) is not None:
            phase[slot] = IDLE
            _append(finishes, f"{job.id}:{worker_id}")
        phase[slot] = IDLE


def kill_in(proc, phase, slot: int, want: int, timeout: float = 1.0) -> bool:
    """SIGKILL `proc` once its slot reports phase `want`; False if it never did."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.is_alive():
        if phase[slot] == want:
            os.kill(proc.pid, signal.SIGKILL)
            proc.join()
            return True
    return False


def test_killing_submitters_and_workers_strands_loses_and_repeats_nothing(tmp_path):
    rng = random.Random(15)
    phase = FORK.RawArray("i", SUBMITTERS + WORKERS)
    procs: dict[int, mp.Process] = {}
    born = Counter()

    def start(slot: int) -> None:
        born[slot] += 1
        if slot < SUBMITTERS:
            args = (tmp_path, slot, phase, tmp_path / f"acks{slot}")
            procs[slot] = FORK.Process(target=submitter, args=args, daemon=True)
        else:
            wid = f"w{slot}-{born[slot]}"
            args = (tmp_path, slot, phase, tmp_path / f"finishes{slot}", wid)
            procs[slot] = FORK.Process(target=worker, args=args, daemon=True)
        phase[slot] = IDLE
        procs[slot].start()

    _queue(tmp_path).close()  # create the file before the children race to
    for slot in range(SUBMITTERS + WORKERS):
        start(slot)
    kills: Counter = Counter()
    plan = [SUBMIT, CLAIM, UPDATE] * KILLS_PER_PHASE
    rng.shuffle(plan)
    deadline = time.monotonic() + 60
    try:
        while plan and time.monotonic() < deadline:
            want = plan[-1]
            slots = range(SUBMITTERS) if want == SUBMIT else range(SUBMITTERS, len(phase))
            alive = [s for s in slots if procs[s].is_alive()]
            if want == SUBMIT and not alive:
                break  # the submitters finished first: reported by the assertion below
            slot = rng.choice(alive)
            if kill_in(procs[slot], phase, slot, want):
                kills[want] += 1
                plan.pop()
                start(slot)
            time.sleep(rng.uniform(0, 0.03))
        for slot in range(SUBMITTERS):
            procs[slot].join(60)
        queue = _queue(tmp_path)
        while time.monotonic() < deadline and len(queue.queued()) + _held(queue) > 0:
            time.sleep(0.1)
    finally:
        for p in procs.values():
            if p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
                p.join()
    assert (kills[SUBMIT], kills[CLAIM], kills[UPDATE]) == (KILLS_PER_PHASE,) * 3
    acked = {int(n) for s in range(SUBMITTERS) for n in _lines(tmp_path / f"acks{s}")}
    assert acked == set(range(JOBS))
    jobs = queue.list()
    assert sorted(j.payload["n"] for j in jobs) == list(range(JOBS))  # none lost, no extras
    assert Counter(j.status for j in jobs) == {"done": JOBS}  # none stranded
    assert all(j.result == {"n": j.payload["n"]} for j in jobs)
    finished_by: dict[str, list[str]] = {}
    for s in range(SUBMITTERS, len(phase)):
        for line in _lines(tmp_path / f"finishes{s}"):
            job_id, worker_id = line.split(":")
            finished_by.setdefault(job_id, []).append(worker_id)
    assert max(map(len, finished_by.values())) == 1  # no job was finished by two workers
    # a worker killed between the queue accepting its finish and its log line loses the line
    assert len(finished_by) >= JOBS - kills[CLAIM] - kills[UPDATE]
    assert all(j.worker == finished_by[j.id][0] for j in jobs if j.id in finished_by)


def _held(queue: JobQueue) -> int:
    return sum(j.status in ("running", "cancelling") for j in queue.list())


# --- the run index ----------------------------------------------------------------------------
RUNS, TOUCHERS, INDEX_KILLS = 12, 3, 36


def blob_size(n: int) -> int:
    """Record sizes from bytes to 300 KB (the old index lost records over 32 KB)."""
    return (n * 7919) % 300_000 if n % 3 else 10 + n


def toucher(root: Path, slot: int, phase, run_ids: list[str], acks: Path) -> None:
    store, n = Store(root), len(_lines(acks))
    while True:
        n += 1
        run_id = run_ids[n % len(run_ids)]
        phase[slot] = TOUCH
        store.touch(run_id, n=n, size=blob_size(n), blob="x" * blob_size(n))
        phase[slot] = IDLE
        _append(acks, f"{run_id}:{n}")


def test_killing_index_writers_never_loses_or_tears_a_record(tmp_path, caplog):
    rng = random.Random(16)
    store = Store(tmp_path)
    run_ids = [store.create_run(tiny_spec().replace(seed=s)) for s in range(RUNS)]
    owned = [run_ids[i::TOUCHERS] for i in range(TOUCHERS)]
    phase = FORK.RawArray("i", TOUCHERS)
    procs: dict[int, mp.Process] = {}

    def start(slot: int) -> None:
        args = (tmp_path, slot, phase, owned[slot], tmp_path / f"touch{slot}")
        procs[slot] = FORK.Process(target=toucher, args=args, daemon=True)
        phase[slot] = IDLE
        procs[slot].start()

    for slot in range(TOUCHERS):
        start(slot)
    kills, deadline = 0, time.monotonic() + 60
    try:
        while kills < INDEX_KILLS and time.monotonic() < deadline:
            slot = rng.randrange(TOUCHERS)
            time.sleep(rng.uniform(0, 0.02))
            if kill_in(procs[slot], phase, slot, TOUCH):
                kills += 1
                start(slot)
    finally:
        for p in procs.values():
            os.kill(p.pid, signal.SIGKILL)
            p.join()
    assert kills == INDEX_KILLS
    acked = {}
    for slot in range(TOUCHERS):
        for line in _lines(tmp_path / f"touch{slot}"):
            run_id, n = line.split(":")
            acked[run_id] = max(acked.get(run_id, 0), int(n))
    fresh = Store(tmp_path)
    records, problems = fresh.list_runs()
    assert problems == [] and "rebuilt" not in caplog.text  # every record was usable
    assert sorted(r["run_id"] for r in records) == sorted(run_ids)
    touched = [r for r in records if "n" in r]
    assert len(touched) == len(acked)  # every run was touched before the kills ended
    for rec in touched:
        last = acked[rec["run_id"]]
        # whole: the blob is the one written with n; not lost: at or after the last ack
        assert rec["size"] == blob_size(rec["n"]) == len(rec["blob"])
        step = len(next(ids for ids in owned if rec["run_id"] in ids))
        assert rec["n"] - last in (0, step)  # the next touch of this run may be unacked
        assert rec["spec"]["seed"] == run_ids.index(rec["run_id"])
