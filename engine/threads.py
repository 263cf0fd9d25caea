"""How many threads a worker's torch may use, so workers never pile threads onto busy cores.

torch starts one OpenMP thread per core by default, and OpenMP threads spin while they wait.
Two such processes on two cores (a worker beside the app's server and a browser) spend
most of their time waiting on each other: the demo took 145 s beside one busy process
instead of 18 s quiet. So each worker takes its share of the cores it may run on
(`os.sched_getaffinity`) divided among the live workers on its host, keeps one core for
the app's server when it is the app's embedded worker, and uses one thread for models
whose batches are too small to split. Idle OpenMP threads sleep instead of spinning
(OMP_WAIT_POLICY=PASSIVE), which
OpenMP reads once, when torch is imported: it is set in the environment of the processes
that become workers.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from engine.config import RunSpec, SpecError
from engine.store import Store, StoreError

if TYPE_CHECKING:  # the worker hands these in; the policy itself is below the job system
    from engine.jobs.queue import Job, JobQueue

WAIT_ENV = "OMP_WAIT_POLICY"
CAP_ENV = "OMP_NUM_THREADS"  # set by the user (or a test suite): never more threads than this
PASSIVE = "PASSIVE"
# A model's forward pass on one training batch below this many FLOPs runs on one thread.
# Measured on 2 cores (one Adam step, batch 60): LeNet-300-100 (1e8 FLOPs by this count)
# took 1.2-1.5 ms on one thread, 1.1 ms on two when the machine was quiet, 24 ms on two at
# a load of 0.5, and 3.1 ms on two (1.6 ms passive) against 1.3 ms on one beside a busy
# process: its matrices are too small to split. Conv-2 (5e9) took 109 ms on one thread and
# 69 ms on two when quiet, and 127 ms on one against 135 ms on two (passive) beside a busy
# process: worth its share of the cores.
SMALL_BATCH_FLOPS = 1e9
# FLOPs are counted on CIFAR's 3x32x32 input, the largest of the registered data sets, so
# the estimate never calls a model small that is not: MNIST's 1x28x28 costs 0.3-0.8x of it.
PROBE_SHAPE = (3, 32, 32)


@dataclass(frozen=True)
class ThreadPolicy:
    """What a worker chose and why: shown in its heartbeat, `jobs` and the app."""

    threads: int  # torch intra-op threads for the current job (or for jobs to come)
    cores: int  # cores this process may run on
    workers: int  # live workers on this host sharing them, this one included
    reserved: int  # cores left to the app's server (1 for its embedded worker)
    cap: int | None  # $OMP_NUM_THREADS, when set: an upper bound the user chose
    small: bool  # the current job's model is too small to gain from more threads
    wait: str  # the OpenMP wait policy this process started with

    def describe(self) -> str:
        """`1 thread (2 cores, 1 worker, 1 kept for the app; small model; passive wait)`."""
        why = [f"{self.cores} cores", f"{self.workers} worker{'s' * (self.workers != 1)}"]
        if self.reserved:
            why.append(f"{self.reserved} kept for the app")
        if self.small:
            why.append("small model")
        if self.cap is not None:
            why.append(f"{CAP_ENV}={self.cap}")
        why.append(f"{self.wait.lower() or 'active'} wait")
        return f"{self.threads} thread{'s' * (self.threads != 1)} ({', '.join(why)})"

    def record(self) -> dict[str, Any]:
        return {"threads": asdict(self) | {"text": self.describe()}}


def threads_for(
    cores: int,
    workers: int,
    batch_flops: float | None,
    reserved: int = 0,
    cap: int | None = None,
) -> int:
    """Threads for one worker: one for a small model, else its even share of the cores.

    `cores` it may run on, `workers` live on its host (itself included), `batch_flops` the
    forward FLOPs of its model on one training batch (None: no model known, e.g. a job that
    trains nothing), `reserved` cores kept for other work (the app's server), `cap` an upper
    bound the user set. Never below 1.
    """
    if cores < 1 or workers < 1 or reserved < 0 or (cap is not None and cap < 1):
        raise ValueError(
            f"cores={cores}, workers={workers}, cap={cap}: each must be >= 1; "
            f"reserved={reserved}: must be >= 0"
        )
    if batch_flops is not None and batch_flops < SMALL_BATCH_FLOPS:
        return 1
    share = max(1, (cores - reserved) // workers)
    return share if cap is None else min(share, cap)


def env_cap(env: Mapping[str, str]) -> int | None:
    """$OMP_NUM_THREADS as a positive int, or None when unset or not one (OpenMP ignores it
    then too)."""
    try:
        value = int(env.get(CAP_ENV, ""))
    except ValueError:
        return None
    return value if value >= 1 else None


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask: taskset, cgroups, a Docker --cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity masks
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=64)
def forward_flops(
    model: str, batch: int, shape: tuple[int, ...] = PROBE_SHAPE, classes: int = 10
) -> float:
    """FLOPs of `model`'s forward pass on `batch` inputs of `shape` (`PROBE_SHAPE` where the
    thread policy needs only a size class), counted by torch's FlopCounterMode on the meta
    device (no memory, no compute; milliseconds)."""
    from torch.utils.flop_counter import FlopCounterMode

    from engine.models import build_model

    with torch.device("meta"):
        net = build_model(model, shape, classes).eval()
        x = torch.empty(batch, *shape)
    with FlopCounterMode(display=False) as counter:
        net(x)
    return float(counter.get_total_flops())


def choose(
    workers: int, model: str | None = None, batch: int = 0, reserved: int = 0
) -> ThreadPolicy:
    """The policy for this process now: its cores, `workers` on its host, the job's model."""
    flops = None
    if model and batch > 0:
        try:
            flops = forward_flops(model, batch)
        except Exception:  # a model the counter cannot run on meta tensors is not called small
            flops = None
    cores, cap = usable_cores(), env_cap(os.environ)
    n = threads_for(cores, workers, flops, reserved, cap)
    small = flops is not None and flops < SMALL_BATCH_FLOPS
    return ThreadPolicy(n, cores, workers, reserved, cap, small, os.environ.get(WAIT_ENV, ""))


