"""A worker's heartbeat: a thread that writes the worker's liveness and its running job's
latest progress every `JobSettings.beat_interval` (at most 0.5 s), also while a long
computation reports nothing, and stops the worker when the process that started it dies.

A job whose heartbeat goes stale (its worker died) is requeued by the next claim
(`engine.jobs.triage` decides how); the local worker and every Ray task beat the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from engine.jobs.queue import Job, JobQueue

PARENT_GRACE_S = 10.0  # after the parent died: time to give the job back before a hard exit


class Snapshots(Protocol):
    """What the heartbeat reads from a running job's reporter (`worker.JobReporter`)."""

    def snapshot(self) -> dict[str, Any]: ...


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
        self.current: tuple[Job, Snapshots] | None = None
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
