"""The Ray execution backend: a dispatcher that turns queued jobs into Ray tasks.

The queue in the shared store stays the source of truth, so the app and the CLI read jobs,
progress and errors exactly as with local workers. The dispatcher (a Ray driver) submits one
task per queued job, asking for one GPU (or one CPU); the task claims its job by id and runs it
with the local worker's own code (`execute_job`, heartbeat thread and all), writing progress
and results to the store. Cancel is `ray.cancel` (plus the epoch-end check every job makes).
A task whose worker process or node dies is retried by Ray (`max_retries`); the retry takes
the job over from the dead attempt at once and resumes from the store's checkpoints. If the
dispatcher itself dies, Ray stops its tasks, their heartbeats go stale, and the next
dispatcher (or local worker) requeues the jobs.

Every node must reach the store at the same path (a shared filesystem; see
`engine.cluster.shared_store_path`) and run this code at the same path: the dispatcher passes
its own ``PYTHONPATH`` and ``$IMP_LAB_*`` settings to the tasks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError, TaskCancelledError

from engine import paths
from engine.cluster import shared_store_path
from engine.config import SpecError
from engine.jobs.code import pythonpath
from engine.jobs.heartbeat import beating
from engine.jobs.queue import CLAIMED, KINDS, JobError, JobQueue, JobSettings
from engine.jobs.triage import Ending
from engine.jobs.worker import execute_job, worker_device
from engine.settings_loader import config_env
from engine.store import StoreError

NAMESPACE = "imp-lab"
STOP_GRACE_S = 15.0  # on stop: time for running tasks to give their jobs back
# For a one-machine test cluster, in the head's and every driver's environment: stay on
# 127.0.0.1 (Ray otherwise swaps loopback for the machine's network address), and no token
# authentication (Ray turns it on by itself once ~/.ray/auth_token exists, and a driver
# started without the token is then refused).
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}


# --- inside a Ray worker --------------------------------------------------------------------


def run_job_on_node(store_root: str, job_id: str, token: str, device: str) -> dict[str, Any]:
    """One dispatched job in a Ray worker: claim it by id, run it as a local worker would.

    `token` names this dispatch; a retry of the task (its worker died) takes the job over
    from the dead attempt, whose worker id starts with the same token.
    """
    # ray.cancel interrupts a task with SIGINT. A dispatcher started in the background
    # (`cmd &`, nohup) starts Ray with SIGINT ignored, its workers inherit that, and Python
    # then raises no KeyboardInterrupt: the job would run on to its next epoch end.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    root = Path(store_root)
    if not paths.jobs(root).is_dir():
        raise StoreError(
            f"no job queue at {root} on node {socket.gethostname()}: the store must be a "
            "folder every node mounts at the same path"
        )
    queue = _queue(store_root)
    ctx = ray.get_runtime_context()
    worker_id = f"ray-{token}-{ctx.get_worker_id()[:8]}"
    dev = worker_device(device)
    job = queue.claim_job(job_id, worker_id, takeover=f"ray-{token}-")
    if job is None:  # another worker has it, or it ended or was deleted meanwhile
        return {"status": "skipped"}
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "device": str(dev),
        "started": time.time(),
        "backend": "ray",
        "node": ctx.get_node_id()[:12],
    }
    with beating(queue, worker_id, info) as heart:
        status = execute_job(queue, job, worker_id, dev, heart)
    return {"status": status, "worker": worker_id}


@functools.cache
def _queue(store_root: str) -> JobQueue:
    """The store's queue, opened once per Ray worker process (Ray reuses its processes)."""
    return JobQueue(store_root)


# --- the dispatcher (a Ray driver) ----------------------------------------------------------


@contextlib.contextmanager
def stop_flag() -> Iterator[threading.Event]:
    """An event that SIGTERM and SIGINT set (main thread only). A flag, not an exception:
    one raised inside a Ray call would leave Ray's client in a broken state."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@dataclass
class Dispatch:
    """A job handed to Ray: its task's result, and the token its workers' ids start with."""

    ref: ray.ObjectRef
    token: str
    cancel_sent: bool = False


def task_env() -> dict[str, str]:
    """What a task needs from the dispatcher's environment: this code and the lab settings."""
    env = {k: v for k, v in os.environ.items() if k.startswith("IMP_LAB_")}
    return env | config_env() | {"PYTHONPATH": pythonpath(os.environ)}


