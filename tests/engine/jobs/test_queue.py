"""The job queue: dedup by content hash, atomic claims, cancel, stale-heartbeat recovery,
bounded retries and the CLI commands, without worker processes (see test_worker.py)."""

import time

import diskcache
import pytest

from engine.cli import main
from engine.config import SpecError
from engine.imp import run_imp
from engine.jobs.queue import ENV, JobError, JobQueue, JobSettings
from engine.jobs.triage import Ending
from engine.jobs.worker import run_worker
from engine.legacy import RETIRED
from engine.store import Store
from tests.engine.jobkinds import small_spec  # also registers the test_* kinds


@pytest.fixture
def queue(tmp_path, monkeypatch):
    """A queue whose settings (from the environment) in-process workers share."""
    for name, value in (
        ("heartbeat_timeout", "0.3"),
        ("max_attempts", "2"),
        ("poll_interval", "0.01"),
    ):
        monkeypatch.setenv(ENV[name], value)
    q = JobQueue(tmp_path)
    yield q
    q.close()


def test_same_computation_is_one_job(queue):
    spec = small_spec()
    a = queue.submit("run", spec.to_dict(), owner="ann")
    reordered = dict(reversed(list(spec.to_dict().items())))
    b = queue.submit("run", reordered, owner="bob")
    assert a.id == b.id and a.key == b.key and b.owner == "ann"
    assert a.run_id == spec.run_id
    assert a.log_path == f"runs/{spec.run_id}/logs/{a.id}.log"
    # the data folder does not change what is computed; the seed does
    moved = spec.replace(data=spec.data.replace(root="/elsewhere")).to_dict()
    assert queue.submit("run", moved).id == a.id
    assert queue.submit("run", small_spec(seed=7).to_dict()).id != a.id
    assert [j.id for j in queue.list()][-1] == a.id  # newest first
    assert len(queue.list()) == 2


def test_bad_payloads_are_refused_before_queueing(queue):
    bad = small_spec().to_dict()
    bad["train"]["lr"] = -1.0
    with pytest.raises(SpecError, match=r"train\.lr"):
        queue.submit("run", bad)
    with pytest.raises(SpecError, match="unknown job kind 'nope'"):
        queue.submit("nope", {})
    with pytest.raises(SpecError, match="run_id"):  # validated by engine.analysis.jobs
        queue.submit("analysis", {"run_id": "nope", "what": "distances"})
    assert queue.list() == []


def test_claims_are_fifo_exclusive_and_filtered_by_kind(queue):
    jobs = [queue.submit("test_record", {"n": n}) for n in range(3)]
    assert queue.claim("w1", kinds=("run",)) is None
    first, second = queue.claim("w1"), queue.claim("w2")
    assert (first.id, second.id) == (jobs[0].id, jobs[1].id)
    assert (first.status, first.worker, first.attempts) == ("running", "w1", 1)
    assert queue.get(second.id).worker == "w2"
    assert queue.claim("w3").id == jobs[2].id
    assert queue.claim("w4") is None


def test_cancel_queued_and_running_jobs(queue):
    queued = queue.submit("test_record", {"n": 1})
    assert queue.cancel(queued.id).status == "cancelled"
    assert queue.claim("w1") is None
    running = queue.submit("test_record", {"n": 2})
    queue.claim("w1")
    assert queue.cancel(running.id).status == "cancelling"
    assert queue.heartbeat(running.id, "w1") == "cancelling"
    assert queue.settle(running.id, "w1", Ending("cancel")).status == "cancelled"
    again = queue.submit("test_record", {"n": 1})  # a cancelled job comes back as a new attempt
    assert (again.id, again.status, again.attempts) == (queued.id, "queued", 0)


