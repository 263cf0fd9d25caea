"""Docker plumbing for the container test (tests/test_container.py): whether an engine
answers, the local Debian base image, the wheelhouse the build installs from, and containers
run the way an operator runs them.

The machines here reach no registry of images and no network but loopback, so: the base is
made with debootstrap and `docker import` once (and kept); every container and build uses
`--network host`; and the build's pip installs from a wheelhouse that the host's own pip fills
(same indexes, proxy and certificates as the host) and this module serves on 127.0.0.1.
The image is rebuilt on every run and relies on docker's layer cache: the torch layer is
rebuilt only when the base, requirements.txt or the Dockerfile above it changes, so a change
to the sources costs seconds.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BASE = "imp-lab-base:bookworm"
IMAGE = "imp-lab:test"
LABEL = "imp-lab.test=1"  # on the test's images, so the stale ones can be pruned
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imp-lab"
WHEELHOUSE = CACHE / "wheelhouse"
# Fixed because build arguments are part of the layer cache key: another port rebuilds torch.
WHEELHOUSE_PORT = 38517
BUILD_TIMEOUT_S = 1800


def docker(*args: str, timeout: float = 60, check: bool = True) -> str:
    """`docker ARGS`' standard output; a failure raises with docker's own message."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode:
        raise AssertionError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def engine_problem() -> str | None:
    """Why no Docker engine can be used here (one line), or None."""
    if shutil.which("docker") is None:
        return "no docker command: install a Docker engine (.ci/run installs docker.io)"
    done = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode:
        why = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"no Docker engine answers ({why}); start one as .ci/run does"
    return None


def image_exists(tag: str) -> bool:
    inspect = ["docker", "image", "inspect", tag]
    return subprocess.run(inspect, capture_output=True, timeout=30).returncode == 0


def base_problem() -> str | None:
    """Why the Debian base can be neither found nor made (one line), or None."""
    if image_exists(BASE) or shutil.which("debootstrap"):
        return None
    return f"no {BASE} image and no debootstrap to make it (apt-get install debootstrap)"


def must(cmd: list[str], what: str) -> None:
    """Run `cmd` (up to BUILD_TIMEOUT_S); when it fails, raise with `what` and its last lines."""
    done = subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=BUILD_TIMEOUT_S
    )
    if done.returncode:
        tail = "\n".join(done.stdout.splitlines()[-20:])
        raise AssertionError(f"{what} failed (exit {done.returncode}):\n{tail}")


def ensure_base() -> str:
    """The Debian bookworm base (minbase, no Python): made once, in a minute or two."""
    if not image_exists(BASE):
        with tempfile.TemporaryDirectory(prefix="imp-lab-base-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            must(["debootstrap", "--variant=minbase", "bookworm", str(rootfs)], "debootstrap")
            pipe = f"tar -C {shlex.quote(str(rootfs))} -c . | docker import - {BASE}"
            must(["bash", "-o", "pipefail", "-c", pipe], "docker import")
    return BASE


def ensure_wheelhouse(requirements: Path) -> Path:
    """Wheels for every pin of `requirements` (and what they need), made by the host's pip:
    again only when the file changes."""
    marker = WHEELHOUSE / ".requirements-sha256"
    stamp = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if not (marker.is_file() and marker.read_text() == stamp):
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, "-m", "pip", "wheel", "-q", "-r", str(requirements)]
        must([*pip, "-w", str(WHEELHOUSE)], "pip wheel")
        marker.write_text(stamp)
    return WHEELHOUSE


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """`folder`'s files over HTTP on 127.0.0.1 (its listing is a pip find-links page)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", WHEELHOUSE_PORT), handler)
    except OSError:
        warnings.warn(f"port {WHEELHOUSE_PORT} is taken: the torch layer is rebuilt", stacklevel=2)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def build(context: Path, base: str, wheels: str, log: Path) -> float:
    """Build IMAGE from `context` on `base`, pip installing from `wheels` only; the seconds
    it took. Older images of this test are pruned."""
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            ["docker", "build", "--network", "host", "--tag", IMAGE, "--label", LABEL,
             "--build-arg", f"BASE={base}", "--build-arg", "PIP_NO_INDEX=1",
             "--build-arg", f"PIP_FIND_LINKS={wheels}", str(context)],
            stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S,
        )  # fmt: skip
    if done.returncode:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise AssertionError(f"docker build failed (log: {log}):\n{tail}")
    docker("image", "prune", "--force", "--filter", f"label={LABEL}", timeout=120)
    return time.monotonic() - started


@dataclass(frozen=True)
class Container:
    name: str

    def state(self, field: str) -> str:
        """A field of `docker inspect`'s State, e.g. "Status", "Health.Status", "Pid"."""
        return docker("inspect", "--format", f"{{{{.State.{field}}}}}", self.name)

    def exec(self, *cmd: str, timeout: float = 60) -> str:
        return docker("exec", self.name, *cmd, timeout=timeout)

    def logs(self) -> str:
        done = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True)
        return done.stdout + done.stderr

    def remove(self) -> None:
        """Gone, with its anonymous volumes (the /data one); a bind-mounted store stays."""
        docker("rm", "--force", "--volumes", self.name, check=False)


def run(name: str, store: Path, port: int, env: dict[str, str]) -> Container:
    """Start IMAGE detached as `name` with `store` as its /store, the app on 127.0.0.1:`port`.
    Health is checked every second: engines before 25 know no --health-start-interval, and
    the image's 30 s interval would make the test wait that long for the first check."""
    flags = [f"--env={k}={v}" for k, v in {**env, "IMP_LAB_PORT": str(port)}.items()]
    docker(
        "run", "--detach", "--name", name, "--network", "host", "--health-interval", "1s",
        "--volume", f"{store}:/store", *flags, IMAGE,
    )  # fmt: skip
    return Container(name)
