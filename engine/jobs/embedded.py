"""The app's embedded worker: a `python -m engine worker` child process started when no worker
is alive, so the app never trains in its own process. The child exits by itself when its
parent (the app) dies (`engine.jobs.heartbeat.parent_watch`).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine import paths, threads
from engine.jobs.code import pythonpath
from engine.jobs.queue import JobQueue


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
        env = threads.worker_env(os.environ)  # OpenMP reads its wait policy at import
        env["PYTHONPATH"] = pythonpath(env)
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
