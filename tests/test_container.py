"""The hosted image, built and run for real: a Docker build on a local Debian base, the
container started with a token and a store volume as an operator starts it, the app driven
in headless Chromium (sign in, launch a shortened demo), the results read from the volume on
the host, a `docker stop` and a second container on the same volume.

Needs a Docker engine (and debootstrap the first time, to make the base): without one the
test skips with the reason, except under CI (CI=true), where that is a failure. The first
build takes minutes; later ones reuse docker's layer cache (tests/dockerkit.py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from engine import integrity
from engine.config import BASELINES
from engine.presets import preset
from tests import dockerkit
from tests.app.browser_console import CHROMIUM, ROOT, chromium, free_port, wait_until, watch

# A first build (base, wheelhouse, image) takes minutes; pytest's 600 s default is too short.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * dockerkit.BUILD_TIMEOUT_S)]

TOKEN = "container-test-token"
UID = 1000  # the image's user
STOP_BUDGET_S = 10
# The demo cut to one level of one epoch in the Launch form: seven one-epoch trainings.
SHORT = {"length": "1ep", "levels": "1"}


def require(problem: str | None) -> None:
    """Skip with `problem`, or fail under CI, which may not skip this test."""
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the container test: {problem}")
    pytest.skip(problem)


def short_demo_id() -> str:
    spec = preset("demo")
    return spec.replace(
        train=spec.train.replace(length=SHORT["length"]),
        prune=spec.prune.replace(levels=int(SHORT["levels"])),
    ).run_id


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> str:
    require(dockerkit.engine_problem())
    require(dockerkit.base_problem())
    base = dockerkit.ensure_base()
    wheels = dockerkit.ensure_wheelhouse(ROOT / "requirements.txt")
    log = tmp_path_factory.mktemp("build") / "build.log"
    with dockerkit.served(wheels) as url:
        seconds = dockerkit.build(ROOT, base, url, log)
    print(f"docker build took {seconds:.0f} s")  # shown with -s: the cached build's cost
    return dockerkit.IMAGE


@pytest.fixture
def store(tmp_path) -> Path:
    """The store volume: a host folder the container's user owns."""
    folder = tmp_path / "store"
    folder.mkdir()
    os.chown(folder, UID, UID)
    return folder


def healthy(box: dockerkit.Container) -> bool:
    status = box.state("Health.Status")
    if status == "unhealthy" or box.state("Status") != "running":
        raise AssertionError(f"the container is {status}:\n{box.logs()[-3000:]}")
    return status == "healthy"


def start(name: str, store: Path, port: int) -> dockerkit.Container:
    box = dockerkit.run(name, store, port, {"IMP_LAB_TOKEN": TOKEN, "IMP_LAB_ADDRESS": "127.0.0.1"})
    wait_until(lambda: healthy(box), 120, "docker to report the container healthy")
    return box


def jobs(box: dockerkit.Container) -> list[dict]:
    return json.loads(box.exec("python", "-m", "engine", "jobs", "--json"))


def uids(pid: int) -> set[int]:
    """The real and effective uids of `pid` and every process below it (Linux /proc)."""
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:  # it exited meanwhile
            continue
        line = next(ln for ln in status.splitlines() if ln.startswith("Uid:"))
        found |= {int(u) for u in line.split()[1:3]}
        todo.extend(int(c) for c in children)
    return found


def vouched(run: Path) -> dict[str, str]:
    """Every file a finished level's done.json vouches for, hashed here on the host and
    compared with the hash the container recorded; {path: sha256}."""
    hashes = {}
    for done in sorted(run.glob("*/level_*/done.json")):
        for rel, sha in json.loads(done.read_text())[integrity.FILES].items():
            path = done.parent / rel
            assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, path
            hashes[str(path.relative_to(run))] = sha
    return hashes


def settle(tab) -> None:
    """Wait until the page's script run is over: a widget used mid-run can lose its value."""
    tab.wait_for_timeout(300)
    tab.wait_for_selector("[data-testid=stStatusWidget]", state="detached", timeout=60_000)