def task_ending(e: RayError) -> Ending:
    """A task Ray gave up on, as an error ending: named by the job's own exception when the
    task raised one (whether another attempt could help is decided by that exception)."""
    cause = e.cause if isinstance(e, RayTaskError) else None
    ending = Ending.error(cause if isinstance(cause, BaseException) else e, str(e))
    return dataclasses.replace(ending, reason=f"ray task failed: {ending.reason}")


class RayDispatcher:
    """Dispatch a store's queued jobs to a Ray cluster and keep the queue up to date."""

    def __init__(
        self,
        store_root: str | Path,
        address: str | None = None,
        device: str = "auto",
        settings: JobSettings | None = None,
        echo: Callable[[str], None] | None = None,
    ):
        self.root = shared_store_path(store_root)
        self.address, self.device_setting = address, device
        self.queue = JobQueue(self.root, settings or JobSettings.from_env())
        self.settings = self.queue.settings
        self.id = f"ray-dispatcher-{socket.gethostname()}-{os.getpid()}"
        self.inflight: dict[str, Dispatch] = {}
        self.echo = echo or (lambda text: print(text, flush=True))
        self.device = "cpu"
        self._task: Any = None
        self._options: dict[str, Any] = {}
        self._last_beat = 0.0

    # --- connecting -------------------------------------------------------------------------
    def connect(self) -> None:
        try:
            ray.init(
                address=self.address,
                namespace=NAMESPACE,
                runtime_env={"env_vars": task_env()},
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except (ConnectionError, RuntimeError) as e:
            first = (str(e).strip().splitlines() or [""])[0]
            raise SpecError(
                "address", f"cannot reach Ray at {self.address!r} ({first}); is the head up?"
            ) from None
        gpus = ray.cluster_resources().get("GPU", 0)
        self.device = self.device_setting
        if self.device == "auto":
            self.device = "cuda" if gpus >= 1 else "cpu"
        resources = {"num_gpus": 1} if self.device == "cuda" else {"num_cpus": 1}
        self._options = {
            **resources,
            "max_retries": self.settings.max_attempts - 1,  # the queue counts the same attempts
            "retry_exceptions": False,  # a job's own errors are handled (and retried) by the queue
        }
        self._task = ray.remote(run_job_on_node)
        where = self.address or "a Ray instance started here"
        self.echo(f"{self.id}: {where}, one {self.device.upper()} per task, store {self.root}")
        if self.device == "cuda" and gpus < 1:
            self.echo("warning: the cluster has no GPU now; tasks wait until a GPU node joins")
        self._beat(force=True)

    # --- one pass ---------------------------------------------------------------------------
    def step(self) -> None:
        """Requeue stale jobs, collect finished tasks, pass on cancels, dispatch queued jobs."""
        self.queue.recover()
        self._collect()
        self._pass_cancels()
        for job_id, kind in self.queue.queued():
            if job_id not in self.inflight and kind in KINDS:
                token = uuid.uuid4().hex[:10]
                ref = self._task.options(**self._options, name=f"imp-lab {job_id}").remote(
                    str(self.root), job_id, token, self.device
                )
                self.inflight[job_id] = Dispatch(ref, token)
        self._beat()

    def _collect(self) -> None:
        refs = {d.ref: job_id for job_id, d in self.inflight.items()}
        if not refs:
            return
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0)
        for ref in ready:
            job_id = refs[ref]
            dispatch = self.inflight.pop(job_id)
            try:
                result = ray.get(ref)
            except TaskCancelledError:
                self.echo(f"{job_id}: task cancelled")
            except RayError as e:
                self._task_failed(job_id, dispatch, e)
            else:
                if result["status"] != "skipped":
                    self.echo(f"{job_id}: {result['status']} ({result['worker']})")

    def _task_failed(self, job_id: str, dispatch: Dispatch, e: RayError) -> None:
        """Record in the queue a task Ray gave up on (retries spent, node gone, bad store)."""
        ending = task_ending(e)
        try:
            job = self.queue.get(job_id)
        except JobError:
            return
        held = job.status in CLAIMED and (job.worker or "").startswith(f"ray-{dispatch.token}-")
        worker = job.worker if held else self.id
        if not held and (  # it never started: the failed try counts as an attempt
            job.status != "queued" or self.queue.claim_job(job_id, self.id) is None
        ):
            return
        after = self.queue.settle(job_id, worker, ending)
        log = self.queue.log_file(job)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a") as f:
                f.write(f"{self.id}: {ending.reason}\n")
        self.echo(f"{job_id}: {after.status if after else 'lost'}: {ending.reason}")

    def _pass_cancels(self) -> None:
        for job_id, dispatch in self.inflight.items():
            if dispatch.cancel_sent:
                continue
            try:
                status = self.queue.get(job_id).status
            except JobError:  # deleted: stop it as a local worker would
                status = "deleted"
            if status in ("cancelling", "cancelled", "deleted"):
                ray.cancel(dispatch.ref)
                dispatch.cancel_sent = True

    def _beat(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last_beat >= self.settings.beat_interval:
            self._last_beat = now
            self.queue.worker_heartbeat(
                self.id,
                pid=os.getpid(),
                host=socket.gethostname(),
                device=f"ray ({self.device})",
                backend="ray",
                address=self.address or "local",
                tasks=len(self.inflight),
                job=None,
            )

    # --- running ----------------------------------------------------------------------------
    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Dispatch until `until()` is true (or forever); SIGTERM/Ctrl-C stop it cleanly."""
        with stop_flag() as stop:
            while not stop.is_set():
                self.step()
                if until is not None and until():
                    return
                refs = [d.ref for d in self.inflight.values()]
                if refs:
                    ray.wait(refs, num_returns=1, timeout=self.settings.poll_interval)
                else:
                    stop.wait(self.settings.poll_interval)
        self.echo(f"{self.id} stopping: running jobs go back to the queue")

    def idle(self) -> bool:
        """Nothing queued that this dispatcher runs, and nothing in flight."""
        return not self.inflight and not any(k in KINDS for _, k in self.queue.queued())

    def close(self) -> None:
        """Stop in-flight tasks (running ones give their jobs back), then disconnect."""
        for dispatch in self.inflight.values():
            ray.cancel(dispatch.ref)
        if self.inflight:
            refs = [d.ref for d in self.inflight.values()]
            ray.wait(refs, num_returns=len(refs), timeout=STOP_GRACE_S)
        self.inflight.clear()
        self.queue.unregister_worker(self.id)
        self.queue.close()
        ray.shutdown()


def dispatch_until(dispatcher: RayDispatcher, until: Callable[[], bool] | None) -> None:
    """Connect, dispatch until `until()` (or a stop signal), and always disconnect."""
    dispatcher.connect()
    try:
        dispatcher.run(until)
    finally:
        dispatcher.close()


# --- a throwaway local cluster (tests, benchmarks, trying it out) ---------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalHead:
    """A Ray head on loopback, run by `ray start --block` in its own process group."""

    proc: subprocess.Popen
    address: str
    temp_dir: Path

    def stop(self) -> None:
        """End the head and everything it started (its process group), nothing else."""
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def start_local_head(temp_dir: str | Path, num_cpus: int = 2, timeout: float = 90.0) -> LocalHead:
    """Start a head node on 127.0.0.1 with free ports; return once it accepts drivers."""
    temp_dir = Path(temp_dir)
    temp_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block"]
    cmd += ["--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(num_cpus)]
    cmd += ["--num-gpus", "0", "--include-dashboard=false", "--disable-usage-stats"]
    cmd += ["--object-store-memory", str(100 * 2**20), "--temp-dir", str(temp_dir / "ray")]
    for flag in (
        "--dashboard-port",
        "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port",
        "--metrics-export-port",
        "--runtime-env-agent-port",
    ):
        cmd += [flag, str(_free_port())]
    log = temp_dir / "head.log"
    # Ray runs its workers at nice 15; a throwaway head shares a machine with other work, so
    # its workers compete like any process unless $RAY_worker_niceness says otherwise. No
    # prestarted workers: tasks carry a runtime env, so they could not use them anyway.
    niceness = os.environ.get("RAY_worker_niceness", "0")  # noqa: SIM112 - Ray's spelling
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_worker_niceness=niceness)
    env.update(RAY_enable_worker_prestart="0", RAY_prestart_worker_first_driver="0")
    env.update(LOOPBACK_ENV)
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    head = LocalHead(proc, f"127.0.0.1:{port}", temp_dir)
    end = time.monotonic() + timeout
    while "Ray runtime started" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > end:
            head.stop()
            raise RuntimeError(f"the Ray head did not start; see {log}:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return head
