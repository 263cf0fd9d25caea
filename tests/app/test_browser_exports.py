"""Every download holds what the page plots, in a real browser.

Headless Chromium opens each results page of the app over a store with two finished short
demo runs and every analysis, clicks every CSV, PNG and SVG button, and checks the files: the
SVG draws one marker per row of the CSV (8 of 9 exports were empty frames once), the PNG is
byte for byte the image the engine makes of the same table outside the app, or at least
shows coloured marks; then it queues the Report, runs the report job and checks each figure
the page then shows has marks. The browser's console must stay clean throughout.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd
import pytest

from engine.analysis import jobs as analyses
from engine.figures import charts, export
from engine.imp import run_imp
from engine.jobs.worker import run_worker
from engine.results import metrics_table, summary_table
from engine.store import Store
from tests.app.browser_console import CHROMIUM, chromium, download, serve, watch
from tests.app.conftest import QUICK, short_demo
from tests.app.svgmarks import marks

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]
PAGES = ("levels", "baselines", "geometry", "spectra", "landscape")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def two_runs(demo_store, tmp_path_factory) -> tuple[Path, list[str]]:
    """The demo store plus the same short demo with seed 1, analysed the same way."""
    root = tmp_path_factory.mktemp("exports") / "store"
    shutil.copytree(demo_store, root)
    store = Store(root)
    second = short_demo().replace(seed=1)
    run_imp(second, store, "cpu")
    for what, options in QUICK.items():
        analyses.execute(store, {"run_id": second.run_id, "what": what, **options}, "cpu")
    store.close()
    return root, [short_demo().run_id, second.run_id]


def coloured_pixels(png: bytes) -> int:
    """Pixels of a clearly saturated colour: marks, not the grey frame, text or grid."""
    import numpy as np
    from PIL import Image

    hsv = np.asarray(Image.open(io.BytesIO(png)).convert("HSV"))
    return int(((hsv[..., 1] > 90) & (hsv[..., 2] > 60)).sum())


def settle(tab) -> None:
    tab.wait_for_selector("h1", timeout=60_000)
    tab.wait_for_timeout(500)
    tab.wait_for_selector("[data-testid=stStatusWidget]", state="detached", timeout=90_000)
    tab.wait_for_timeout(1000)


def outside_the_app(name: str, store: Store, runs: list[str]) -> bytes | None:
    """The PNG the engine makes of the Levels and Baselines charts from the store alone."""
    metrics = pd.concat([metrics_table(store, r) for r in runs], ignore_index=True)
    summary = pd.concat([summary_table(store, r) for r in runs], ignore_index=True)
    imp = metrics[metrics["branch"] == "imp"]
    level = int(metrics.loc[metrics["branch"] != "imp", "level"].max())
    at, final = metrics[metrics["level"] == level], summary[summary["level"] == level]
    made = {
        "levels-train_loss.png": lambda: charts.level_curves(imp, "train_loss", True),
        "levels-test_acc.png": lambda: charts.level_curves(imp, "test_acc"),
        "final-test_acc-vs-sparsity.png": lambda: charts.final_vs_sparsity(summary, "test_acc"),
        f"baselines-L{level}-loss.png": lambda: charts.baseline_curves(
            at, level, "train_loss", True
        ),
        f"baselines-L{level}-acc.png": lambda: charts.baseline_curves(at, level, "test_acc"),
        f"baselines-L{level}-final.png": lambda: charts.baseline_final(final, level),
    }
    return export.to_png(made[name]()) if name in made else None


def test_every_download_and_report_figure_holds_the_plotted_marks(two_runs):
    root, runs = two_runs
    query = "?" + "&".join(f"runs={r}" for r in runs)
    checked: dict[str, int] = {}
    compared = []
    with serve(root) as url, chromium() as browser:
        tab = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
        problems = watch(tab)
        store = Store(root)
        for page in PAGES:
            tab.goto(f"{url}/{page}{query}")
            settle(tab)
            SHOTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(SHOTS / f"exports-{page}.png"))
            n = tab.locator("[data-testid=stDownloadButton] button", has_text="SVG").count()
            assert n >= 1, page
            for i in range(n):
                _, csv = download(tab, "CSV", i)
                rows = len(pd.read_csv(io.BytesIO(csv)))
                svg_name, svg = download(tab, "SVG", i)
                counted = marks(svg.decode())
                per_row = counted["circle"] or counted["point"] or counted["rect mark"]
                assert rows > 0 and per_row == rows, (svg_name, rows, counted)
                png_name, png = download(tab, "PNG", i)
                assert png[:4] == b"\x89PNG" and coloured_pixels(png) > 500, png_name
                reference = outside_the_app(png_name, store, runs)
                if reference is not None:
                    assert png == reference, png_name
                    compared.append(png_name)
                checked[svg_name] = rows
        assert len(compared) == 6, compared

        tab.goto(f"{url}/report{query}")
        settle(tab)
        tab.get_by_role("button", name="Build report").click()
        tab.get_by_text("the report appears here when it is done").wait_for(timeout=60_000)
        assert run_worker(root, "cpu", max_jobs=1, worker_id="w1") == 1  # the report job
        tab.wait_for_selector("[data-testid=stImage] img", timeout=60_000)  # the page redraws
        settle(tab)
        tab.screenshot(path=str(SHOTS / "exports-report.png"))
        images = tab.locator("[data-testid=stImage] img")
        assert images.count() >= 8
        for i in range(images.count()):
            src = images.nth(i).get_attribute("src")
            png = tab.request.get(src if src.startswith("http") else f"{url}{src}").body()
            assert coloured_pixels(png) > 500, f"report figure {i} has no marks"
        store.close()
        assert not problems, problems.lines()
    assert len(checked) >= 14, sorted(checked)


def slider_text(tab) -> str:
    """What the smoothing slider shows as its value (its thumb's label)."""
    return tab.locator("[data-testid=stSlider]").first.inner_text()


def chart_image(tab, i: int = 0) -> bytes:
    return tab.locator(".vega-embed").nth(i).screenshot()


def test_grouping_smoothing_and_zoom_are_driven_and_a_shared_link_restores_them(two_runs):
    root, runs = two_runs
    query = "?" + "&".join(f"runs={r}" for r in runs)
    with serve(root) as url, chromium() as browser:
        tab = browser.new_page(viewport={"width": 1400, "height": 1400})
        problems = watch(tab)
        tab.goto(f"{url}/levels{query}")
        settle(tab)
        before = chart_image(tab)
        tab.get_by_text("Group runs").click()
        settle(tab)
        slider = tab.get_by_role("slider").first
        slider.focus()
        for _ in range(2):  # 0 -> 0.3 -> 0.6
            tab.keyboard.press("ArrowRight")
        settle(tab)
        assert "0.6" in slider_text(tab)
        grouped = chart_image(tab)
        assert grouped != before
        link = tab.url
        assert "group=1" in link and "smooth=0.6" in link, link

        box = tab.locator(".vega-embed").first.bounding_box()
        tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 3)
        tab.mouse.wheel(0, -400)  # zoom in: the scales follow the wheel
        tab.wait_for_timeout(800)
        zoomed = chart_image(tab)
        assert zoomed != grouped
        tab.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 3)
        tab.wait_for_timeout(800)  # double-click resets the zoom
        assert chart_image(tab) != zoomed

        other = browser.new_page(viewport={"width": 1400, "height": 1400})
        other.goto(link)
        settle(other)
        assert other.get_by_role("switch", name="Group runs").is_checked()
        assert "0.6" in slider_text(other)
        SHOTS.mkdir(parents=True, exist_ok=True)
        other.screenshot(path=str(SHOTS / "compare-levels-grouped.png"))
        assert not problems, problems.lines()
