"""Follow-ups (`then`): a run job's analyses are queued by the queue when it is done and run
by a worker, with no app; the old analyse_after.json is adopted once."""

import json

import pytest

from engine.analysis import jobs as analysis_jobs
from engine.analysis import registry
from engine.imp import run_imp
from engine.jobs.follow_ups import adopt_analyse_after, first_look
from engine.jobs.queue import ENV, JobQueue
from engine.jobs.records import follow_up
from engine.jobs.triage import Ending
from engine.jobs.worker import run_worker
from engine.presets import preset
from engine.store import Store
from tests.engine.jobkinds import small_spec


@pytest.fixture
def queue(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV["poll_interval"], "0.01")
    q = JobQueue(tmp_path)
    yield q
    q.close()


def test_the_first_look_asks_for_every_analysis_that_trains_nothing():
    looks = {f["payload"]["what"]: f["payload"] for f in first_look(preset("demo"))}
    assert sorted(looks) == sorted(a.name for a in registry.all() if not a.trains)
    assert looks["landscape"]["levels"] == "5"  # the demo's last level only
    assert {f["kind"] for f in first_look(preset("demo"))} == {"analysis"}


def test_a_finished_run_job_queues_its_follow_ups_and_a_worker_runs_them(queue):
    spec = small_spec(levels=1, length="1ep")
    distances = {"run_id": spec.run_id, "what": "distances"}
    unsuitable = {"run_id": spec.run_id, "what": "landscape", "levels": "7"}  # no level 7
    then = [follow_up("analysis", distances), follow_up("analysis", unsuitable)]
    run = queue.submit("run", spec.to_dict(), then=then)
    assert [j.kind for j in queue.list()] == ["run"]  # nothing else before it is trained
    assert run_worker(queue.root, "cpu", max_jobs=2, worker_id="w1") == 2
    done = queue.get(run.id)
    queued, skipped = done.result["follow_ups"]
    assert done.status == "done" and skipped.startswith("not queued: landscape")
    analysis = queue.get(queued)
    assert (analysis.kind, analysis.status, analysis.payload["what"]) == (
        "analysis",
        "done",
        "distances",
    )
    assert analysis_jobs.is_stored(queue.store, analysis.payload)
    assert "follow-up: " + queued in queue.log_file(done).read_text()


def test_follow_ups_join_an_active_job_and_go_at_once_for_a_done_one(queue):
    spec = small_spec(levels=1, length="1ep")
    first = [follow_up("analysis", {"run_id": spec.run_id, "what": "distances"})]
    job = queue.submit("run", spec.to_dict(), then=first)
    look = first_look(spec)
    again = queue.submit("run", spec.to_dict(), then=look)  # e.g. a second Launch click
    assert again.id == job.id and queue.get(job.id).then == look  # distances only once
    run_imp(spec, Store(queue.root), "cpu")
    queue.claim("w")
    queue.finish(job.id, "w", {})
    whats = sorted(j.payload["what"] for j in queue.list() if j.kind == "analysis")
    assert whats == sorted(f["payload"]["what"] for f in look)
    assert (
        queue.get(next(j.id for j in queue.list() if j.payload.get("what") == "spectrum")).payload[
            "k"
        ]
        == 20
    )
    for j in queue.list():
        if j.kind == "analysis":
            queue.delete(j.id)
    queue.submit("run", spec.to_dict(), then=first)  # done: its follow-up is queued now
    assert [j.payload["what"] for j in queue.list() if j.kind == "analysis"] == ["distances"]


def test_an_old_analyse_after_list_becomes_follow_ups_once(queue):
    spec = small_spec(levels=1, length="1ep")
    active = queue.submit("run", spec.to_dict(), owner="ann")
    gone = small_spec(seed=5, levels=1, length="1ep")
    failed = queue.submit("run", gone.to_dict())
    queue.claim("w", kinds=("run",))
    queue.claim("w", kinds=("run",))
    queue.settle(failed.id, "w", Ending("error", "RuntimeError: x", "tb", retry=False))
    path = queue.root / "app" / "analyse_after.json"
    path.parent.mkdir()
    path.write_text(json.dumps([spec.run_id, gone.run_id]))
    assert adopt_analyse_after(queue) == [spec.run_id]
    assert queue.get(active.id).then == first_look(spec) and queue.get(failed.id).then == []
    assert not path.exists() and adopt_analyse_after(queue) == []
