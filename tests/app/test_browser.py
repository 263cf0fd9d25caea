"""End to end in a real browser: Debian's Chromium drives `streamlit run app/main.py` on a
free loopback port with its embedded worker, launches the demo from the Launch page, waits for
it to train, opens every page and checks that the charts drew. Screenshots of every page go
to artifacts/screenshots/ (look at them when a change touches the layout)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from engine.jobs import JobQueue
from engine.presets import preset

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TRAIN_TIMEOUT_S = 300  # the demo trains in about 30 s on 2 idle cores

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free loopback port over an empty store; (url, store root)."""
    store = tmp_path_factory.mktemp("browser-store")
    port = free_port()
    env = {**os.environ, "IMP_LAB_STORE": str(store), "IMP_LAB_EMBEDDED_WORKER": "1"}
    log = (store / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py",
         "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
         "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(url) or proc.poll() is not None, 90, "the server to start")
        assert proc.poll() is None, (store / "server.log").read_text()
        yield url, store
    finally:
        proc.terminate()  # its atexit stops the embedded worker (which also watches us)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1800})
        yield tab
        browser.close()


def settle(tab) -> None:
    """Wait until the script run is over and the charts have drawn."""
    tab.wait_for_selector("h1", timeout=60_000)
    tab.wait_for_timeout(500)
    tab.wait_for_selector("[data-testid=stStatusWidget]", state="detached", timeout=60_000)
    tab.wait_for_timeout(1500)


def visit(tab, url: str, name: str) -> None:
    tab.goto(url)
    settle(tab)
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"))
    assert tab.locator("[data-testid=stException]").count() == 0, name


def drawn_charts(tab) -> int:
    """Vega charts that rendered marks (a canvas or svg inside their embed)."""
    return tab.locator(".vega-embed canvas, .vega-embed svg.marks").count()


def tooltip_on_hover(tab) -> str:
    """Sweep the pointer over the first chart until a tooltip shows; its text ("" if none)."""
    box = tab.locator(".vega-embed").first.bounding_box()
    for fx in (0.2, 0.35, 0.5, 0.65):
        for fy in (0.15, 0.3, 0.45, 0.6, 0.75):
            tab.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            tab.wait_for_timeout(150)
            tip = tab.locator("#vg-tooltip-element")
            if tip.count() and tip.is_visible() and tip.inner_text().strip():
                return tip.inner_text()
    return ""


def test_launch_the_demo_and_see_every_page(server, page):
    url, store = server
    queue = JobQueue(store)
    visit(page, url, "01-home-empty")
    assert page.get_by_role("button", name="Launch the demo").count() == 1

    visit(page, f"{url}/launch", "02-launch")
    page.get_by_role("button", name="Launch", exact=True).click()
    page.wait_for_selector("h1:has-text('Runs')", timeout=30_000)
    [job] = queue.list()
    assert job.kind == "run" and job.run_id == preset("demo").run_id

    wait_until(lambda: queue.get(job.id).status == "running", 60, "a worker to claim the run")
    wait_until(lambda: (queue.get(job.id).progress or {}).get("level"), 60, "progress")
    settle(page)
    page.screenshot(path=str(SHOTS / "03-runs-training.png"))

    done = wait_until(
        lambda: queue.get(job.id).status in ("done", "failed", "cancelled") and queue.get(job.id),
        TRAIN_TIMEOUT_S,
        "the demo to train",
        every=2,
    )
    assert done.status == "done", done.error
    # The open page queues the analyses (cheapest first); wait for the first ones.
    first = ("distances", "pruned_start")
    wait_until(
        lambda: {j.payload.get("what") for j in queue.list() if j.status == "done"} >= set(first),
        120,
        "the first analyses",
        every=2,
    )

    for name, charts in (
        ("levels", 3),
        ("baselines", 3),
        ("geometry", 2),
        ("spectra", 0),
        ("landscape", 0),
        ("runs", 0),
    ):
        visit(page, f"{url}/{name}", f"04-{name}")
        assert drawn_charts(page) >= charts, name
        if name == "levels":  # the PNG download is made on click, from the chart shown
            with page.expect_download() as info:
                page.locator("[data-testid=stDownloadButton] button", has_text="PNG").first.click()
            assert Path(info.value.path()).read_bytes()[:4] == b"\x89PNG"
            assert info.value.suggested_filename == "levels-train_loss.png"
        if name == "baselines":  # hovering a line shows the exact stored values
            tip = tooltip_on_hover(page)
            assert "epoch" in tip and "train_loss" in tip, tip
    visit(page, url, "05-home")
    assert "IMP Lab" in page.inner_text("h1")
    queue.close()
