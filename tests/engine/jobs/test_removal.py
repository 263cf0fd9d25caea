"""Deleting a run with its jobs: `delete_run` and `python -m engine delete`."""

import pytest

from engine.cli import main
from engine.imp import run_imp
from engine.jobs.queue import ENV, JobError, JobQueue
from engine.jobs.removal import delete_run
from engine.jobs.triage import Ending
from engine.store import Store, StoreError
from tests.engine.jobkinds import small_spec


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A store with one trained run, its done run job and a queued analysis job."""
    monkeypatch.setenv(ENV["poll_interval"], "0.01")
    monkeypatch.setenv(ENV["heartbeat_timeout"], "0.3")
    spec = small_spec(levels=1, length="1ep")
    run_imp(spec, Store(tmp_path), "cpu")
    queue = JobQueue(tmp_path)
    run = queue.submit("run", spec.to_dict())
    queue.claim("w", kinds=("run",))
    queue.finish(run.id, "w", {})
    analysis = queue.submit("analysis", {"run_id": spec.run_id, "what": "distances"})
    other = queue.submit("test_record", {"n": 1})  # not the run's: stays
    yield queue, spec.run_id, analysis, other
    queue.close()


def test_queued_jobs_go_with_the_run_and_what_is_left_is_nothing(trained):
    queue, run_id, analysis, other = trained
    run = next(j for j in queue.list() if j.kind == "run")
    gone = delete_run(queue, run_id)
    assert gone.files and sorted(gone.jobs) == sorted([analysis.id, run.id])
    assert not queue.store.has_run(run_id) and not queue.store.run_path(run_id).exists()
    assert queue.store.index.raw_record(run_id) is None
    assert [j.id for j in queue.list()] == [other.id]
    assert list((queue.root / "trash").iterdir()) == []
    with pytest.raises(StoreError, match="no run"):
        delete_run(queue, run_id)


def test_a_running_job_is_refused_then_cancelled_and_waited_for(trained):
    queue, run_id, analysis, _ = trained
    queue.claim("w", kinds=("analysis",))
    with pytest.raises(JobError, match=f"running jobs: {analysis.id} \\(running\\)"):
        delete_run(queue, run_id)
    assert queue.store.has_run(run_id) and len(queue.list()) == 3  # nothing removed
    queue.worker_heartbeat("w")
    with pytest.raises(JobError, match="still stopping"):
        delete_run(queue, run_id, force=True, wait_s=0.1)
    assert queue.get(analysis.id).status == "cancelling" and queue.store.has_run(run_id)
    assert queue.heartbeat(analysis.id, "w") == "cancelling"  # the worker sees the cancel
    queue.settle(analysis.id, "w", Ending("cancel"))  # and stops at the end of its epoch
    assert len(delete_run(queue, run_id, force=True).jobs) == 2
    assert not queue.store.has_run(run_id)


def test_a_dead_workers_job_ends_cancelled_and_the_run_goes(trained):
    queue, run_id, _, _ = trained
    queue.claim("dead", kinds=("analysis",))  # never beats again
    assert len(delete_run(queue, run_id, force=True).jobs) == 2


def test_cli_delete_refuses_without_force_and_still_forgets_one_job(trained, capsys):
    queue, run_id, analysis, other = trained
    queue.claim("w", kinds=("analysis",))
    store = ["--store", str(queue.root)]
    assert main(["delete", run_id, *store]) == 2
    assert "cancel them first" in capsys.readouterr().err and queue.store.has_run(run_id)
    assert main(["delete", other.id, *store]) == 0  # a job id: that job only
    assert f"job {other.id} deleted" in capsys.readouterr().out
    queue.settle(analysis.id, "w", Ending("cancel"))
    assert main(["delete", run_id, *store]) == 0
    assert f"run {run_id} deleted: its folder and 2 job(s)" in capsys.readouterr().out
    assert queue.list() == [] and not queue.store.has_run(run_id)
