"""The pure chart builders: what they plot, how runs are told apart, tooltips, and export."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from app import downloads
from engine.figures import charts, control_charts, export, geometry_charts, palette, spectra_charts
from tests.app import tables as T


def _spec(chart) -> dict:
    return json.loads(downloads.spec_json(chart))


def _walk(node, key):
    """Every value stored under `key` anywhere in a Vega-Lite spec."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)


def _tooltip_fields(spec: dict) -> set[str]:
    out = set()
    for tip in _walk(spec, "tooltip"):
        for t in tip if isinstance(tip, list) else [tip]:
            if isinstance(t, dict) and "field" in t:
                out.add(t["field"])
    return out


def _rows(spec: dict) -> list[pd.DataFrame]:
    return [pd.DataFrame(v) for v in spec.get("datasets", {}).values()]


RUN_A = "lenet_300_100-mnist5k-s0-37baf347e0"
RUN_B = "conv2-mnist5k-s1-d4b2e077f0"


def two_runs(make, **kw) -> pd.DataFrame:
    return pd.concat([make(RUN_A, **kw), make(RUN_B, **kw)], ignore_index=True)


BUILDERS = {
    "level_curves": lambda: charts.level_curves(T.metrics(), "train_loss", log=True),
    "final_vs_sparsity": lambda: charts.final_vs_sparsity(T.summary()),
    "baseline_curves": lambda: charts.baseline_curves(T.metrics(), 3, "test_acc"),
    "baseline_final": lambda: charts.baseline_final(T.summary(), 3),
    "distances": lambda: geometry_charts.distances_chart(T.distances()),
    "trajectory": lambda: geometry_charts.trajectory_chart(T.trajectory(), 2),
    "trajectory_all": lambda: geometry_charts.trajectory_chart(T.trajectory()),
    "pruned_start": lambda: geometry_charts.pruned_start_chart(T.pruned_start(), "test_acc"),
    "interpolation": lambda: geometry_charts.interpolation_chart(T.interpolation(), "train_loss"),
    "barrier": lambda: geometry_charts.barrier_chart(T.barrier()),
    "instability": lambda: control_charts.instability_chart(T.instability()),
    "spectrum": lambda: spectra_charts.spectrum_chart(T.spectra(), 1),
    "spectrum_all": lambda: spectra_charts.spectrum_chart(T.spectra()),
    "density": lambda: spectra_charts.density_chart(T.density(), 2),
    "trace": lambda: spectra_charts.trace_chart(T.trace()),
    "volume": lambda: spectra_charts.volume_chart(T.volume()),
    "landscape": lambda: spectra_charts.landscape_chart(T.landscape()),
}
VALUE_COLUMN = {
    "level_curves": "train_loss",
    "final_vs_sparsity": "test_acc",
    "baseline_curves": "test_acc",
    "baseline_final": "test_acc",
    "distances": "distance",
    "trajectory": "train_loss",
    "trajectory_all": "train_loss",
    "pruned_start": "test_acc",
    "interpolation": "train_loss",
    "barrier": "barrier_test_error",
    "instability": "barrier_test_error",
    "spectrum": "eigenvalue",
    "spectrum_all": "eigenvalue",
    "density": "density",
    "trace": "trace",
    "volume": "log_volume",
    "landscape": "train_loss",
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_chart_is_valid_vega_lite_with_exact_value_tooltips(name):
    spec = _spec(BUILDERS[name]())  # to_dict validates against the Vega-Lite schema
    tips = _tooltip_fields(spec)
    assert VALUE_COLUMN[name] in tips
    assert "run_id" in tips


@pytest.mark.parametrize("name", ["level_curves", "spectrum_all", "trace", "landscape"])
def test_charts_render_to_svg_and_png(name):
    chart = BUILDERS[name]()
    svg = downloads.to_svg(chart)
    assert svg.lstrip().startswith("<svg") and "</svg>" in svg
    png = downloads.to_png(chart, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_level_curves_plot_only_imp_levels_coloured_by_sparsity():
    m = T.metrics(levels=3)
    chart = charts.level_curves(m, "test_acc")
    data = chart.data
    assert set(data["level"]) == {0, 1, 2, 3}
    assert len(data) == len(m[m["branch"] == "imp"])
    spec = _spec(chart)
    colors = [c for c in _walk(spec, "color") if isinstance(c, dict) and "field" in c]
    assert {c["field"] for c in colors} == {"sparsity"}


def test_log_scale_drops_values_a_log_axis_cannot_show():
    m = T.metrics()
    m.loc[m.index[:3], "train_loss"] = 0.0
    chart = charts.level_curves(m, "train_loss", log=True)
    assert (chart.data["train_loss"] > 0).all()
    scales = [s.get("type") for s in _walk(_spec(chart), "scale") if isinstance(s, dict)]
    assert "log" in scales
    linear = charts.level_curves(m, "train_loss", log=False)
    assert (linear.data["train_loss"] == 0).sum() == 3


def test_several_runs_are_told_apart_by_dash_with_short_labels_one_run_is_not():
    one = _spec(charts.level_curves(T.metrics(RUN_A), "train_loss"))
    assert not list(_walk(one, "strokeDash"))
    both = charts.level_curves(two_runs(T.metrics), "train_loss")
    dashes = list(_walk(_spec(both), "strokeDash"))
    assert dashes and dashes[0]["field"] == "run"
    assert set(both.data["run"]) == {
        "s0 #37baf3 · lenet_300_100 · mnist5k",
        "s1 #d4b2e0 · conv2 · mnist5k",
    }


def test_two_runs_instability_is_told_apart_by_dash_in_percent():
    one = _spec(control_charts.instability_chart(T.instability(RUN_A)))
    assert not list(_walk(one, "strokeDash"))
    both = control_charts.instability_chart(two_runs(T.instability))
    dashes = list(_walk(_spec(both), "strokeDash"))
    assert dashes and dashes[0]["field"] == "run"
    svg = export.to_svg(both)
    assert "s1 #d4b2e0 · conv2 · mnist5k" in svg
    assert all(label.endswith("%") for label in _axis_labels(svg, "Y")), _axis_labels(svg, "Y")


def test_two_runs_loss_matched_points_are_told_apart_by_dash():
    def points(run_id: str) -> pd.DataFrame:
        v = T.volume(run_id).assign(loss=0.01, weights="min_L (solution)")
        return v[["run_id", "level", "weights", "loss", "log_volume", "k"]]

    one = _spec(control_charts.volume_vs_loss(points(RUN_A), by="run_id"))
    assert not list(_walk(one, "strokeDash"))
    both = control_charts.volume_vs_loss(two_runs(points), by="run_id")
    dashes = list(_walk(_spec(both), "strokeDash"))
    assert dashes and dashes[0]["field"] == "run"
    assert "s1 #d4b2e0 · conv2 · mnist5k" in export.to_svg(both)


def test_baseline_curves_compare_every_method_at_the_chosen_level():
    chart = charts.baseline_curves(T.metrics(levels=3), 3, "train_loss")
    assert set(chart.data["method"]) == {"IMP-WR", "one-shot", "FT", "RIPN", "RPN_1", "RPN_2"}
    assert set(chart.data["level"]) == {3}
    imp_only = charts.baseline_curves(T.metrics(levels=3), 1, "train_loss")
    assert set(imp_only.data["method"]) == {"IMP-WR"}


def test_final_vs_sparsity_line_joins_imp_levels_and_marks_baselines():
    spec = _spec(charts.final_vs_sparsity(T.summary(levels=3)))
    frames = _rows(spec)
    line = next(f for f in frames if set(f["branch"]) == {"imp"})
    assert sorted(line["level"]) == [0, 1, 2, 3]
    points = next(f for f in frames if len(set(f["branch"])) > 1)
    assert len(points) == 4 + 5


def test_distance_labels_name_both_targets():
    chart = geometry_charts.distances_chart(T.distances())
    assert set(chart.data["target"]) == set(palette.DISTANCES)


def test_trajectory_and_spectrum_facet_only_the_levels_they_have_with_sparsity():
    sparsity = {1: 0.2, 2: 0.36, 3: 0.488}
    for chart in (
        geometry_charts.trajectory_chart(T.trajectory(levels=3), sparsity=sparsity),
        spectra_charts.spectrum_chart(T.spectra(levels=3), sparsity=sparsity),
    ):
        spec = _spec(chart)
        assert spec["facet"]["field"] == "level_name"
        # one panel per level with data, in level order, none empty
        assert spec["facet"]["sort"] == [
            "level 1 · 20.0% sparse",
            "level 2 · 36.0% sparse",
            "level 3 · 48.8% sparse",
        ]
    one = spectra_charts.spectrum_chart(T.spectra(), level=2, sparsity=sparsity)
    assert set(one.data["level"]) == {2}
    assert one.to_dict()["title"] == "top-10 Hessian eigenvalues (Fig. 5), level 2 · 36.0% sparse"


def test_spectrum_axis_is_log_only_when_every_eigenvalue_is_positive():
    positive = T.spectra()
    positive = positive[positive["eigenvalue"] > 0]
    types = lambda c: {s.get("type") for s in _walk(_spec(c), "scale") if isinstance(s, dict)}  # noqa: E731
    assert "log" in types(spectra_charts.spectrum_chart(positive, 1))
    assert "symlog" in types(spectra_charts.spectrum_chart(T.spectra(), 1))  # has negative values


def test_trace_error_bars_span_one_standard_error():
    chart = spectra_charts.trace_chart(T.trace())
    d = chart.data
    assert ((d["high"] - d["low"]) == 2 * d["stderr"]).all()


def test_landscape_cells_tile_the_grid_and_runs_get_panels():
    chart = spectra_charts.landscape_chart(T.landscape(n=5))
    d = chart.data
    assert (d["x1"] - d["x0"]).round(9).eq(0.5).all()  # grid spacing of linspace(-1, 1, 5)
    assert (d["x0"] + d["x1"]).div(2).round(9).equals(d["x"].round(9))
    both = _spec(spectra_charts.landscape_chart(two_runs(T.landscape)))
    assert both["facet"]["field"] == "run"


def test_builders_accept_empty_tables():
    for name, make in T.ANALYSES.items():
        empty = make().iloc[0:0]
        builder = {
            "distances": geometry_charts.distances_chart,
            "trajectory": geometry_charts.trajectory_chart,
            "pruned_start": geometry_charts.pruned_start_chart,
            "spectra": spectra_charts.spectrum_chart,
            "volume": spectra_charts.volume_chart,
            "trace": spectra_charts.trace_chart,
            "density": spectra_charts.density_chart,
            "interpolation": geometry_charts.interpolation_chart,
            "barrier": geometry_charts.barrier_chart,
            "landscape": spectra_charts.landscape_chart,
        }[name]
        _spec(builder(empty))
    _spec(charts.level_curves(T.metrics().iloc[0:0]))


def test_sweep_band_draws_mean_line_and_band():
    import pandas as pd

    from engine.groups import band

    table = pd.DataFrame(
        {
            "group": ["a", "a", "b", "b"],
            "level": [1, 1, 1, 1],
            "sparsity": [0.2] * 4,
            "test_acc": [0.9, 0.8, 0.7, 0.7],
        }
    )
    df = band(table, ["group", "level", "sparsity"], "test_acc")
    a = df[df["group"] == "a"].iloc[0]
    assert a["mean"] == pytest.approx(0.85) and a["high"] - a["low"] == pytest.approx(
        2 * 0.0707, abs=1e-3
    )
    spec = charts.sweep_band(df, "sparsity", "test_acc").to_dict()
    assert spec["title"] == "test accuracy: mean and ± 1 s.d. over seeds"
    marks = [
        layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
        for layer in spec["layer"]
    ]
    assert marks == ["area", "line"]


def test_a_log_axis_draws_two_grid_lines_a_decade_not_nine():
    """Fig. 5 over five decades of eigenvalues: grid lines at each power of ten and 3x it,
    where Vega's default draws one at every integer multiple and crowds the panel."""
    df = T.spectra(levels=1, k=100)
    df["eigenvalue"] = 10.0 ** (1 - 4.5 * (df["rank"] - 1) / 99)  # 10 down to 3.2e-4
    svg = export.to_svg(spectra_charts.spectrum_chart(df))
    grids = re.findall(r'<g class="mark-rule role-axis-grid"[^>]*>(.*?)</g>', svg, flags=re.S)
    lines = max(g.count("<line") for g in grids)  # the y axis's (the x axis has fewer)
    assert 6 <= lines <= 2 * 5 + 1  # five decades on the niced domain, two lines each
    assert ">0.001</text>" in svg and ">0.003</text>" in svg  # still labelled at each line


def _axis_labels(svg: str, axis: str) -> list[str]:
    """The tick labels of the chart's `axis` ("X" or "Y") as drawn, in order."""
    start = svg.index(f'aria-label="{axis}-axis')
    after = [svg.find(f'aria-roledescription="{r}"', start + 1) for r in ("axis", "legend")]
    end = min([i for i in after if i > 0] or [len(svg)])
    return re.findall(r">([^<>]+)</text>", svg[start:end])[:-1]  # the last is the title


@pytest.mark.parametrize("epochs", [2, 3, 4, 12])
def test_a_short_recipes_epoch_axis_has_one_label_per_whole_epoch(epochs):
    """Vega-Lite ignores tickMinStep on domains under 5 (vega-lite#9034): three epochs came
    out as "1 2 2 3 3"."""
    svg = export.to_svg(charts.level_curves(T.metrics(epochs=epochs), "train_loss"))
    labels = _axis_labels(svg, "X")
    assert len(labels) == len(set(labels)) and all(s.isdigit() for s in labels), labels
    if epochs < 5:
        assert labels == [str(e) for e in range(1, epochs + 1)]
    else:  # a longer axis is labelled at a nice step, not at every whole number
        assert 3 <= len(labels) <= 8


def test_a_faceted_rank_axis_keeps_its_labels_apart():
    svg = export.to_svg(spectra_charts.spectrum_chart(T.spectra(k=100)))
    labels = _axis_labels(svg, "X")
    assert labels[: labels.index("rank")] == ["0", "20", "40", "60", "80", "100"], labels


def test_the_sparsity_legend_is_labelled_at_the_levels_sparsities():
    svg = export.to_svg(charts.level_curves(T.metrics(levels=3), "train_loss"))
    labels = re.findall(r">(\d+%)</text>", svg)
    assert labels == ["0%", "20%", "36%", "49%"]  # 1 − 0.8^L, L = 0..3; no "100%"
