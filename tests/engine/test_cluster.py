"""What a cluster backend needs from the queue and settings, without Ray: claiming a job by
id, taking it over from a dead attempt of the same task, backend settings, shared stores."""

import importlib.util
import json
import time

import pytest

from engine.cli import main
from engine.cluster import ClusterConfig, load_cluster_config, shared_store_path
from engine.config import SpecError
from engine.jobs.queue import ENV, JobQueue
from tests.engine.conftest import tiny_spec
from tests.engine.jobkinds import small_spec  # noqa: F401 - registers the test_* kinds


@pytest.fixture
def queue(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV["heartbeat_timeout"], "0.3")
    monkeypatch.setenv(ENV["max_attempts"], "2")
    q = JobQueue(tmp_path)
    yield q
    q.close()


def test_claim_by_id_takes_only_a_queued_job(queue):
    a, b = (queue.submit("test_record", {"n": n}) for n in (1, 2))
    assert queue.queued() == [(a.id, "test_record"), (b.id, "test_record")]
    got = queue.claim_job(b.id, "ray-t1-w1")
    assert (got.id, got.status, got.worker, got.attempts) == (b.id, "running", "ray-t1-w1", 1)
    assert queue.queued() == [(a.id, "test_record")]
    assert queue.claim_job(b.id, "ray-t2-w1") is None  # held by another task's worker
    assert queue.claim("local").id == a.id  # local workers and the backend share the queue
    assert queue.claim_job(a.id, "ray-t3-w1") is None
    assert queue.claim_job("run-nope", "ray-t4-w1") is None
    queue.finish(b.id, "ray-t1-w1", {"ok": True})
    assert queue.claim_job(b.id, "ray-t1-w2", takeover="ray-t1-") is None  # done stays done


def test_a_retried_task_takes_over_and_attempts_stay_bounded(queue):
    job = queue.submit("test_record", {"n": 1})
    queue.claim_job(job.id, "ray-t1-w1")
    queue.worker_heartbeat("ray-t1-w1", pid=1)
    assert queue.claim_job(job.id, "ray-t1-w2") is None  # no takeover asked: not taken
    again = queue.claim_job(job.id, "ray-t1-w2", takeover="ray-t1-")
    assert (again.worker, again.attempts, again.status) == ("ray-t1-w2", 2, "running")
    assert "ray-t1-w1 was lost" in again.error and "resumed" in again.error
    assert queue.heartbeat(job.id, "ray-t1-w1") == "lost"  # the old attempt cannot write
    assert queue.live_workers() == []  # nor show as a live worker
    assert [w["worker_id"] for w in queue.live_workers()] == []  # nor show as live
    assert queue.claim_job(job.id, "ray-t1-w3", takeover="ray-t1-") is None  # 2 of 2 used
    failed = queue.get(job.id)
    assert (failed.status, failed.worker) == ("failed", None)
    assert "gave up after 2 attempts" in failed.error
    assert [j.status for j in queue.list()] == ["failed"] and queue.queued() == []


def test_a_lost_cancelling_job_ends_cancelled(queue):
    job = queue.submit("test_record", {"n": 1})
    queue.claim_job(job.id, "ray-t1-w1")
    queue.cancel(job.id)
    assert queue.claim_job(job.id, "ray-t1-w2", takeover="ray-t1-") is None
    assert queue.get(job.id).status == "cancelled"


def test_recover_requeues_stale_jobs_without_claiming(queue):
    job = queue.submit("test_record", {"n": 1})
    queue.claim_job(job.id, "ray-t1-w1")
    queue.recover()
    assert queue.get(job.id).status == "running"  # heartbeat still fresh
    time.sleep(0.4)
    queue.recover()
    back = queue.get(job.id)
    assert (back.status, back.worker) == ("queued", None) and "stopped responding" in back.error
    assert queue.queued() == [(job.id, "test_record")]


def test_cluster_config_file_then_environment_then_flags(tmp_path, monkeypatch):
    for var in ("IMP_LAB_BACKEND", "IMP_LAB_RAY_ADDRESS", "IMP_LAB_RAY_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    assert load_cluster_config(tmp_path) == ClusterConfig()
    (tmp_path / "cluster.toml").write_text('backend = "ray"\naddress = "10.0.0.1:6379"\n')
    assert load_cluster_config(tmp_path) == ClusterConfig("ray", "10.0.0.1:6379", "auto")
    monkeypatch.setenv("IMP_LAB_RAY_ADDRESS", "auto")
    assert load_cluster_config(tmp_path).address == "auto"
    cfg = load_cluster_config(tmp_path, backend="local", address=None, device="cpu")
    assert cfg == ClusterConfig("local", "auto", "cpu")
    with pytest.raises(SpecError, match="backend: 'slurm'"):
        load_cluster_config(tmp_path, backend="slurm")
    (tmp_path / "cluster.toml").write_text('backnd = "ray"\n')
    with pytest.raises(SpecError, match=r"cluster\.toml\.backnd"):
        load_cluster_config(tmp_path)


def test_store_must_be_a_filesystem_path(tmp_path):
    assert shared_store_path(f"file://{tmp_path}") == tmp_path.resolve()
    assert shared_store_path("rel").is_absolute()
    for url in ("s3://bucket/lab", "gs://bucket/lab", "az://c/lab"):
        with pytest.raises(SpecError, match="POSIX filesystem"):
            shared_store_path(url)


def test_the_ray_backend_without_ray_is_refused_before_queueing(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps({"base": tiny_spec().to_dict(), "seeds": [0, 1]}))
    store = tmp_path / "store"
    assert main(["sweep", "--grid", str(grid), "--store", str(store), "--backend", "ray"]) == 2
    assert main(["ray-dispatch", "--store", str(store)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("pip install -r requirements-cluster.txt" in e for e in err)
    assert not (store / "jobs").exists()
