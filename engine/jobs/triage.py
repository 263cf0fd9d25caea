"""What becomes of a job whose attempt ended without a result: fail it, cancel it, or queue it
again. The one place that decides, for every way an attempt ends early:

- the job raised an error (in a local worker or a Ray task), `Ending.error`;
- its worker was lost: its heartbeat went stale, or Ray retried its task after the worker
  died (`Ending.lost`, with `resume` when the retry takes the job over at once);
- its worker is stopping (signal, or its parent died) and gives the job back, `Ending.stop`;
- it noticed a cancel and stopped, `Ending.cancel`.

The rules: a job asked to cancel ends cancelled, whatever else happened; a worker that stops
gives its job back without using up an attempt; an error another attempt cannot fix
(`NOT_RETRIED`: a bad spec, a damaged store, missing data) fails at once; anything else is
tried again until `max_attempts` attempts have been used, then fails, never loops forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import SpecError
from engine.data.errors import DataNotFoundError
from engine.jobs.records import Job
from engine.store import StoreError
from engine.train import Cancelled

# Errors that another attempt cannot fix: the job fails at once instead of retrying.
NOT_RETRIED = (SpecError, StoreError, DataNotFoundError)


class WorkerStop(BaseException):
    """The worker was asked to stop (signal, or its parent died): release the job and exit."""


@dataclass(frozen=True)
class Ending:
    """How an attempt ended: `what` is "error", "lost", "stop" or "cancel"."""

    what: str
    reason: str = ""  # one line: the error, or why the worker was lost
    traceback: str | None = None
    retry: bool = True  # for an error: whether another attempt could help
    resume: bool = False  # for a lost worker: the backend takes the job over at once

    @classmethod
    def error(cls, e: BaseException, traceback: str | None = None) -> Ending:
        """A job's own exception (`e` is the original one, also for a Ray task)."""
        first = (str(e).strip().splitlines() or [""])[0]
        return cls("error", f"{type(e).__name__}: {first}", traceback, retryable(e))

    @classmethod
    def lost(cls, reason: str, resume: bool = False) -> Ending:
        return cls("lost", reason, resume=resume)


def retryable(e: BaseException) -> bool:
    return not isinstance(e, NOT_RETRIED)


def ending_of(e: BaseException, traceback: str | None = None) -> Ending:
    """How an attempt that raised `e` ended: a cancel it noticed, a worker stop, or an error."""
    if isinstance(e, Cancelled):
        return Ending("cancel")
    if isinstance(e, WorkerStop | KeyboardInterrupt):
        return Ending("stop")
    return Ending.error(e, traceback)


@dataclass(frozen=True)
class Verdict:
    """The job's next state. "running" only for a lost job that a retry resumes at once."""

    status: str  # "queued", "running", "failed" or "cancelled"
    error: str | None  # what the job record says (None: keep what it says)
    traceback: str | None = None
    refund: bool = False  # the attempt does not count: the job did nothing wrong
    keeps_worker: bool = False  # the record keeps who ended it (its own error or cancel)

    @property
    def ended(self) -> bool:
        return self.status in ("failed", "cancelled")


def triage(job: Job, ending: Ending, max_attempts: int) -> Verdict:
    """The next state of `job` (as stored, attempts counted) after `ending`."""
    own = ending.what in ("cancel", "error")  # the job itself ended, in a live worker
    if ending.what == "cancel" or job.status == "cancelling":
        return Verdict("cancelled", ending.reason or None, ending.traceback, keeps_worker=own)
    if ending.what == "stop":
        return Verdict("queued", None, refund=True)
    if ending.what == "error":
        if ending.retry and job.attempts < max_attempts:
            return Verdict("queued", ending.reason, ending.traceback)
        return Verdict("failed", ending.reason, ending.traceback, keeps_worker=True)
    if ending.what != "lost":
        raise ValueError(f"unknown ending {ending.what!r}")
    if job.attempts >= max_attempts:
        return Verdict("failed", f"{ending.reason}; gave up after {job.attempts} attempts")
    if ending.resume:
        return Verdict("running", f"{ending.reason}; resumed")
    return Verdict("queued", f"{ending.reason}; requeued")
