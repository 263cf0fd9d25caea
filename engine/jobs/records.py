"""What a job is: its plain-data record, the queue's timing settings, and the job kinds.

A job kind says how to validate a payload (at submit) and how to execute it (in a worker);
kinds register themselves here when their module is imported (`engine.jobs.kinds.load_kinds`
imports them all). The queue that stores these records is `engine.jobs.queue.JobQueue`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.config import SpecError
from engine.settings_loader import load_section
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
    # Follow-ups ({"kind", "payload"}), submitted by the queue when this job is done.
    then: list[dict[str, Any]] = field(default_factory=list)

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
        """The environment, then imp-lab.toml's [jobs], then the defaults; then the overrides
        that are not None (`engine.settings_loader`)."""
        return load_section(cls, "jobs", ENV, **overrides)


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


def job_kind(name: str, field_path: str = "kind") -> JobKind:
    if name not in KINDS:
        choices = ", ".join(KINDS)
        raise SpecError(field_path, f"unknown job kind {name!r}; choose one of: {choices}")
    return KINDS[name]


def follow_up(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One entry of a job's `then`: a request the queue submits once the job is done."""
    return {"kind": kind, "payload": dict(payload)}


def check_then(then: Any) -> list[dict[str, Any]]:
    """`then` as stored: a list of `follow_up` entries of known kinds. The payloads are
    validated when they are submitted (an analysis needs its run trained first)."""
    if not isinstance(then, list | tuple):
        raise SpecError("then", "must be a list of {kind, payload} follow-up requests")
    out = []
    for i, item in enumerate(then):
        if not isinstance(item, dict) or not isinstance(item.get("payload"), dict):
            raise SpecError(f"then[{i}]", "must be {kind, payload} with a payload mapping")
        job_kind(item.get("kind"), f"then[{i}].kind")
        out.append(follow_up(item["kind"], item["payload"]))
    return out
