"""End to end in a real browser: Debian's Chromium drives `streamlit run app/main.py` on a
free loopback port with its embedded worker, launches the demo from the Launch page, waits for
it to train, opens every page and checks that the charts drew. Screenshots of every page go
to artifacts/screenshots/ (look at them when a change touches the layout)."""

from __future__ import annotations

import pytest

from engine.jobs.queue import JobQueue
from engine.presets import preset
from tests.app.browser_console import (
    CHROMIUM,
    ROOT,
    chromium,
    download,
    serve,
    wait_until,
    watch,
)

SHOTS = ROOT / "artifacts" / "screenshots"
TRAIN_TIMEOUT_S = 300  # the demo trains in about 30 s on 2 idle cores

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with its embedded worker on a free loopback port over an empty store."""
    store = tmp_path_factory.mktemp("browser-store")
    with serve(store, worker=True) as url:
        yield url, store


@pytest.fixture(scope="module")
def browser_page(server):
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1400, "height": 1800})
        yield tab, watch(tab)


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


def test_launch_the_demo_and_see_every_page(server, browser_page):
    url, store = server
    page, problems = browser_page
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
            filename, png = download(page, "PNG")
            assert png[:4] == b"\x89PNG" and filename == "levels-train_loss.png"
        if name == "baselines":  # hovering a line shows the exact stored values
            tip = tooltip_on_hover(page)
            assert "epoch" in tip and "train_loss" in tip, tip
    visit(page, url, "05-home")
    assert "IMP Lab" in page.inner_text("h1")
    assert not problems, problems.lines()  # a clean console while training and after
    queue.close()
