"""What a reader of the exported figures sees: marks in every file (also while Streamlit
draws charts in other threads), one colour per series everywhere, a visible level 0,
legends and ticks that are not cut or garbled, and runs told apart."""

from __future__ import annotations

import json
import re
import threading

import altair as alt
import pandas as pd
import pytest
from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

from engine.figures import chartkit, charts, export, geometry_charts, palette, spectra_charts
from engine.figures.chartkit import run_label
from tests.app import tables as T
from tests.app.svgmarks import data_marks, marks
from tests.app.test_charts import BUILDERS, RUN_A, RUN_B, two_runs

TWO_RUNS = {
    "level_curves": lambda: charts.level_curves(two_runs(T.metrics), "train_loss"),
    "final_vs_sparsity": lambda: charts.final_vs_sparsity(two_runs(T.summary)),
    "baseline_curves": lambda: charts.baseline_curves(two_runs(T.metrics), 3),
    "baseline_final": lambda: charts.baseline_final(two_runs(T.summary), 3),
    "distances": lambda: geometry_charts.distances_chart(two_runs(T.distances)),
    "trajectory": lambda: geometry_charts.trajectory_chart(two_runs(T.trajectory)),
    "pruned_start": lambda: geometry_charts.pruned_start_chart(two_runs(T.pruned_start)),
    "interpolation": lambda: geometry_charts.interpolation_chart(two_runs(T.interpolation)),
    "barrier": lambda: geometry_charts.barrier_chart(two_runs(T.barrier)),
    "spectrum": lambda: spectra_charts.spectrum_chart(two_runs(T.spectra)),
    "density": lambda: spectra_charts.density_chart(two_runs(T.density), 2),
    "trace": lambda: spectra_charts.trace_chart(two_runs(T.trace)),
    "volume": lambda: spectra_charts.volume_chart(two_runs(T.volume)),
    "landscape": lambda: spectra_charts.landscape_chart(two_runs(T.landscape)),
}


def _rows(spec: dict) -> int:
    return sum(len(v) for v in spec.get("datasets", {}).values())


def _texts(svg: str) -> list[str]:
    return [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _series_colours(spec: dict) -> dict[str, set[str]]:
    """label -> the colours the spec's colour scales give it."""
    out: dict[str, set[str]] = {}
    for node in _walk(spec):
        scale = node.get("scale") if "field" in node else None
        if isinstance(scale, dict) and isinstance(scale.get("range"), list) and "domain" in scale:
            for label, colour in zip(scale["domain"], scale["range"], strict=True):
                out.setdefault(label, set()).add(colour)
    return out


def test_export_keeps_its_data_while_streamlit_draws_charts_in_other_threads():
    """Streamlit swaps Altair's global data transformer for one that keeps the rows out of
    the spec while it draws; exports made at the same moment used to come out empty."""
    chart = charts.level_curves(T.metrics(), "train_loss")
    expected = _rows(export.spec_dict(chart))
    assert expected == len(chart.data) > 0
    results: list[int] = []
    stop = threading.Event()

    def streamlit_draws():
        while not stop.is_set():
            _convert_altair_to_vega_lite_spec(spectra_charts.spectrum_chart(T.spectra()))

    def export_many():
        for _ in range(40):
            results.append(_rows(export.spec_dict(chart)))

    drawers = [threading.Thread(target=streamlit_draws) for _ in range(3)]
    exporters = [threading.Thread(target=export_many) for _ in range(3)]
    for t in drawers + exporters:
        t.start()
    for t in exporters:
        t.join()
    stop.set()
    for t in drawers:
        t.join()
    assert results == [expected] * 120
    assert alt.data_transformers.active == "default"  # exporting changed no global


def test_export_ignores_a_global_transformer_that_drops_data():
    alt.data_transformers.register("drops", lambda data, **_: {"name": "gone"})
    chart = charts.baseline_final(T.summary(), 3)
    with alt.data_transformers.enable("drops"):
        spec = export.spec_dict(chart)
        svg = export.to_svg(chart)
    assert _rows(spec) == len(chart.data) == 6
    assert marks(svg)["point"] == 6


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_exported_svg_draws_a_mark_per_row(name):
    chart = BUILDERS[name]()
    svg = export.to_svg(chart)
    # the largest table the chart draws: every row of it gets a marker
    rows = max(len(v) for v in export.spec_dict(chart)["datasets"].values())
    counted = marks(svg)
    per_row = counted["circle"] or counted["point"] or counted["rect mark"]
    assert per_row == rows, (name, counted)
    assert data_marks(svg) >= rows


def test_png_export_is_the_image_of_the_spec():
    chart = geometry_charts.distances_chart(T.distances())
    png = export.to_png(chart, scale=1)
    import vl_convert as vlc

    assert png == vlc.vegalite_to_png(json.dumps(export.spec_dict(chart)), scale=1)
    empty = export.to_png(geometry_charts.distances_chart(T.distances().iloc[0:0]), scale=1)
    assert len(png) > len(empty) * 1.2  # lines and points, not just the frame


def test_every_series_has_one_colour_on_every_chart_and_in_the_report(tmp_path):
    from engine.figures import report

    seen: dict[str, set[str]] = {}
    specs = [export.spec_dict(make()) for make in [*BUILDERS.values(), *TWO_RUNS.values()]]
    tables = {
        "metrics": T.metrics().assign(group="g"),
        "summary": T.summary().assign(group="g"),
        "distances": T.distances().assign(group="g"),
        "trajectory": T.trajectory().assign(group="g"),
        "spectra": T.spectra().assign(group="g"),
        "volume": T.volume().assign(group="g"),
    }
    figures = report._figures(tables, {"g": 3})
    specs += [export.spec_dict(chart) for _, _, chart in figures.values()]
    for spec in specs:
        for label, colours in _series_colours(spec).items():
            seen.setdefault(label, set()).update(colours)
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}
    assert seen["IMP-WR"] == seen[palette.SOLUTION] == seen["‖start_L − min_L‖"]
    assert seen["level L"] == seen["IMP-WR"]
    orange = seen[palette.PROJECTED]
    assert seen["‖start_L − Pr_L(min_(L−1))‖"] == seen["level L−1 projected on m_L"] == orange
    assert seen["Pr_L(min_(L−1)) → min_L"] == orange
    methods = [c for m in palette.METHODS for c in seen[m]]
    assert len(set(methods)) == 6 and orange.isdisjoint(methods)


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_every_level_line_including_level_0_stands_out_from_the_white_page():
    svg = export.to_svg(charts.level_curves(T.metrics(levels=10), "train_loss"))
    strokes = re.findall(
        r'aria-roledescription="line mark"[^>]*stroke="rgb\((\d+), (\d+), (\d+)\)"', svg
    )
    assert len(strokes) == 11
    contrast = [1.05 / (_luminance(tuple(map(int, s))) + 0.05) for s in strokes]
    assert min(contrast) >= 3.0, contrast  # WCAG's minimum for graphics against white


