"""Worker processes: exactly-once claims, progress and cancel, SIGKILL recovery with resume,
the app's embedded worker without orphans, and jobs that compute what `engine run` does."""

import signal
import subprocess
import sys
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
import torch

from engine.cli import main
from engine.imp import run_imp
from engine.jobs.embedded import ensure_embedded_worker
from engine.jobs.queue import ENV, MODULES_ENV, JobQueue
from engine.jobs.worker import run_worker
from engine.store import Store
from tests.engine.jobkinds import small_spec  # also registers the test_* kinds

REPO = Path(__file__).resolve().parents[3]
TIMEOUT = "2"  # heartbeat timeout for worker processes started here


@pytest.fixture(autouse=True)
def worker_env(monkeypatch):
    """Settings and test kinds for every worker these tests start (children inherit them)."""
    monkeypatch.setenv(ENV["heartbeat_timeout"], TIMEOUT)
    monkeypatch.setenv(ENV["poll_interval"], "0.05")
    monkeypatch.setenv(MODULES_ENV, "tests.engine.jobkinds")
    monkeypatch.setenv("PYTHONPATH", str(REPO))


@pytest.fixture
def spawn(tmp_path):
    """Start processes for a test; kill any still alive at its end."""
    procs: list[subprocess.Popen] = []

    def start(*cmd: str, name: str = "proc") -> subprocess.Popen:
        out = (tmp_path / f"{name}-{len(procs)}.out").open("w")
        p = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def start_worker(spawn, store: Path, worker_id: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "engine", "worker", "--store", str(store), "--device", "cpu"]
    return spawn(*cmd, "--worker-id", worker_id, name=worker_id)


