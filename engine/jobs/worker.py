"""The local worker: claim jobs one at a time, run them, report progress, honour cancel.

Its heartbeat thread (`engine.jobs.heartbeat`) keeps the job and the worker alive in the
queue. When a worker dies its job's heartbeat goes stale and the next claim requeues it; the
handler then resumes from the store (finished levels are skipped, an unfinished one resumes
from its last epoch). SIGTERM or SIGINT give the job back to the queue before the worker
exits. How an attempt that ends early is recorded is `engine.jobs.triage`'s decision, here and
in Ray tasks alike (`execute_job` is what both run). The app starts its worker with
`engine.jobs.embedded`.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import torch

from engine import atomic, threads
from engine.config import SpecError
from engine.imp import resolve_device
from engine.jobs.follow_ups import adopt_analyse_after
from engine.jobs.heartbeat import Heartbeat, beating, parent_watch
from engine.jobs.queue import KINDS, Job, JobQueue, JobSettings
from engine.jobs.triage import Ending, WorkerStop, ending_of
from engine.store import check_name
from engine.summaries import format_epoch
from engine.train import Cancelled


class JobReporter:
    """The `Reporter` a job runs with.

    Keeps the latest progress (with an ETA) for the heartbeat thread to write, appends the
    job's log lines (the lines `python -m engine run -v` prints) to its log file and to
    stdout, and answers `cancelled()` from the job's status in the queue.
    """

    def __init__(self, queue: JobQueue, job: Job, worker_id: str, echo: IO[str] | None = None):
        self.queue, self.job, self.worker_id, self.echo = queue, job, worker_id, echo
        self._lock = threading.Lock()
        self._snapshot: dict[str, Any] = {}
        self._start: tuple[float, float] | None = None  # (time, fraction) of the first report
        self._log_path = queue.log_file(job)
        self._log: IO[str] | None = None
        self._pending: list[str] = []
        # A run's log waits until the run is registered, so a run that fails validation leaves
        # no half-made folder in the store (its error is in the job record).
        self._ready = (
            (lambda: True) if job.run_id is None else (lambda: queue.store.has_run(job.run_id))
        )

    def progress(self, **fields: Any) -> None:
        now = time.time()
        if "total" in fields and "iters_per_epoch" in fields:
            fields["epochs"] = math.ceil(fields["total"] / max(fields["iters_per_epoch"], 1))
        if "iteration" in fields:
            fields["step"], fields["steps"] = fields["iteration"], fields.get("total")
        fraction = fields.get("fraction")
        if fraction is not None:
            if self._start is None:
                self._start = (now, fraction)
            t0, f0 = self._start
            if fraction > f0:
                fields["eta"] = (now - t0) * (1.0 - fraction) / (fraction - f0)
        with self._lock:
            self._snapshot.update(fields, updated=now)

    def epoch_done(self, row: dict[str, float], label: str) -> None:
        self.log(format_epoch(label, row))
        with self._lock:
            self._snapshot.update(epoch=int(row["epoch"]), updated=time.time())

    def cancelled(self) -> bool:
        return self.queue.status_for(self.job.id, self.worker_id) != "running"

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._snapshot)

    def log(self, text: str) -> None:
        line = text.rstrip("\n") + "\n"
        if self._log is None and self._log_path is not None:
            self._pending.append(line)
            if self._ready():
                self._log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = self._log_path.open("a", buffering=1)
                self._log.write("".join(self._pending))
                self._pending.clear()
        elif self._log is not None:
            self._log.write(line)
        if self.echo is not None:
            self.echo.write(line)
            self.echo.flush()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into `WorkerStop` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise WorkerStop(signal.Signals(signum).name)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def worker_device(device: str) -> torch.device:
    """The device a worker trains on; a CUDA index this machine lacks is refused."""
    dev = resolve_device(device)
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise SpecError("device", f"{device!r}: no such CUDA device here; use cpu or auto")
    return dev


def execute_job(
    queue: JobQueue, job: Job, worker_id: str, device: torch.device, heart: Heartbeat
) -> str:
    """Run one claimed job to its end state; return that state."""
    kind = KINDS[job.kind]
    reporter = JobReporter(queue, job, worker_id, echo=sys.stdout)
    heart.current = (job, reporter)
    attempts = f"{job.attempts}/{queue.settings.max_attempts}"
    on = f"worker {worker_id} on {device}, {heart.info.get('threads', {}).get('text', '')}"
    reporter.log(f"job {job.id} ({job.kind}), attempt {attempts}, {on}")
    if job.error:
        reporter.log(f"previous attempt: {job.error}")
    t0 = time.perf_counter()
    try:
        if reporter.cancelled():
            raise Cancelled("cancelled before it started")
        result = kind.execute(job, queue.store, device, reporter)
    except BaseException as e:
        ending = ending_of(e, traceback.format_exc())
        if ending.what == "error":
            reporter.log(ending.traceback or "")
        after = queue.settle(job.id, worker_id, ending)
        reporter.log(_ended(ending, after, e))
        if ending.what == "stop":
            raise
        return "cancelled" if ending.what == "cancel" else after.status if after else "lost"
    else:
        final = {**reporter.snapshot(), "fraction": 1.0, "eta": 0.0}
        after = queue.finish(job.id, worker_id, result, progress=final)
        for note in ((after and after.result) or {}).get("follow_ups", []):
            reporter.log(f"follow-up: {note}")
        reporter.log(f"job {job.id} done in {time.perf_counter() - t0:.1f} s")
        return "done"
    finally:
        heart.current = None
        reporter.close()


def _ended(ending: Ending, after: Job | None, e: BaseException) -> str:
    """The log line for an attempt that ended early (`after`: the job as recorded, if held)."""
    if ending.what == "cancel":
        return f"stopped: {e}" if after else "stopped: the job was deleted or reassigned"
    if ending.what == "stop":
        if after is not None and after.status == "cancelled":
            return "stopped: cancelled"
        return "worker stopping: job given back to the queue"
    return f"{after.status if after else 'lost'}: {ending.reason}"


def run_worker(
    store_root: str | Path,
    device: str = "auto",
    max_jobs: int | None = None,
    poll_interval: float | None = None,
    heartbeat_timeout: float | None = None,
    worker_id: str | None = None,
    parent_pid: int | None = None,
) -> int:
    """Claim and run jobs until stopped (or `max_jobs` have run); return how many ran.

    Settings left as None come from the environment (see `engine.jobs.queue.ENV`) or defaults.
    """
    settings = JobSettings.from_env(
        poll_interval=poll_interval, heartbeat_timeout=heartbeat_timeout
    )
    queue = JobQueue(store_root, settings)
    dev = worker_device(device)
    host = socket.gethostname()
    worker_id = check_name(worker_id or f"{host}-{os.getpid()}", "worker id")
    info = {"pid": os.getpid(), "host": host, "device": str(dev), "started": time.time()}
    reserved = 1 if parent_pid is not None else 0  # the app's embedded worker: its server's core
    info |= threads.settle(queue, worker_id, host, dev, reserved).record()
    watch = parent_watch(parent_pid) if parent_pid is not None else None
    ran = 0
    try:
        with beating(queue, worker_id, info, watch) as heart:
            print(f"worker {worker_id} on {dev}, store {queue.root}", flush=True)
            print(f"threads: {info['threads']['text']}", flush=True)
            for path in atomic.sweep_temp_files(queue.root):  # a killed write's leftovers
                print(f"removed stray temporary file {path}", flush=True)
            for run_id in adopt_analyse_after(queue):  # the app's old list of first looks
                print(f"{run_id}: its first-look analyses are now its follow-ups", flush=True)
            with stop_on_signals():
                while max_jobs is None or ran < max_jobs:
                    job = queue.claim(worker_id, kinds=tuple(KINDS))
                    if job is None:
                        time.sleep(settings.poll_interval)
                        continue
                    info |= threads.settle(queue, worker_id, host, dev, reserved, job).record()
                    execute_job(queue, job, worker_id, dev, heart)
                    ran += 1
    except (WorkerStop, KeyboardInterrupt) as e:
        print(f"worker {worker_id} stopping ({e or 'interrupted'})", flush=True)
    finally:
        queue.close()
    return ran
