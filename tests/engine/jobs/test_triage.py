"""The one triage function: how each early end of an attempt leaves a job."""

import pytest

from engine.config import SpecError
from engine.jobs.records import Job
from engine.jobs.triage import Ending, WorkerStop, ending_of, triage
from engine.train import Cancelled

MAX = 3


def held(attempts=1, status="running"):
    return Job(id="j", kind="k", payload={}, key="x", status=status, attempts=attempts)


@pytest.mark.parametrize(
    ("ending", "attempts", "status", "note"),
    [
        (Ending("error", "RuntimeError: boom", retry=True), 1, "queued", "RuntimeError: boom"),
        (Ending("error", "RuntimeError: boom", retry=True), MAX, "failed", "RuntimeError: boom"),
        (Ending("error", "SpecError: bad", retry=False), 1, "failed", "SpecError: bad"),
        (Ending.lost("worker w stopped responding"), 1, "queued", "; requeued"),
        (Ending.lost("worker w was lost", resume=True), 1, "running", "; resumed"),
        (Ending.lost("worker w was lost", resume=True), MAX, "failed", "gave up after 3"),
        (Ending.lost("worker w stopped responding"), MAX, "failed", "gave up after 3"),
    ],
)
def test_errors_and_lost_workers_retry_until_attempts_run_out(ending, attempts, status, note):
    verdict = triage(held(attempts), ending, MAX)
    assert verdict.status == status and note in verdict.error
    assert verdict.ended == (status == "failed") and not verdict.refund
    # a failed job names the worker its error happened in; a dead worker's is forgotten
    assert verdict.keeps_worker == (status == "failed" and ending.what == "error")


def test_a_stopping_worker_gives_the_job_back_without_using_an_attempt():
    verdict = triage(held(MAX), Ending("stop"), MAX)
    assert (verdict.status, verdict.refund, verdict.error) == ("queued", True, None)


@pytest.mark.parametrize(
    "ending", [Ending("stop"), Ending("error", "RuntimeError: x"), Ending.lost("gone")]
)
def test_a_job_asked_to_cancel_ends_cancelled_whatever_stopped_it(ending):
    verdict = triage(held(1, status="cancelling"), ending, MAX)
    assert verdict.status == "cancelled" and verdict.ended and not verdict.refund


def test_exceptions_are_classified_once_for_every_backend():
    assert ending_of(Cancelled("stop")).what == "cancel"
    assert ending_of(WorkerStop("SIGTERM")).what == "stop"
    assert ending_of(KeyboardInterrupt()).what == "stop"
    refused = ending_of(SpecError("lr", "must be > 0"), "tb")
    assert (refused.what, refused.retry, refused.traceback) == ("error", False, "tb")
    flaky = ending_of(RuntimeError("out of memory\nmore detail"))
    assert (flaky.retry, flaky.reason) == (True, "RuntimeError: out of memory")