@pytest.mark.parametrize("name", list(TWO_RUNS))
def test_no_legend_label_or_title_is_cut_short(name):
    texts = _texts(export.to_svg(TWO_RUNS[name]()))
    assert texts and not [t for t in texts if "…" in t]


def test_several_runs_get_a_legend_of_short_run_labels_on_every_chart():
    for name, make in TWO_RUNS.items():
        texts = set(_texts(export.to_svg(make())))
        assert {run_label(RUN_A), run_label(RUN_B)} <= texts, name
        assert RUN_A not in texts, name


def test_ticks_are_short_and_epochs_whole():
    svg = export.to_svg(charts.level_curves(T.metrics(epochs=2), "test_acc"))
    texts = _texts(svg)
    assert not [t for t in texts if re.fullmatch(r"-?\d+\.\d{4,}", t)], texts
    assert "1.5" not in texts and {"1", "2"} <= set(texts)
    assert any(t.endswith("%") for t in texts)  # accuracy as a percentage
    assert "log training loss" not in _texts(export.to_svg(BUILDERS["level_curves"]()))


def test_titles_name_level_sparsity_and_k():
    m, s = T.metrics(levels=3), T.summary(levels=3)
    assert charts.baseline_curves(m, 3).to_dict()["title"] == (
        "test accuracy at level 3 · 48.8% sparse"
    )
    assert "level 3 · 48.8% sparse" in charts.baseline_final(s, 3).to_dict()["title"]
    assert spectra_charts.volume_chart(T.volume()).to_dict()["title"].endswith("top-10 eigenvalues")
    sparsity = chartkit.sparsity_by_level(s)
    assert sparsity == pytest.approx({0: 0.0, 1: 0.2, 2: 0.36, 3: 0.488})
    mixed = pd.concat([s, s.assign(run_id="x", sparsity=s["sparsity"] / 2)])
    assert chartkit.sparsity_by_level(mixed) == {0: 0.0}  # runs disagree: no sparsity shown


def test_default_interpolation_paths_get_the_papers_names():
    assert geometry_charts.path_parts("imp:3:projected_prev->imp:3:solution") == (
        3,
        "Pr_L(min_(L−1)) → min_L",
    )
    assert geometry_charts.path_parts("imp:2:solution->imp:3:solution") == (3, "min_(L−1) → min_L")
    assert geometry_charts.path_parts("ft:1:solution->imp:3:solution") == (
        3,
        "ft:1:solution->imp:3:solution",
    )
    assert geometry_charts.path_parts("not a path") == (None, "not a path")


def test_run_labels_shorten_like_the_sidebar():
    assert (
        run_label("lenet_300_100-mnist5k-s12-37baf347e0") == "s12 #37baf3 · lenet_300_100 · mnist5k"
    )
    assert run_label("odd-id") == "odd-id"
