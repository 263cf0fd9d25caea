"""The job queue: one SQLite row per job, shared safely by any number of worker processes.

Jobs live in ``<store root>/jobs/queue.sqlite3`` (see `engine.jobs.table`), so the app, the CLI
and the workers need nothing but the store folder. A job's id comes from the content hash of
what it computes: submitting the same thing twice returns the existing job (or its finished
result), never a second computation. Every state change is one `BEGIN IMMEDIATE` transaction,
so a job is claimed by exactly one worker, and a process killed at any point leaves each job
as it was before or after its last change. Payloads are plain data (spec dicts, run ids,
store-relative paths), so another execution backend (Ray) can run the same jobs with the
same handlers.

States: ``queued → running → done | failed | cancelled``, and ``running → cancelling →
cancelled`` on cancel. A running job whose heartbeat goes stale (its worker died) is queued
again by the next claim and resumes from its checkpoints, until `max_attempts` attempts have
been used; then it is failed, never retried forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from engine import paths
from engine.config import content_hash
from engine.jobs.records import (
    ACTIVE,
    CLAIMED,
    ENV,
    KINDS,
    MODULES_ENV,
    STATUSES,
    Job,
    JobError,
    JobKind,
    JobSettings,
    Prepared,
    job_kind,
    load_kind_modules,
    register_kind,
)
from engine.jobs.table import JobTable
from engine.limits import check_owner, check_request
from engine.settings import Limits, load_settings
from engine.store import Store, check_name

__all__ = [
    "ACTIVE",
    "CLAIMED",
    "ENV",
    "KINDS",
    "MODULES_ENV",
    "STATUSES",
    "Job",
    "JobError",
    "JobKind",
    "JobQueue",
    "JobSettings",
    "Prepared",
    "job_kind",
    "load_kind_modules",
    "register_kind",
]


class JobQueue:
    """Jobs and worker heartbeats in ``<root>/jobs`` (see `engine.jobs.table`); `root` is
    the store root."""

    def __init__(
        self, root: str | Path, settings: JobSettings | None = None, limits: Limits | None = None
    ):
        self.root = Path(root)
        self.settings = settings or JobSettings.from_env()
        cfg = load_settings()
        self.limits = cfg.limits if limits is None else limits
        self.data_folder = Path(cfg.data) if cfg.hosted else None  # runs read data only there
        self.table = JobTable(paths.jobs(self.root))
        self.store = Store(self.root)

    def close(self) -> None:
        self.table.close()
        self.store.close()

    def get(self, job_id: str) -> Job:
        job = self.table.load(job_id)
        if job is None:
            raise JobError(f"no job {job_id!r} in {self.root / 'jobs'}")
        return job

    def list(self) -> list[Job]:
        """Every job, newest first."""
        return self.table.newest_first()

    def log_file(self, job: Job) -> Path | None:
        return None if job.log_path is None else self.root / job.log_path

    # --- submitting and user actions ------------------------------------------------------
    def submit(self, kind: str, payload: dict[str, Any], owner: str = "") -> Job:
        """Validate and queue; the same computation submitted again returns the same job.

        A queued, running or done job is returned as it is (a done one only while its result
        is still in the store); a failed or cancelled one is queued again as a new attempt.
        A request over one of the operator's `limits` raises `LimitError` naming the limit.
        """
        k = job_kind(kind)
        prepared = k.prepare(self.store, payload)
        check_request(self.limits, kind, prepared.payload, self.data_folder)
        key = content_hash([kind, prepared.identity])
        job_id = f"{kind}-{key[:12]}"
        if prepared.run_id is None:
            log_path = paths.job_log(Path(), job_id).as_posix()
        else:
            log_path = paths.job_log(Path(), job_id, check_name(prepared.run_id)).as_posix()
        with self.table.transaction():
            old = self.table.load(job_id)
            if old is not None and (
                old.status in ACTIVE or (old.status == "done" and k.result_exists(self.store, old))
            ):
                return old
            check_owner(self.limits, owner, self._active_for(owner))
            job = Job(
                id=job_id,
                kind=kind,
                payload=prepared.payload,
                key=key,
                created=time.time(),
                run_id=prepared.run_id,
                log_path=log_path,
                owner=owner,
            )
            self.table.save(job, "back")
        return job

    def _active_for(self, owner: str) -> int:
        """How many queued or running jobs `owner` has (read inside the submit transaction).

        Counted only under a per-user limit: without one `check_owner` ignores the number."""
        return 0 if self.limits.max_queued_per_user is None else self.table.active_for(owner)

    def cancel(self, job_id: str) -> Job:
        """Queued: cancelled at once. Running: asked to stop (its worker checks every epoch)."""
        with self.table.transaction():
            job = self.get(job_id)
            if job.status == "queued":
                job.status, job.finished = "cancelled", time.time()
            elif job.status == "running":
                job.status = "cancelling"
            self.table.save(job)
        return job

    def delete(self, job_id: str) -> None:
        """Forget a job (its log and results stay in the store); a running one is stopped."""
        with self.table.transaction():
            self.get(job_id)
            self.table.delete(job_id)

    # --- workers ---------------------------------------------------------------------------
    def claim(self, worker_id: str, kinds: Collection[str] | None = None) -> Job | None:
        """Atomically take the first queued job (of `kinds`); first requeue stale ones."""
        now = time.time()
        if not self._claimable(now, kinds):  # a cheap read: no write lock while idle
            return None
        with self.table.transaction():
            self._recover(now)
            job = self.table.first_queued(kinds)
            if job is not None:
                self._take(job, worker_id, now)
            return job

    def _take(self, job: Job, worker_id: str, now: float) -> None:
        job.status, job.worker, job.attempts = "running", worker_id, job.attempts + 1
        job.started = job.heartbeat = now
        job.finished, job.progress = None, {}
        self.table.save(job)

    def claim_job(self, job_id: str, worker_id: str, takeover: str | None = None) -> Job | None:
        """Atomically take one job by id, for a backend that schedules jobs itself (Ray).

        Takes a queued job, or one still held by a worker whose id starts with `takeover`: an
        earlier attempt of the same task that the backend knows is dead (it retried the task),
        so the job resumes at once instead of waiting for its heartbeat to go stale. None when
        the job is not there to take (another worker has it, it ended, or it was deleted).
        """
        now = time.time()
        with self.table.transaction():
            job = self.table.load(job_id)
            if job is None:
                return None
            if job.status != "queued":
                held = job.status in CLAIMED and job.worker not in (None, worker_id)
                if not (takeover and held and job.worker.startswith(takeover)):
                    return None
                lost = f"worker {job.worker} was lost (its task was retried)"
                self.unregister_worker(job.worker)  # dead: it must not show as live
                if job.status == "cancelling":
                    job.status, job.finished = "cancelled", now
                elif job.attempts >= self.settings.max_attempts:
                    job.status, job.finished = "failed", now
                    job.error = f"{lost}; gave up after {job.attempts} attempts"
                    job.traceback = None
                else:
                    job.error = f"{lost}; resumed"
                if job.status != "running":
                    job.worker = None
                    self.table.save(job)
                    return None
            self._take(job, worker_id, now)
            return job

    def queued(self) -> list[tuple[str, str]]:
        """(id, kind) of the queued jobs in claim order: a cheap read for dispatchers."""
        return self.table.queued()

    def recover(self) -> None:
        """Requeue jobs whose worker stopped beating (claims do it too; a backend that only
        takes jobs by id calls this instead)."""
        with self.table.transaction():
            self._recover(time.time())

    def _claimable(self, now: float, kinds: Collection[str] | None) -> bool:
        """A queued job (of `kinds`) or a stale claimed one? Two indexed reads."""
        before = now - self.settings.heartbeat_timeout
        return self.table.any_queued(kinds) or bool(self.table.stale(before, limit=1))

    def _recover(self, now: float) -> None:
        """Requeue (or fail, or finish cancelling) jobs whose worker stopped beating."""
        for job in self.table.stale(now - self.settings.heartbeat_timeout):
            silent = f"worker {job.worker} stopped responding (no heartbeat for "
            silent += f"{self.settings.heartbeat_timeout:g} s)"
            if job.status == "cancelling":
                job.status, job.finished = "cancelled", now
            elif job.attempts >= self.settings.max_attempts:
                job.status, job.finished = "failed", now
                job.error = f"{silent}; gave up after {job.attempts} attempts"
                job.traceback = None
            else:
                job.status, job.error = "queued", f"{silent}; requeued"
            job.worker = None
            self.table.save(job, "front")  # resume before new work
        self.table.drop_workers(before=now - self.settings.heartbeat_timeout)

    def _update(self, job_id: str, worker_id: str, change: Callable[[Job], None]) -> Job | None:
        """Apply `change` to a job this worker holds; None when the worker lost it."""
        with self.table.transaction():
            job = self.table.load(job_id)
            if job is None or job.worker != worker_id or job.status not in CLAIMED:
                return None
            change(job)
            self.table.save(job, "front" if job.status == "queued" else None)  # a retry goes first
            return job

    def heartbeat(self, job_id: str, worker_id: str, progress: dict | None = None) -> str:
        """Refresh a held job's heartbeat (and merge `progress`); return its status.

        "lost" means the job was deleted or handed to another worker: stop working on it.
        """

        def beat(job: Job) -> None:
            job.heartbeat = time.time()
            if progress:
                job.progress = {**job.progress, **progress}

        job = self._update(job_id, worker_id, beat)
        return "lost" if job is None else job.status

    def progress(self, job_id: str, worker_id: str, **fields: Any) -> str:
        return self.heartbeat(job_id, worker_id, fields)

    def status_for(self, job_id: str, worker_id: str) -> str:
        """A held job's status as its worker sees it (a read, no write)."""
        job = self.table.load(job_id)
        if job is None or job.worker != worker_id or job.status not in CLAIMED:
            return "lost"
        return job.status

    def finish(
        self, job_id: str, worker_id: str, result: dict | None = None, progress: dict | None = None
    ) -> Job | None:
        def done(job: Job) -> None:
            job.status, job.finished, job.result = "done", time.time(), result
            job.error = job.traceback = None
            job.progress = {**job.progress, **(progress or {})}

        return self._update(job_id, worker_id, done)

    def fail(
        self, job_id: str, worker_id: str, error: str, traceback: str, retry: bool = True
    ) -> Job | None:
        """Record an error; queue the job again while `retry` and attempts remain."""

        def failed(job: Job) -> None:
            job.error, job.traceback = error, traceback
            if retry and job.attempts < self.settings.max_attempts:
                job.status, job.worker = "queued", None
            else:
                job.status, job.finished = "failed", time.time()

        return self._update(job_id, worker_id, failed)

    def mark_cancelled(self, job_id: str, worker_id: str) -> Job | None:
        def cancelled(job: Job) -> None:
            job.status, job.finished = "cancelled", time.time()

        return self._update(job_id, worker_id, cancelled)

    def release(self, job_id: str, worker_id: str) -> Job | None:
        """Give a job back unfinished (its worker is stopping); the attempt does not count."""

        def back(job: Job) -> None:
            if job.status == "cancelling":
                job.status, job.finished = "cancelled", time.time()
            else:
                job.status, job.attempts = "queued", max(job.attempts - 1, 0)
            job.worker = None

        return self._update(job_id, worker_id, back)

    # --- worker liveness -------------------------------------------------------------------
    def worker_heartbeat(self, worker_id: str, **info: Any) -> None:
        """Record that a worker is alive (with its pid, device, current job...)."""
        self.table.put_worker(worker_id, {**info, "worker_id": worker_id, "heartbeat": time.time()})

    def unregister_worker(self, worker_id: str) -> None:
        self.table.drop_workers(worker_id)

    def live_workers(self) -> list[dict[str, Any]]:
        """Workers whose heartbeat is fresh, for the app's status line."""
        return self.table.workers_since(time.time() - self.settings.heartbeat_timeout)


# Importing the built-in kinds registers them; they need `register_kind` (engine.jobs.records).
import engine.jobs.kinds  # noqa: E402
import engine.jobs.report  # noqa: E402, F401