def job_model(store: Store, job: Job | None) -> tuple[str | None, int]:
    """(model name, training batch size) of the run a job trains or analyses; (None, 0) for
    a job about no run, or one whose spec cannot be read (the job itself will say why)."""
    if job is None:
        return None, 0
    payload = job.payload or {}
    try:
        if job.kind == "run":
            spec = RunSpec.from_dict(payload)
        elif payload.get("run_id") and store.has_run(payload["run_id"]):
            spec = store.load_spec(payload["run_id"])
        else:
            return None, 0
    except (SpecError, StoreError, KeyError, TypeError, ValueError):
        return None, 0
    return spec.model.name, spec.train.batch_size


def settle(
    queue: JobQueue,
    worker_id: str,
    host: str,
    device: torch.device,
    reserved: int = 0,
    job: Job | None = None,
) -> ThreadPolicy:
    """Choose and set this worker's threads for `job` (None: for the jobs to come), counting
    it and the other live workers on its host. On a GPU the model runs on the device, so no
    model is small."""
    others = [w for w in queue.live_workers() if w.get("worker_id") != worker_id]
    workers = 1 + sum(1 for w in others if w.get("host") == host)
    model, batch = job_model(queue.store, job) if device.type == "cpu" else (None, 0)
    policy = choose(workers, model, batch, reserved)
    if torch.get_num_threads() != policy.threads:
        torch.set_num_threads(policy.threads)
    return policy


def worker_text(worker: Mapping[str, Any]) -> str:
    """`cpu, 1 thread (2 cores, 1 worker, small model, passive wait)`: where a worker (its
    heartbeat record) runs, for `jobs` and the app's sidebar."""
    text = (worker.get("threads") or {}).get("text")
    return ", ".join(t for t in (worker.get("device", "?"), text) if t)


def worker_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a process that becomes a worker: OpenMP threads sleep when idle (unless the
    caller chose a wait policy itself)."""
    return {**env, WAIT_ENV: env.get(WAIT_ENV) or PASSIVE}


def reexec_with_passive_wait() -> None:
    """Restart `python -m engine ...` with OMP_WAIT_POLICY set, when it is not set: OpenMP
    read the environment when torch was imported, before a command could change it. Does
    nothing in other processes (tests calling the CLI in-process) or when already set."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if os.environ.get(WAIT_ENV) or spec is None or spec.name != "engine.__main__":
        return
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "engine", *sys.argv[1:]]
    os.execve(sys.executable, argv, worker_env(os.environ))
