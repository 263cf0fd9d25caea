"""The job queue: plain-data jobs on diskcache, shared safely by any number of worker processes.

Jobs live in ``<store root>/jobs`` (a diskcache beside the runs), so the app, the CLI and the
workers need nothing but the store folder. A job's id comes from the content hash of what it
computes: submitting the same thing twice returns the existing job (or its finished result),
never a second computation. Every state change is one SQLite transaction, so a job is claimed
by exactly one worker. Payloads are plain data (spec dicts, run ids, store-relative paths), so
another execution backend (Ray) can run the same jobs with the same handlers.

States: ``queued → running → done | failed | cancelled``, and ``running → cancelling →
cancelled`` on cancel. A running job whose heartbeat goes stale (its worker died) is queued
again by the next claim and resumes from its checkpoints, until `max_attempts` attempts have
been used; then it is failed, never retried forever.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import diskcache

from engine.config import SpecError, content_hash
from engine.limits import check_owner, check_request
from engine.settings import Limits, load_settings
from engine.store import Store, StoreError, check_name

STATUSES = ("queued", "running", "cancelling", "cancelled", "done", "failed")
ACTIVE = ("queued", "running", "cancelling")
CLAIMED = ("running", "cancelling")


class JobError(StoreError):
    """A job is missing or cannot change state as asked; the message says which and why."""


@dataclass
class Job:
    """One unit of work, as stored: plain data only."""

    id: str
    kind: str
    payload: dict[str, Any]
    key: str
    status: str = "queued"
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    worker: str | None = None
    attempts: int = 0
    progress: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    run_id: str | None = None
    log_path: str | None = None  # relative to the store root; see `JobQueue.log_file`
    owner: str = ""
    heartbeat: float | None = None
    result: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# --- settings -------------------------------------------------------------------------------
ENV = {
    "heartbeat_timeout": "IMP_LAB_HEARTBEAT_TIMEOUT",
    "max_attempts": "IMP_LAB_MAX_ATTEMPTS",
    "poll_interval": "IMP_LAB_POLL_INTERVAL",
}


@dataclass(frozen=True)
class JobSettings:
    """Queue timing; each field can be set by the environment variable named in `ENV`."""

    heartbeat_timeout: float = 30.0  # seconds of silence before a running job is requeued
    max_attempts: int = 3  # attempts per submission (worker deaths and errors both count)
    poll_interval: float = 0.25  # seconds an idle worker waits between claims

    def __post_init__(self) -> None:
        for name, lo in (("heartbeat_timeout", 0.1), ("max_attempts", 1), ("poll_interval", 0.001)):
            if not getattr(self, name) >= lo:  # also refuses NaN
                raise SpecError(name, f"{getattr(self, name)!r} is too small; use at least {lo}")

    @property
    def beat_interval(self) -> float:
        """How often a worker writes its heartbeat and progress (at least once a second)."""
        return min(0.5, self.heartbeat_timeout / 4)

    @classmethod
    def from_env(cls, **overrides: Any) -> JobSettings:
        """Defaults, then environment variables, then the overrides that are not None."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            text = os.environ.get(ENV[f.name])
            if text is not None and text.strip():
                try:
                    values[f.name] = type(f.default)(text)
                except ValueError:
                    what = "a whole number" if isinstance(f.default, int) else "a number"
                    raise SpecError(ENV[f.name], f"{text!r} is not {what}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# --- job kinds ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    """A validated payload, what its key hashes, and the run it belongs to (if any)."""

    payload: dict[str, Any]
    identity: Any
    run_id: str | None = None


def _always(store: Store, job: Job) -> bool:
    return True


@dataclass(frozen=True)
class JobKind:
    """How to validate (at submit) and execute (in a worker) one kind of job.

    `execute(job, store, device, reporter)` returns a small JSON-able result. `result_exists`
    says whether a finished job's output is still in the store (a deleted run is recomputed).
    """

    name: str
    prepare: Callable[[Store, dict[str, Any]], Prepared]
    execute: Callable[..., dict[str, Any] | None]
    result_exists: Callable[[Store, Job], bool] = _always


KINDS: dict[str, JobKind] = {}
MODULES_ENV = "IMP_LAB_JOB_MODULES"  # extra modules (comma-separated) that register kinds


def register_kind(kind: JobKind) -> JobKind:
    if kind.name in KINDS:
        raise ValueError(f"job kind {kind.name!r} is registered twice")
    check_name(kind.name, "job kind")
    KINDS[kind.name] = kind
    return kind


def load_kind_modules() -> None:
    """Import the modules named in $IMP_LAB_JOB_MODULES (plugins, test-only kinds)."""
    for name in os.environ.get(MODULES_ENV, "").split(","):
        if name.strip():
            importlib.import_module(name.strip())


def job_kind(name: str) -> JobKind:
    if name not in KINDS:
        raise SpecError("kind", f"unknown job kind {name!r}; choose one of: {', '.join(KINDS)}")
    return KINDS[name]


# --- the queue ------------------------------------------------------------------------------
class JobQueue:
    """Jobs and worker heartbeats in ``<root>/jobs``; `root` is the store root.

    Keys: ``("job", id)`` a job's record; ``"queued"`` ``[[id, kind], ...]`` in claim order;
    ``"claimed"`` ids of running or cancelling jobs; ``"workers"`` ids of registered workers;
    ``("worker", id)`` a worker's liveness record. The lists keep claims and recovery scans
    short however many finished jobs are kept.
    """

    def __init__(
        self, root: str | Path, settings: JobSettings | None = None, limits: Limits | None = None
    ):
        self.root = Path(root)
        self.settings = settings or JobSettings.from_env()
        cfg = load_settings()
        self.limits = cfg.limits if limits is None else limits
        self.data_folder = Path(cfg.data) if cfg.hosted else None  # runs read data only there
        # Never evict: a job record is data, not a cache entry.
        self.cache = diskcache.Cache(str(self.root / "jobs"), eviction_policy="none")
        self.store = Store(self.root)

    def close(self) -> None:
        self.cache.close()
        self.store.close()

    # --- records --------------------------------------------------------------------------
    def _load(self, job_id: str) -> Job | None:
        data = self.cache.get(("job", job_id))
        return None if data is None else Job.from_dict(data)

    def _save(self, job: Job) -> None:
        self.cache[("job", job.id)] = job.to_dict()

    def _place(self, job_id: str, status: str | None, kind: str = "", front: bool = False):
        """Put a job in the queued or claimed list as its new `status` says (None: neither)."""
        queued = [e for e in self.cache.get("queued", []) if e[0] != job_id]
        claimed = [i for i in self.cache.get("claimed", []) if i != job_id]
        if status == "queued":
            queued = [[job_id, kind], *queued] if front else [*queued, [job_id, kind]]
        elif status in CLAIMED:
            claimed.append(job_id)
        self.cache["queued"], self.cache["claimed"] = queued, claimed

    def _claimed(self) -> list[Job]:
        return [j for j in map(self._load, self.cache.get("claimed", [])) if j is not None]

    def get(self, job_id: str) -> Job:
        job = self._load(job_id)
        if job is None:
            raise JobError(f"no job {job_id!r} in {self.root / 'jobs'}")
        return job

    def list(self) -> list[Job]:
        """Every job, newest first."""
        records = [
            self.cache.get(k)
            for k in list(self.cache.iterkeys())
            if isinstance(k, tuple) and k[0] == "job"
        ]
        jobs = [Job.from_dict(r) for r in records if r is not None]  # None: deleted meanwhile
        return sorted(jobs, key=lambda j: j.created, reverse=True)

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
            log = f"logs/{job_id}.log"
        else:
            log = f"runs/{check_name(prepared.run_id)}/logs/{job_id}.log"
        with self.cache.transact():
            old = self._load(job_id)
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
                log_path=log,
                owner=owner,
            )
            self._save(job)
            self._place(job_id, "queued", kind)
        return job

    def _active_for(self, owner: str) -> int:
        """How many queued or running jobs `owner` has (read inside the submit transaction)."""
        ids = [e[0] for e in self.cache.get("queued", [])] + self.cache.get("claimed", [])
        return sum(1 for j in map(self._load, ids) if j is not None and j.owner == owner)

    def cancel(self, job_id: str) -> Job:
        """Queued: cancelled at once. Running: asked to stop (its worker checks every epoch)."""
        with self.cache.transact():
            job = self.get(job_id)
            if job.status == "queued":
                job.status, job.finished = "cancelled", time.time()
                self._place(job_id, None)
            elif job.status == "running":
                job.status = "cancelling"
            self._save(job)
        return job

    def delete(self, job_id: str) -> None:
        """Forget a job (its log and results stay in the store); a running one is stopped."""
        with self.cache.transact():
            self.get(job_id)
            del self.cache[("job", job_id)]
            self._place(job_id, None)

    # --- workers ---------------------------------------------------------------------------
    def claim(self, worker_id: str, kinds: Collection[str] | None = None) -> Job | None:
        """Atomically take the first queued job (of `kinds`); first requeue stale ones."""
        now = time.time()
        if not self._claimable(now, kinds):  # a cheap read: no write lock while idle
            return None
        with self.cache.transact():
            self._recover(now)
            for job_id, kind in self.cache.get("queued", []):
                if kinds is not None and kind not in kinds:
                    continue
                job = self.get(job_id)
                self._take(job, worker_id, now)
                return job
        return None

    def _take(self, job: Job, worker_id: str, now: float) -> None:
        job.status, job.worker, job.attempts = "running", worker_id, job.attempts + 1
        job.started = job.heartbeat = now
        job.finished, job.progress = None, {}
        self._save(job)
        self._place(job.id, job.status)

    def claim_job(self, job_id: str, worker_id: str, takeover: str | None = None) -> Job | None:
        """Atomically take one job by id, for a backend that schedules jobs itself (Ray).

        Takes a queued job, or one still held by a worker whose id starts with `takeover`: an
        earlier attempt of the same task that the backend knows is dead (it retried the task),
        so the job resumes at once instead of waiting for its heartbeat to go stale. None when
        the job is not there to take (another worker has it, it ended, or it was deleted).
        """
        now = time.time()
        with self.cache.transact():
            job = self._load(job_id)
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
                    self._save(job)
                    self._place(job_id, None)
                    return None
            self._take(job, worker_id, now)
            return job

    def queued(self) -> list[tuple[str, str]]:
        """(id, kind) of the queued jobs in claim order: a cheap read for dispatchers."""
        return [(job_id, kind) for job_id, kind in self.cache.get("queued", [])]

    def recover(self) -> None:
        """Requeue jobs whose worker stopped beating (claims do it too; a backend that only
        takes jobs by id calls this instead)."""
        with self.cache.transact():
            self._recover(time.time())

    def _stale(self, job: Job, now: float) -> bool:
        beat = job.heartbeat or job.started or 0.0
        return job.status in CLAIMED and now - beat > self.settings.heartbeat_timeout

    def _claimable(self, now: float, kinds: Collection[str] | None) -> bool:
        if any(kinds is None or kind in kinds for _, kind in self.cache.get("queued", [])):
            return True
        return any(self._stale(job, now) for job in self._claimed())

    def _recover(self, now: float) -> None:
        """Requeue (or fail, or finish cancelling) jobs whose worker stopped beating."""
        for job in self._claimed():
            if not self._stale(job, now):
                continue
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
            self._save(job)
            self._place(job.id, job.status, job.kind, front=True)  # resume before new work
        for worker_id in self.cache.get("workers", []):
            rec = self.cache.get(("worker", worker_id))
            if rec is None or now - rec["heartbeat"] > self.settings.heartbeat_timeout:
                self.unregister_worker(worker_id)

    def _update(self, job_id: str, worker_id: str, change: Callable[[Job], None]) -> Job | None:
        """Apply `change` to a job this worker holds; None when the worker lost it."""
        with self.cache.transact():
            job = self._load(job_id)
            if job is None or job.worker != worker_id or job.status not in CLAIMED:
                return None
            status = job.status
            change(job)
            self._save(job)
            if job.status != status:
                self._place(job_id, job.status, job.kind, front=True)
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
        job = self._load(job_id)
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
        self.cache[("worker", worker_id)] = {
            **info,
            "worker_id": worker_id,
            "heartbeat": time.time(),
        }
        if worker_id not in self.cache.get("workers", []):
            with self.cache.transact():
                ids = self.cache.get("workers", [])
                if worker_id not in ids:
                    self.cache["workers"] = [*ids, worker_id]

    def unregister_worker(self, worker_id: str) -> None:
        with self.cache.transact():
            self.cache.pop(("worker", worker_id), None)
            self.cache["workers"] = [i for i in self.cache.get("workers", []) if i != worker_id]

    def live_workers(self) -> list[dict[str, Any]]:
        """Workers whose heartbeat is fresh, for the app's status line."""
        now, out = time.time(), []
        for worker_id in self.cache.get("workers", []):
            rec = self.cache.get(("worker", worker_id))
            if rec and now - rec["heartbeat"] <= self.settings.heartbeat_timeout:
                out.append(rec)
        return sorted(out, key=lambda r: r["worker_id"])


# Importing the built-in kinds registers them; they need `register_kind` defined above.
from engine import job_kinds, reproduce  # noqa: E402, F401