def sign_in_and_launch(url: str, shot: Path) -> None:
    """Sign in with the token, cut the demo down in the Launch form and launch it; `shot`
    is the form as it was submitted."""
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1400, "height": 1800})
        problems = watch(tab)
        tab.goto(f"{url}/launch")
        tab.wait_for_selector("h1:has-text('Launch a run')", timeout=60_000)
        settle(tab)
        token = tab.get_by_label("Access token")
        token.fill(TOKEN)
        token.press("Enter")
        signed_in = tab.get_by_text("Signed in with the shared token")
        signed_in.wait_for(state="attached", timeout=30_000)  # in the folded sign-in box
        settle(tab)
        for label, value in SHORT.items():
            field = tab.get_by_label(label, exact=True)
            field.fill(value)
            field.press("Enter")
            settle(tab)
        analyses = tab.get_by_role("checkbox", name="Queue every analysis when training finishes")
        analyses.uncheck(force=True)  # training alone: the page tests cover the analyses
        settle(tab)
        tab.screenshot(path=str(shot), full_page=True)
        work = tab.get_by_text("Run id").inner_text()
        assert short_demo_id() in work, f"the form holds another run ({shot}): {work}"
        tab.get_by_role("button", name="Launch", exact=True).click()
        tab.wait_for_selector("h1:has-text('Runs')", timeout=30_000)
        assert not problems, problems.lines()


@pytest.mark.browser
def test_the_image_serves_signs_in_trains_and_keeps_its_store(image, store):
    if not CHROMIUM.exists():
        require("needs Debian's chromium at /usr/bin (.ci/run installs it)")
    name = f"imp-lab-test-{os.getpid()}"
    port = free_port()
    box = start(name, store, port)
    try:
        assert uids(int(box.state("Pid"))) == {UID}
        sign_in_and_launch(f"http://127.0.0.1:{port}", store.parent / "launch.png")
        [job] = jobs(box)
        assert job["run_id"] == short_demo_id() and job["owner"] == "shared"
        wait_until(
            lambda: jobs(box)[0]["status"] in ("done", "failed"), 300, "the demo to train", 2
        )
        assert jobs(box)[0]["status"] == "done", jobs(box)[0]["error"]

        run = store / "runs" / short_demo_id()
        branches = {p.parent.parent.name for p in run.glob("*/level_*/done.json")}
        assert branches == {"imp", *BASELINES}
        assert len(list(run.glob("imp/level_*/done.json"))) == 2  # levels 0 and 1
        before = vouched(run)
        assert {p.stat().st_uid for p in store.rglob("*")} == {UID}

        started = time.monotonic()
        dockerkit.docker("stop", "--time", str(STOP_BUDGET_S), name, timeout=30)
        assert time.monotonic() - started < STOP_BUDGET_S
        assert box.state("ExitCode") == "143"  # the entrypoint's own SIGTERM exit, no SIGKILL
    finally:
        box.remove()

    again = start(f"{name}-again", store, port)
    try:
        [job] = jobs(again)
        assert job["status"] == "done" and job["run_id"] == short_demo_id()
        assert vouched(run) == before
        again.exec("python", "-m", "engine", "show", short_demo_id())  # exits 2 if unknown
        again.exec("python", "-m", "engine", "fsck")  # exits 1 on any damaged file
    finally:
        again.remove()


def test_the_image_listens_on_every_interface_in_hosted_mode(image):
    address = dockerkit.docker(
        "run", "--rm", "--network", "none", "--entrypoint", "python", image,
        "-m", "engine.settings", "address",
    )  # fmt: skip
    assert address == "0.0.0.0"


def test_a_torch_variant_other_than_cuda_or_cpu_is_refused_in_one_line(image):
    """The steps before the torch install are cached, so this costs seconds."""
    done = subprocess.run(
        ["docker", "build", "--force-rm", "--network", "host",
         "--build-arg", f"BASE={dockerkit.BASE}", "--build-arg", "TORCH=rocm", str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert "TORCH=rocm: use cuda or cpu" in done.stdout + done.stderr
