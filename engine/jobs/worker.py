"""Worker processes: claim jobs one at a time, run them, report progress, honour cancel.

A heartbeat thread writes the running job's latest progress and the worker's liveness every
`JobSettings.beat_interval` (at most 0.5 s), also while a long computation reports nothing.
When a worker dies its job's heartbeat goes stale and the next claim requeues it; the handler
then resumes from the store (finished levels are skipped, an unfinished one resumes from its
last epoch). SIGTERM or SIGINT give the job back to the queue before the worker exits.

The app never trains in its own process: `ensure_embedded_worker` starts a worker as a child
process when none is alive; the child exits by itself when its parent dies.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch

from engine import atomic, paths, threads
from engine.config import SpecError
from engine.data.errors import DataNotFoundError
from engine.imp import resolve_device
from engine.jobs.queue import KINDS, Job, JobQueue, JobSettings, load_kind_modules
from engine.store import StoreError, check_name
from engine.summaries import format_epoch
from engine.train import Cancelled

# Errors that another attempt cannot fix: the job fails at once instead of retrying.
NOT_RETRIED = (SpecError, StoreError, DataNotFoundError)
PARENT_GRACE_S = 10.0  # after the parent died: time to give the job back before a hard exit


class WorkerStop(BaseException):
    """The worker was asked to stop (signal, or its parent died): release the job and exit."""


class JobReporter:
    """The `Reporter` a job runs with.

    Keeps the latest progress (with an ETA) for the heartbeat thread to write, appends the
    job's log lines (the lines `python -m engine run -v` prints) to its log file and to
    stdout, and answers `cancelled()` from the job's status in the queue.
    """

    def __init__(self, queue: JobQueue, job: Job, worker_id: str, echo: IO[str] | None = None):
        self.queue, self.job, self.worker_id, self.echo = queue, job, worker_id, echo
        self.label = ""
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
        self.label = fields.get("label", self.label)
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

    def epoch_done(self, row: dict[str, float]) -> None:
        self.log(format_epoch(self.label, row))
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


class Heartbeat(threading.Thread):
    """Writes the worker's liveness and its job's progress; watches the parent process."""

    def __init__(
        self,
        queue: JobQueue,
        worker_id: str,
        info: dict[str, Any],
        parent_alive: Callable[[], bool] | None = None,
    ):
        super().__init__(name=f"heartbeat-{worker_id}", daemon=True)
        self.queue, self.worker_id, self.info = queue, worker_id, info
        self.parent_alive = parent_alive
        self.current: tuple[Job, JobReporter] | None = None
        self._halt = threading.Event()
        self._orphaned_at: float | None = None

    def beat(self) -> None:
        current = self.current
        if current is not None:
            job, reporter = current
            self.queue.heartbeat(job.id, self.worker_id, reporter.snapshot())
        self.queue.worker_heartbeat(
            self.worker_id, **self.info, job=current[0].id if current else None
        )

    def run(self) -> None:
        while not self._halt.wait(self.queue.settings.beat_interval):
            try:
                self.beat()
            except Exception as e:  # a busy database must not stop the heartbeat for good
                print(f"heartbeat failed: {e}", file=sys.stderr, flush=True)
            if self.parent_alive is not None and not self.parent_alive():
                self._on_orphaned()

    def _on_orphaned(self) -> None:
        now = time.monotonic()
        if self._orphaned_at is None:
            self._orphaned_at = now
            print("parent process is gone; stopping", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)  # the main thread releases its job and exits
        elif now - self._orphaned_at > PARENT_GRACE_S:
            os._exit(1)  # stuck in a long computation: the job's heartbeat goes stale instead

    def stop(self) -> None:
        self._halt.set()
        self.join()


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


def parent_watch(parent_pid: int) -> Callable[[], bool]:
    """A check that `parent_pid` still lives (re-parenting shows it at once for a child)."""
    if os.getppid() == parent_pid:
        return lambda: os.getppid() == parent_pid

    def alive() -> bool:
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    return alive


@contextlib.contextmanager
def beating(
    queue: JobQueue,
    worker_id: str,
    info: dict[str, Any],
    parent_alive: Callable[[], bool] | None = None,
) -> Iterator[Heartbeat]:
    """A registered worker with its heartbeat thread running; unregistered on the way out."""
    heart = Heartbeat(queue, worker_id, info, parent_alive)
    queue.worker_heartbeat(worker_id, **info, job=None)
    heart.start()
    try:
        yield heart
    finally:
        heart.stop()
        queue.unregister_worker(worker_id)


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
    except Cancelled as e:
        after = queue.mark_cancelled(job.id, worker_id)
        reporter.log(f"stopped: {e}" if after else "stopped: the job was deleted or reassigned")
        return "cancelled"
    except (WorkerStop, KeyboardInterrupt):
        after = queue.release(job.id, worker_id)
        if after is not None and after.status == "cancelled":
            reporter.log("stopped: cancelled")
        else:
            reporter.log("worker stopping: job given back to the queue")
        raise
    except Exception as e:
        tb = traceback.format_exc()
        reporter.log(tb)
        error = f"{type(e).__name__}: {e}"
        after = queue.fail(job.id, worker_id, error, tb, retry=not isinstance(e, NOT_RETRIED))
        status = after.status if after else "lost"
        reporter.log(f"{status}: {error}")
        return status
    else:
        final = {**reporter.snapshot(), "fraction": 1.0, "eta": 0.0}
        queue.finish(job.id, worker_id, result, progress=final)
        reporter.log(f"job {job.id} done in {time.perf_counter() - t0:.1f} s")
        return "done"
    finally:
        heart.current = None
        reporter.close()


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
    load_kind_modules()
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


# --- the app's embedded worker --------------------------------------------------------------


@dataclass
class EmbeddedWorker:
    """A worker child process started by the app; `stop()` ends it (also run at exit)."""

    proc: subprocess.Popen
    worker_id: str
    store_root: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the worker gives its job back), then SIGKILL after `timeout` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if _EMBEDDED.get(self.store_root) is self:
            del _EMBEDDED[self.store_root]


_EMBEDDED: dict[Path, EmbeddedWorker] = {}


def ensure_embedded_worker(store_root: str | Path, device: str = "auto") -> EmbeddedWorker | None:
    """Start a worker child process unless one is alive; None when another worker holds the
    queue. Safe to call on every app rerun: a live child started here is returned as it is."""
    root = Path(store_root).resolve()
    mine = _EMBEDDED.get(root)
    if mine is not None and mine.alive():
        return mine
    queue = JobQueue(root)
    try:
        if mine is not None:  # our child died: its record must not block a new one
            queue.unregister_worker(mine.worker_id)
        if queue.live_workers():
            return None
        host = socket.gethostname()
        worker_id = f"embedded-{host}-{os.getpid()}-{time.time_ns() % 10**6}"
        log = paths.worker_log(root, worker_id)
        log.parent.mkdir(parents=True, exist_ok=True)
        package_parent = str(Path(__file__).resolve().parent.parent)
        env = threads.worker_env(os.environ)  # OpenMP reads its wait policy at import
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "engine", "worker", "--store", str(root), "--device", device]
        cmd += ["--parent-pid", str(os.getpid()), "--worker-id", worker_id]
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # terminal Ctrl-C goes to the app, which stops us
            )
        # Registered now, so a second app process does not start another while we import.
        queue.worker_heartbeat(worker_id, pid=proc.pid, host=host, device=device, job=None)
    finally:
        queue.close()
    handle = EmbeddedWorker(proc, worker_id, root)
    _EMBEDDED[root] = handle
    atexit.register(handle.stop)
    return handle