def test_stale_heartbeat_requeues_then_gives_up(queue):
    job = queue.submit("test_record", {"n": 1})
    queue.claim("dead-1")
    assert queue.claim("w2") is None  # the heartbeat is still fresh
    time.sleep(0.4)
    retry = queue.claim("w2")
    assert (retry.id, retry.attempts, retry.worker) == (job.id, 2, "w2")
    assert "worker dead-1 stopped responding" in retry.error
    assert queue.heartbeat(job.id, "dead-1") == "lost"  # the first worker lost the job
    assert queue.finish(job.id, "dead-1", {}) is None
    time.sleep(0.4)
    assert queue.claim("w3") is None  # max_attempts = 2 used up
    failed = queue.get(job.id)
    assert failed.status == "failed" and "gave up after 2 attempts" in failed.error


def test_progress_merges_and_deleted_job_is_lost(queue):
    job = queue.submit("test_record", {"n": 1})
    queue.claim("w1")
    assert queue.progress(job.id, "w1", epoch=1, loss=2.0) == "running"
    assert queue.progress(job.id, "w1", epoch=2) == "running"
    assert queue.get(job.id).progress == {"epoch": 2, "loss": 2.0}
    queue.delete(job.id)
    assert queue.heartbeat(job.id, "w1") == "lost"
    with pytest.raises(JobError, match="no job"):
        queue.get(job.id)


def test_live_workers_come_from_fresh_heartbeats(queue):
    queue.worker_heartbeat("w1", pid=1, device="cpu")
    assert [w["worker_id"] for w in queue.live_workers()] == ["w1"]
    time.sleep(0.4)
    assert queue.live_workers() == []


def test_done_run_job_is_reused_until_its_run_is_deleted(queue):
    spec = small_spec(levels=0, length="1ep")
    job = queue.submit("run", spec.to_dict())
    run_imp(spec, Store(queue.root), "cpu")
    queue.claim("w1")
    queue.finish(job.id, "w1", {"run_id": spec.run_id})
    assert queue.submit("run", spec.to_dict()).status == "done"
    Store(queue.root).delete_run(spec.run_id)
    assert queue.submit("run", spec.to_dict()).status == "queued"


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(ENV["heartbeat_timeout"], "2.5")
    monkeypatch.setenv(ENV["max_attempts"], "5")
    s = JobSettings.from_env(poll_interval=0.1)
    assert (s.heartbeat_timeout, s.max_attempts, s.poll_interval) == (2.5, 5, 0.1)
    assert s.beat_interval <= 0.5
    monkeypatch.setenv(ENV["max_attempts"], "many")
    with pytest.raises(SpecError, match="IMP_LAB_MAX_ATTEMPTS"):
        JobSettings.from_env()
    with pytest.raises(SpecError, match="max_attempts"):
        JobSettings(max_attempts=0)


def test_failed_job_keeps_its_error_after_bounded_retries(queue, capsys):
    job = queue.submit("test_crash", {"n": 3})
    assert run_worker(queue.root, "cpu", max_jobs=2, worker_id="w1") == 2
    failed = queue.get(job.id)
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert failed.error == "RuntimeError: boom 3"
    assert "Traceback" in failed.traceback and "_crash" in failed.traceback
    log = queue.log_file(failed).read_text()
    assert log.count("RuntimeError: boom 3") >= 2 and "attempt 2/2" in log
    # an error no retry can fix fails at once
    refused = queue.submit("test_refuse", {"n": 1})
    run_worker(queue.root, "cpu", max_jobs=1, worker_id="w1")
    assert queue.get(refused.id).status == "failed" and queue.get(refused.id).attempts == 1
    capsys.readouterr()
    assert main(["jobs", job.id, "--store", str(queue.root)]) == 0
    shown = capsys.readouterr().out
    assert "failed" in shown and "boom 3" in shown and "Traceback" in shown