def wait_for(check, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has exited
    except FileNotFoundError:
        return True


def same_results(a: Store, b: Store, run_id: str) -> int:
    """Assert two stores hold the same trained levels; return how many were compared."""
    compared = 0
    for branch in a.branches(run_id):
        for level in a.levels(run_id, branch):
            la, lb = a.level(run_id, level, branch), b.level(run_id, level, branch)
            drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
            assert drop(la.read_metrics()) == drop(lb.read_metrics()), (branch, level)
            ma, mb = la.load_mask(), lb.load_mask()
            fa, fb = la.load_checkpoint("final"), lb.load_checkpoint("final")
            assert all(torch.equal(ma[k], mb[k]) for k in ma)
            assert all(torch.equal(fa[k], fb[k]) for k in fa), (branch, level)
            compared += 1
    assert compared == sum(len(b.levels(run_id, br)) for br in b.branches(run_id))
    return compared


def test_two_workers_claim_each_job_exactly_once(tmp_path, spawn):
    queue = JobQueue(tmp_path)
    workers = [start_worker(spawn, tmp_path, f"w{i}") for i in (1, 2)]
    wait_for(lambda: len(queue.live_workers()) == 2, 60, "two live workers")
    jobs = [queue.submit("test_record", {"n": n, "sleep": 0.02}) for n in range(40)]
    wait_for(lambda: all(queue.get(j.id).status == "done" for j in jobs), 90, "all jobs done")
    runs = Counter(p.name.split(".")[0] for p in (tmp_path / "executions").iterdir())
    assert runs == {j.id: 1 for j in jobs}
    assert {queue.get(j.id).worker for j in jobs} == {"w1", "w2"}
    for w in workers:
        w.terminate()
        assert w.wait(30) == 0
    assert queue.live_workers() == []


def test_progress_cancel_and_resume(tmp_path, spawn):
    spec = small_spec(levels=0, length="1000ep", batch_size=64)  # cancelled long before
    store, queue = Store(tmp_path), JobQueue(tmp_path)
    worker = start_worker(spawn, tmp_path, "w1")
    job = queue.submit("run", spec.to_dict())
    wait_for(lambda: queue.get(job.id).progress.get("epoch", 0) >= 2, 90, "epoch 2")
    beats = set()
    for _ in range(60):  # 3 s of samples
        beats.add(queue.get(job.id).heartbeat)
        time.sleep(0.05)
    beats = sorted(beats)
    assert len(beats) >= 3 and max(b - a for a, b in pairwise(beats)) <= 1.0
    progress = queue.get(job.id).progress
    assert {"level", "epoch", "step", "loss", "eta", "fraction"} <= set(progress)
    assert progress["level"] == 0 and 0 < progress["fraction"] < 1 and progress["eta"] > 0

    level = store.level(spec.run_id, 0)
    assert queue.cancel(job.id).status == "cancelling"
    at_cancel = len(level.read_metrics())
    wait_for(lambda: queue.get(job.id).status == "cancelled", 60, "cancelled")
    rows = level.read_metrics()
    assert at_cancel <= len(rows) <= at_cancel + 1  # stopped within one epoch
    assert store.run_record(spec.run_id)["status"] == "cancelled"

    again = queue.submit("run", spec.to_dict())  # a new attempt resumes, not restarts
    assert (again.id, again.status) == (job.id, "queued")
    wait_for(lambda: len(level.read_metrics()) > len(rows) + 1, 60, "resumed training")
    worker.terminate()  # a stopping worker gives its job back; the attempt does not count
    assert worker.wait(30) == 0
    back = queue.get(job.id)
    assert (back.status, back.attempts, back.worker) == ("queued", 0, None)
    assert store.run_record(spec.run_id)["status"] == "queued"
    resumed = level.read_metrics()
    assert resumed[: len(rows)] == rows
    second = queue.log_file(again).read_text().split(f"job {job.id} (run)")[-1]
    assert f"imp level 0 epoch {len(rows) + 1}:" in second
    assert "imp level 0 epoch 1:" not in second


def test_sigkilled_worker_job_is_requeued_and_resumed(tmp_path, spawn):
    spec = small_spec(levels=2, length="4ep", batch_size=16)
    store, queue = Store(tmp_path / "jobs-store"), JobQueue(tmp_path / "jobs-store")
    first = start_worker(spawn, store.root, "doomed")
    job = queue.submit("run", spec.to_dict())
    level0, level1 = store.level(spec.run_id, 0), store.level(spec.run_id, 1)
    wait_for(lambda: (level1.path / "state.pt").is_file(), 120, "level 1's first epoch")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert level0.done and not level1.done  # killed inside level 1
    stamps = {p: p.stat().st_mtime_ns for p in level0.path.rglob("*") if p.is_file()}
    epochs_before = len(level1.read_metrics())
    assert queue.get(job.id).status == "running"  # claimed, with a heartbeat going stale

    start_worker(spawn, store.root, "rescuer")
    wait_for(lambda: queue.get(job.id).status == "done", 120, "the job to finish")
    done = queue.get(job.id)
    assert (done.worker, done.attempts) == ("rescuer", 2)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # level 0 not retrained
    second = queue.log_file(done).read_text().split("attempt 2/")[1]
    assert "stopped responding" in second and "imp level 0 epoch" not in second
    assert f"imp level 1 epoch {epochs_before + 1}:" in second
    assert "imp level 1 epoch 1:" not in second

    reference = Store(tmp_path / "reference")
    run_imp(spec, reference, "cpu")
    assert same_results(reference, store, spec.run_id) == 3


def test_embedded_worker_starts_once_and_stops(tmp_path):
    handle = ensure_embedded_worker(tmp_path, "cpu")
    try:
        queue = JobQueue(tmp_path)
        assert handle is not None and handle.alive()
        assert ensure_embedded_worker(tmp_path, "cpu") is handle  # an app rerun reuses it
        assert [w["worker_id"] for w in queue.live_workers()] == [handle.worker_id]
        job = queue.submit("test_record", {"n": 1})
        wait_for(lambda: queue.get(job.id).status == "done", 60, "the job")
        assert queue.get(job.id).worker == handle.worker_id
    finally:
        handle.stop()
    assert handle.proc.returncode == 0
    assert queue.live_workers() == []


def test_embedded_worker_exits_when_its_parent_is_killed(tmp_path, spawn):
    other = tmp_path / "other"
    busy = JobQueue(other)
    busy.worker_heartbeat("someone-else", pid=1)
    assert ensure_embedded_worker(other, "cpu") is None  # a live worker holds that queue

    script = (
        "import sys, time\n"
        "from engine.jobs.embedded import ensure_embedded_worker\n"
        "h = ensure_embedded_worker(sys.argv[1], 'cpu')\n"
        "print(h.proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = spawn(sys.executable, "-c", script, str(tmp_path), name="parent")
    out = tmp_path / "parent-0.out"
    child = int(wait_for(lambda: out.read_text().strip(), 60, "the child's pid"))
    queue = JobQueue(tmp_path)
    wait_for(lambda: any(w.get("started") for w in queue.live_workers()), 60, "the child to run")
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    wait_for(lambda: pid_gone(child), 15, "the orphaned worker to exit")
    assert queue.live_workers() == []


def test_job_computes_what_engine_run_computes(tmp_path):
    flags = ["--preset", "demo", "--train-length", "1ep", "--prune-levels", "1"]
    flags += ["--baselines-kinds", "rpn1", "--device", "cpu"]
    cli = tmp_path / "cli"
    subprocess.run(
        [sys.executable, "-m", "engine", "run", *flags, "--store", str(cli)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    queued = tmp_path / "queued"
    assert main(["submit", *flags[:-2], "--store", str(queued)]) == 0
    assert run_worker(queued, "cpu", max_jobs=1, worker_id="w1") == 1
    (job,) = JobQueue(queued).list()
    assert job.status == "done"
    assert same_results(Store(cli), Store(queued), job.run_id) == 3
    log = JobQueue(queued).log_file(job).read_text()
    assert "imp level 1 epoch 1: train loss" in log and "rpn1" in log
