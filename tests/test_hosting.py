"""The Docker image's pieces that can be checked without a Docker engine: the entrypoint
script (app + workers on loopback, health endpoint and the image's health check, SIGTERM
stops every child, refusal in hosted mode without a credential), the Dockerfile / compose
file's structure and hadolint's verdict. tests/test_container.py builds and runs the image."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from engine.jobs.queue import JobQueue

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(store: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMP_LAB_")}
    env.update(
        PYTHON=sys.executable,
        IMP_LAB_ADDRESS="127.0.0.1",
        IMP_LAB_PORT=str(port),
        IMP_LAB_STORE=str(store),
        IMP_LAB_WORKERS="1",
        IMP_LAB_POLL_INTERVAL="0.2",
        CUDA_VISIBLE_DEVICES="",  # CPU workers, as on a server without GPUs
        **extra,
    )
    return env


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for c in map(int, children):
            out.add(c)
            todo.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def health(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def health_check(env: dict[str, str]) -> int:
    """The image's HEALTHCHECK command's exit status, run here with the container's env."""
    return subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, timeout=30).returncode


def test_entrypoint_starts_app_and_worker_and_stops_them_on_sigterm(tmp_path):
    store, port = tmp_path / "store", free_port()
    env = env_for(store, port, IMP_LAB_HOSTED="1", IMP_LAB_TOKEN="t0ken")
    proc = subprocess.Popen(
        [str(ENTRYPOINT)], env=env, cwd=tmp_path, start_new_session=True, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert wait_for(lambda: health(port), 60, "the health endpoint") == "ok"
        assert health_check(env) == 0
        workers = wait_for(lambda: JobQueue(store).live_workers(), 60, "a live worker")
        assert [w["device"] for w in workers] == ["cpu"]
        children = descendants(proc.pid)
        assert len(children) >= 2  # streamlit and the worker
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
        wait_for(lambda: not any(alive(c) for c in children), 15, "every child to exit")
        assert health(port) is None
        assert health_check(env) == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        out = proc.communicate()[0]
    assert "1 worker(s) started" in out


def test_entrypoint_refuses_hosted_mode_without_a_credential(tmp_path):
    env = env_for(tmp_path / "store", free_port(), IMP_LAB_HOSTED="1")
    done = subprocess.run(
        [str(ENTRYPOINT)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "refusing to start" in done.stderr and "IMP_LAB_TOKEN" in done.stderr
    assert not (tmp_path / "store").exists()  # nothing started, nothing written


# --- Dockerfile and compose ----------------------------------------------------------------
def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def test_dockerfile_structure():
    ins = instructions()
    names = [name for name, _ in ins]
    args = {name: [a for n, a in ins if n == name] for name in names}
    # The base is a build argument that defaults to the image users expect.
    assert names[:2] == ["ARG", "FROM"] and args["FROM"] == ["${BASE}"]
    assert args["ARG"][0] == "BASE=python:3.11-slim"
    assert "TORCH=cuda" in args["ARG"]  # CUDA-capable unless asked for the CPU wheels
    assert args["EXPOSE"] == ["8501"]
    [check] = args["HEALTHCHECK"]
    assert "CMD" in check and "docker/healthcheck.py" in check
    users = args["USER"]
    assert users and users[-1].split(":")[0] == "1000"  # numeric: resolvable on the host
    assert names.index("USER") > max(i for i, n in enumerate(names) if n == "RUN")
    volumes = " ".join(args["VOLUME"])
    assert '"/store"' in volumes and '"/data"' in volumes
    assert args["ENTRYPOINT"] == ['["docker/entrypoint.sh"]']
    env = " ".join(args["ENV"])
    assert "IMP_LAB_HOSTED=1" in env and "IMP_LAB_STORE=/store" in env
    for copy in args["COPY"]:
        *sources, _ = shlex.split(copy)
        for s in sources:
            assert (ROOT / s).exists(), f"COPY source {s} is missing"
    assert os.access(ENTRYPOINT, os.X_OK)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "store", "data"} <= set(ignored)


def test_compose_reserves_gpus_and_needs_the_token():
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["imp-lab"]
    [device] = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "8501:8501" in service["ports"]
    assert service["build"] == {"context": ".", "args": {"TORCH": "cuda"}}
    assert "?" in service["environment"]["IMP_LAB_TOKEN"]  # compose refuses to start without
    assert {v.split(":")[1] for v in service["volumes"]} == {"/store", "/data"}


def test_hadolint_finds_nothing_in_the_dockerfile():
    """hadolint (requirements-dev.txt ships it) at its strictest: not even a style note."""
    venv_bin = str(Path(sys.executable).parent)
    exe = shutil.which("hadolint", path=venv_bin) or shutil.which("hadolint")
    assert exe, "hadolint is missing: pip install -r requirements-dev.txt"
    done = subprocess.run(
        [exe, "--failure-threshold", "style", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