def test_cli_submit_list_cancel_delete(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = str(tmp_path / "store")
    flags = ["--data-name", "synthetic_tiny", "--train-length", "1ep", "--prune-levels", "1"]
    assert main(["submit", *flags, "--store", store]) == 0
    assert main(["submit", *flags, "--store", store]) == 0
    out = capsys.readouterr().out
    assert "no worker is running" in out
    jobs = JobQueue(store).list()
    assert len(jobs) == 1 and jobs[0].payload["train"]["length"] == "1ep"
    assert main(["jobs", "--store", store]) == 0
    assert "queued" in capsys.readouterr().out
    assert main(["cancel", jobs[0].id, "--store", store]) == 0
    assert JobQueue(store).get(jobs[0].id).status == "cancelled"
    assert main(["delete", jobs[0].id, "--store", store]) == 0
    assert JobQueue(store).list() == []
    assert main(["cancel", jobs[0].id, "--store", store]) == 2
    assert "no job" in capsys.readouterr().err


def test_analysis_job_runs_once_on_a_stored_run(queue):
    spec = small_spec(levels=1, length="1ep")
    run_imp(spec, Store(queue.root), "cpu")
    request = {"run_id": spec.run_id, "what": "distances"}
    job = queue.submit("analysis", request)
    assert job.log_path == f"runs/{spec.run_id}/logs/{job.id}.log"
    assert run_worker(queue.root, "cpu", max_jobs=1, worker_id="w1") == 1
    done = queue.get(job.id)
    assert done.status == "done" and done.result["computed"] >= 1
    assert done.progress["fraction"] == 1.0
    assert queue.submit("analysis", dict(request)).status == "done"  # cached, not recomputed


def test_run_job_with_impossible_rewind_fails_and_leaves_the_store_clean(queue):
    spec = small_spec(length="2ep")
    spec = spec.replace(prune=spec.prune.replace(rewind="1000it"))  # 2 epochs are 16 iterations
    job = queue.submit("run", spec.to_dict())
    assert run_worker(queue.root, "cpu", max_jobs=1, worker_id="w1") == 1
    failed = queue.get(job.id)
    assert failed.status == "failed" and "prune.rewind" in failed.error
    assert queue.store.run_ids() == []
    assert queue.store.list_runs() == ([], [])


def test_a_retried_job_is_claimed_before_newer_ones(queue):
    first, second = (queue.submit("test_record", {"n": n}) for n in (1, 2))
    assert queue.claim("w1").id == first.id
    flaky = Ending("error", "RuntimeError: flaky", "Traceback ...")
    queue.settle(first.id, "w1", flaky)  # 1 of 2 attempts
    assert queue.queued() == [(first.id, "test_record"), (second.id, "test_record")]
    assert (queue.claim("w2").id, queue.claim("w3").id) == (first.id, second.id)


def test_no_stored_value_grows_and_every_queue_query_uses_an_index(queue):
    """The cost of a submit or claim cannot depend on the queue's length: no row holds a list
    of jobs, and no statement scans or sorts the jobs table."""
    for n in range(1_000):
        queue.submit("test_record", {"n": n})
    queue.worker_heartbeat("w1", pid=1)
    with queue.table.db.read() as c:
        for table, column in (("jobs", "record"), ("workers", "record"), ("meta", "value")):
            longest = c.execute(f"SELECT max(length({column})) FROM {table}").fetchone()[0]
            assert (longest or 0) < 2_000, table
        statements: list[str] = []
        c.set_trace_callback(statements.append)
        job = queue.submit("test_record", {"n": -1})
        held = queue.claim("w1", kinds=("test_record", "run"))
        queue.heartbeat(held.id, "w1", {"epoch": 1})
        queue.finish(held.id, "w1", {})
        queue.cancel(job.id)
        queue.live_workers()
        c.set_trace_callback(None)
        plans = {
            s: " | ".join(row[-1] for row in c.execute(f"EXPLAIN QUERY PLAN {s}"))
            for s in statements
            if s.split()[0] in ("SELECT", "INSERT", "UPDATE", "DELETE") and " jobs " in f"{s} "
        }
    assert len(plans) >= 6
    slow = {s: p for s, p in plans.items() if "SCAN jobs" in p or "TEMP B-TREE" in p}
    assert slow == {}


def test_a_diskcache_queue_from_before_is_imported_once_with_stranded_jobs(tmp_path, caplog):
    """Old stores kept jobs in a diskcache whose "queued" list could be lost; every job whose
    own record says queued is queued again, a running one resumes, nothing is imported twice."""
    scratch = JobQueue(tmp_path / "scratch", JobSettings(heartbeat_timeout=0.3))
    jobs = [scratch.submit("test_record", {"n": n}) for n in range(4)]
    scratch.claim("w0")
    scratch.finish(jobs[0].id, "w0", {"n": 0})
    scratch.claim("w-dead")  # jobs[1]: held by a worker that is gone
    records = {j.id: scratch.get(j.id).to_dict() for j in jobs}
    records[jobs[1].id]["heartbeat"] = time.time() - 60
    old = diskcache.Cache(str(tmp_path / "store" / "jobs"), eviction_policy="none")
    for job_id, rec in records.items():
        old[("job", job_id)] = rec
    old["queued"] = [[jobs[3].id, "test_record"]]  # jobs[2] fell out of the list: stranded
    old["claimed"] = [jobs[1].id]
    old.close()

    queue = JobQueue(tmp_path / "store", JobSettings(heartbeat_timeout=0.3))
    assert "moved 4 job(s) (2 queued, 1 running, 1 done)" in caplog.text
    assert queue.queued() == [(jobs[3].id, "test_record"), (jobs[2].id, "test_record")]
    assert [queue.claim("w1").id for _ in range(3)] == [jobs[1].id, jobs[3].id, jobs[2].id]
    assert queue.get(jobs[1].id).attempts == 2 and queue.get(jobs[0].id).status == "done"
    queue.delete(jobs[0].id)
    queue.close()
    assert (tmp_path / "store" / "jobs" / RETIRED).is_file()
    assert not (tmp_path / "store" / "jobs" / "cache.db").exists()
    caplog.clear()
    again = JobQueue(tmp_path / "store")
    assert "moved" not in caplog.text and len(again.list()) == 3  # not imported twice


def test_a_damaged_queue_file_is_moved_aside_and_what_is_readable_kept(tmp_path, caplog):
    queue = JobQueue(tmp_path)
    submitted = [queue.submit("test_record", {"n": n, "pad": "x" * 200}).id for n in range(300)]
    path = tmp_path / "jobs" / "queue.sqlite3"
    with queue.table.db.read() as c:  # a page in the middle of the jobs table
        sql = "SELECT pageno FROM dbstat WHERE name = 'jobs' AND pagetype = 'leaf' ORDER BY pageno"
        leaves = [p for (p,) in c.execute(sql)]
        page_size = c.execute("PRAGMA page_size").fetchone()[0]
    queue.close()
    with path.open("r+b") as f:
        f.seek((leaves[len(leaves) // 2] - 1) * page_size)
        f.write(b"\xff" * page_size)

    queue = JobQueue(tmp_path)
    kept = queue.list()
    assert f"job queue {path} was damaged" in caplog.text
    assert f"recovered {len(kept)} jobs from it" in caplog.text
    assert 0 < len(kept) < len(submitted)
    assert all(queue.submit("test_record", j.payload).id == j.id for j in kept)  # intact
    assert len(list(path.parent.glob("queue.sqlite3.damaged-*[0-9]"))) == 1
    caplog.clear()
    queue.close()
    path.write_bytes(b"not a database " * 500)  # garbage: nothing to recover
    queue = JobQueue(tmp_path)
    assert "was damaged" in caplog.text and "recovered 0 jobs" in caplog.text
    job = queue.submit("test_record", {"n": 1})
    assert queue.list() == [job] and queue.claim("w1").id == job.id
