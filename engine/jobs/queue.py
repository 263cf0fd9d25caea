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
been used; then it is failed, never retried forever (`engine.jobs.triage` decides every such
case). A job may carry follow-ups (`then`): requests the queue submits, as the job's owner, in
the same transaction that marks the job done, so they need no browser or client to be open.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from engine import paths
from engine.config import SpecError, content_hash
from engine.jobs.kinds import load_kinds
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
    check_then,
    job_kind,
    register_kind,
)
from engine.jobs.table import JobTable
from engine.jobs.triage import Ending, Verdict, triage
from engine.limits import check_owner, check_request
from engine.settings import Limits, load_settings
from engine.store import Store, StoreError, check_name

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
        load_kinds()  # every kind this queue may be asked to validate or run

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
    def submit(
        self, kind: str, payload: dict[str, Any], owner: str = "", then: Sequence[dict] = ()
    ) -> Job:
        """Validate and queue; the same computation submitted again returns the same job.

        A queued, running or done job is returned as it is (a done one only while its result
        is still in the store); a failed or cancelled one is queued again as a new attempt.
        A request over one of the operator's `limits` raises `LimitError` naming the limit.
        `then` lists follow-ups (`records.follow_up`) submitted once the job is done: added to
        an active job's, or submitted at once when the job is done already.
        """
        then = check_then(list(then))
        job = self._ticket(kind, payload, owner)
        with self.table.transaction():
            job = self._enqueue(job, then, per_user=True)
        if job.status == "done" and then:
            self._follow_up(job, then)
        return job

    def _ticket(self, kind: str, payload: dict[str, Any], owner: str) -> Job:
        """A new job record for a validated payload (read-only: nothing is stored yet)."""
        k = job_kind(kind)
        prepared = k.prepare(self.store, payload)
        check_request(self.limits, kind, prepared.payload, self.data_folder)
        key = content_hash([kind, prepared.identity])
        job_id = f"{kind}-{key[:12]}"
        if prepared.run_id is None:
            log_path = paths.job_log(Path(), job_id).as_posix()
        else:
            log_path = paths.job_log(Path(), job_id, check_name(prepared.run_id)).as_posix()
        return Job(
            id=job_id,
            kind=kind,
            payload=prepared.payload,
            key=key,
            created=time.time(),
            run_id=prepared.run_id,
            log_path=log_path,
            owner=owner,
        )

    def _enqueue(self, job: Job, then: list[dict], per_user: bool) -> Job:
        """Store `job` unless the same one is active or done (inside a transaction)."""
        old = self.table.load(job.id)
        merged = (old.then if old else []) + [t for t in then if not old or t not in old.then]
        if old is not None and (
            old.status in ACTIVE
            or (old.status == "done" and job_kind(old.kind).result_exists(self.store, old))
        ):
            if old.status in ACTIVE and merged != old.then:
                old.then = merged
                self.table.save(old)
            return old
        if per_user:
            check_owner(self.limits, job.owner, self._active_for(job.owner))
        job.then = merged
        self.table.save(job, "back")
        return job

    def _follow_up(self, job: Job, then: list[dict]) -> None:
        """Queue `then` now: `job` is done already."""
        tickets, _ = self._tickets(then, job.owner)
        with self.table.transaction():
            for ticket in tickets:
                self._enqueue(ticket, [], per_user=True)

    def _tickets(self, then: list[dict], owner: str) -> tuple[list[Job], list[str]]:
        """The follow-ups that validate, as job records, and a note per entry: its job id,
        or why it is not queued (e.g. no level of the run suits the analysis)."""
        tickets, notes = [], []
        for item in then:
            try:
                tickets.append(self._ticket(item["kind"], item["payload"], owner))
                notes.append(tickets[-1].id)
            except (SpecError, StoreError) as e:
                notes.append(f"not queued: {item['payload'].get('what', item['kind'])}: {e}")
        return tickets, notes

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
                self.unregister_worker(job.worker)  # dead: it must not show as live
                lost = Ending.lost(f"worker {job.worker} was lost (its task was retried)", True)
                verdict = triage(job, lost, self.settings.max_attempts)
                _apply(job, verdict, now)
                if verdict.status != "running":
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
            _apply(job, triage(job, Ending.lost(silent), self.settings.max_attempts), now)
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
        """Mark a held job done; its follow-ups (`then`) are queued in the same transaction,
        and `result["follow_ups"]` says what became of each (a job id, or why not)."""
        held = self.table.load(job_id)
        tickets, notes = [], []  # validated outside the lock: an analysis reads the stored run
        if held is not None and held.worker == worker_id and held.then:
            tickets, notes = self._tickets(held.then, held.owner)

        def done(job: Job) -> None:
            job.status, job.finished = "done", time.time()
            job.result = {**(result or {}), "follow_ups": notes} if notes else result
            job.error = job.traceback = None
            job.progress = {**job.progress, **(progress or {})}

        with self.table.transaction():
            job = self._update(job_id, worker_id, done)
            for ticket in tickets if job is not None else []:
                self._enqueue(ticket, [], per_user=False)  # admitted with the job itself
        return job

    def settle(self, job_id: str, worker_id: str, ending: Ending) -> Job | None:
        """End a held job's attempt as `triage` decides (fail, cancel or queue it again)."""
        return self._update(
            job_id,
            worker_id,
            lambda job: _apply(job, triage(job, ending, self.settings.max_attempts), time.time()),
        )

    # --- worker liveness -------------------------------------------------------------------
    def worker_heartbeat(self, worker_id: str, **info: Any) -> None:
        """Record that a worker is alive (with its pid, device, current job...)."""
        self.table.put_worker(worker_id, {**info, "worker_id": worker_id, "heartbeat": time.time()})

    def unregister_worker(self, worker_id: str) -> None:
        self.table.drop_workers(worker_id)

    def live_workers(self) -> list[dict[str, Any]]:
        """Workers whose heartbeat is fresh, for the app's status line."""
        return self.table.workers_since(time.time() - self.settings.heartbeat_timeout)


def _apply(job: Job, verdict: Verdict, now: float) -> None:
    """Write a triage verdict into a job record."""
    job.status = verdict.status
    if verdict.error is not None:
        job.error, job.traceback = verdict.error, verdict.traceback
    if verdict.refund:
        job.attempts = max(job.attempts - 1, 0)
    if verdict.ended:
        job.finished = now
    if verdict.status != "running" and not verdict.keeps_worker:
        job.worker = None
