"""The worker's thread policy: the pure rule, the FLOPs it reads, the environment it sets, and
what a worker records and `jobs` shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import engine.jobs.worker
from engine import threads
from engine.cli import main as cli
from engine.jobs.queue import Job, JobQueue
from engine.jobs.worker import execute_job, run_worker
from engine.presets import preset
from engine.store import Store
from engine.threads import SMALL_BATCH_FLOPS, threads_for
from tests.engine.jobkinds import small_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("cores", "workers", "flops", "reserved", "cap", "want"),
    [
        (2, 1, None, 0, None, 2),  # alone: every core
        (2, 1, None, 1, None, 1),  # the app's embedded worker leaves its server a core
        (8, 3, None, 0, None, 2),  # shares round down: 3 x 2 threads on 8 cores, none over
        (2, 3, None, 0, None, 1),  # more workers than cores: one each, never zero
        (1, 1, None, 1, None, 1),  # one core kept for the app still leaves the worker one
        (16, 1, 1.1e8, 0, None, 1),  # LeNet's batch: one thread however many cores
        (16, 1, 5.3e9, 0, None, 16),  # Conv-2's batch gains from every core it has
        (16, 2, SMALL_BATCH_FLOPS, 0, None, 8),  # the threshold itself is not small
        (16, 1, None, 0, 4, 4),  # $OMP_NUM_THREADS caps the share
        (2, 1, None, 0, 8, 2),  # ... but never raises it above the cores
    ],
)
def test_threads_for(cores, workers, flops, reserved, cap, want):
    assert threads_for(cores, workers, flops, reserved, cap) == want


@pytest.mark.parametrize("args", [(0, 1, None), (4, 0, None), (4, 1, None, -1), (4, 1, None, 0, 0)])
def test_threads_for_refuses_impossible_counts(args):
    with pytest.raises(ValueError, match="must be"):
        threads_for(*args)


def test_forward_flops_match_counts_by_hand():
    """Multiply-adds x 2 of every linear and conv layer on 3x32x32 inputs (biases, ReLU and
    pooling are not counted, as FlopCounterMode does not count them)."""
    b = 60
    lenet = 2 * b * (3 * 32 * 32 * 300 + 300 * 100 + 100 * 10)
    assert threads.forward_flops("lenet_300_100", b) == lenet
    convs = 32 * 32 * 64 * 9 * (3 + 64)  # two 3x3 convs at full resolution
    fc = 64 * 16 * 16 * 256 + 256 * 256 + 256 * 10  # after one 2x2 max-pool
    assert threads.forward_flops("conv2", b) == 2 * b * (convs + fc)
    assert threads.forward_flops("lenet_300_100", b) < SMALL_BATCH_FLOPS
    assert threads.forward_flops("conv2", b) > SMALL_BATCH_FLOPS


@pytest.mark.parametrize(
    ("value", "want"), [("", None), ("3", 3), ("0", None), ("-2", None), ("two", None)]
)
def test_env_cap(value, want):
    assert threads.env_cap({"OMP_NUM_THREADS": value} if value else {}) == want


def test_worker_env_sets_passive_wait_unless_chosen():
    assert threads.worker_env({"A": "1"}) == {"A": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    assert threads.worker_env({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"


def test_job_model_of_run_and_analysis_jobs(tmp_path):
    queue = JobQueue(tmp_path)
    spec = preset("demo")
    run = queue.submit("run", spec.to_dict())
    assert threads.job_model(queue.store, run) == ("lenet_300_100", 60)
    assert threads.job_model(queue.store, None) == (None, 0)
    Store(tmp_path).create_run(spec)
    analysis = Job("a1", "analysis", {"run_id": spec.run_id, "what": "trace"}, "k1")
    assert threads.job_model(queue.store, analysis) == ("lenet_300_100", 60)
    missing = Job("a2", "analysis", {"run_id": "no-such-run", "what": "trace"}, "k2")
    assert threads.job_model(queue.store, missing) == (None, 0)
    broken = Job("r2", "run", {"model": {"name": "no-such-model"}}, "k3")
    assert threads.job_model(queue.store, broken) == (None, 0)


def test_settle_counts_live_workers_on_this_host_only(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    queue = JobQueue(tmp_path)
    for worker_id, host in (("me", "here"), ("b", "here"), ("c", "here"), ("d", "elsewhere")):
        queue.worker_heartbeat(worker_id, host=host)
    before = torch.get_num_threads()
    try:
        policy = threads.settle(queue, "me", "here", torch.device("cpu"))
        assert (policy.workers, policy.threads, torch.get_num_threads()) == (3, 2, 2)
        assert policy.describe().startswith("2 threads (8 cores, 3 workers")
    finally:
        torch.set_num_threads(before)


def test_worker_records_its_threads_and_jobs_shows_them(tmp_path, capsys, monkeypatch):
    """A worker about to run a LeNet job takes one thread; its record says so, and `python
    -m engine jobs` prints it."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    queue = JobQueue(tmp_path)
    queue.submit("run", small_spec(levels=0, length="1ep").to_dict())
    seen = []

    def spy(queue, job, worker_id, device, heart):
        heart.beat()  # what its heartbeat thread writes next
        seen.append((torch.get_num_threads(), queue.live_workers()[0]["threads"]))
        cli(["jobs", "--store", str(tmp_path)])
        return execute_job(queue, job, worker_id, device, heart)

    monkeypatch.setattr(engine.jobs.worker, "execute_job", spy)
    before = torch.get_num_threads()
    try:
        assert run_worker(tmp_path, "cpu", max_jobs=1, worker_id="w1") == 1
    finally:
        torch.set_num_threads(before)
    ((now, record),) = seen
    assert now == record["threads"] == 1 and record["small"] and record["cores"] == 4
    assert "live workers: w1 (cpu, 1 thread (4 cores, 1 worker, small model" in (
        capsys.readouterr().out
    )


@pytest.mark.slow
def test_engine_worker_restarts_itself_with_a_passive_wait_policy(tmp_path):
    """OpenMP reads OMP_WAIT_POLICY when torch is imported, so `python -m engine worker`
    started without it runs again with it set before any job."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run(
        [sys.executable, "-m", "engine", "worker", "--store", str(tmp_path), "--max-jobs", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "passive wait" in out.stdout


def test_a_model_the_counter_cannot_run_gets_the_full_share(monkeypatch):
    def fails(model, batch):
        raise RuntimeError("no meta kernel")

    monkeypatch.setattr(threads, "forward_flops", fails)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    policy = threads.choose(1, "lenet_300_100", 60)
    assert (policy.threads, policy.small) == (4, False)
