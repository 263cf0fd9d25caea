"""Pure chart builders: a tidy table in, an Altair chart out (no Streamlit here).

Each builder takes the table that `engine.results` or `engine.analysis.tables` returns (rows
of several runs may be mixed: runs are told apart by dash or facet), filters nothing the page
did not ask for, and puts every column that identifies a point into its tooltip so hovering
shows the exact stored values.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from engine.config import METHOD_LABELS

METRIC_TITLES = {
    "train_loss": "training loss",
    "test_loss": "test loss",
    "train_acc": "training accuracy",
    "test_acc": "test accuracy",
    "barrier_train_loss": "loss barrier (train)",
    "barrier_test_error": "error barrier (test)",
}
POINT_LABELS = {
    "solution": "min_L (solution)",
    "projected_prev": "Pr_L(min_(L−1))",
}
DISTANCE_LABELS = {
    "projected_prev": "‖start_L − Pr_L(min_(L−1))‖",
    "solution": "‖start_L − min_L‖",
}
SPARSITY_SCALE = alt.Scale(scheme="viridis", domain=[0, 1], reverse=True)


def title(column: str) -> str:
    return METRIC_TITLES.get(column, column.replace("_", " "))


def _tooltip(df: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if c in df.columns]


def _several_runs(df: pd.DataFrame) -> bool:
    return "run_id" in df.columns and df["run_id"].nunique() > 1


def _run_dash(df: pd.DataFrame) -> dict:
    """Runs overlaid in one chart are told apart by the line's dash pattern."""
    return {"strokeDash": alt.StrokeDash("run_id:N", title="run")} if _several_runs(df) else {}


def _run_shape(df: pd.DataFrame) -> dict:
    return {"shape": alt.Shape("run_id:N", title="run")} if _several_runs(df) else {}


def _y(column: str, log: bool = False, **kw) -> alt.Y:
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    return alt.Y(f"{column}:Q", title=("log " if log else "") + title(column), scale=scale, **kw)


def _positive(df: pd.DataFrame, column: str, log: bool) -> pd.DataFrame:
    """A log axis cannot show zeros or negatives; drop them rather than break the chart."""
    return df[df[column] > 0] if log else df


def _lines_with_points(
    df: pd.DataFrame,
    x: alt.X,
    y: alt.Y,
    tooltip: list[str],
    under: tuple[alt.Chart, ...] = (),
    colour_points: bool = True,
    **encodings,
) -> alt.LayerChart:
    """Lines, plus points that carry the tooltip (a line's own tooltip shows one datum only);
    `under` are layers drawn beneath them from the same data. Points coloured by a continuous
    scale would turn its gradient legend into symbols, so those pass `colour_points=False`."""
    line = alt.Chart().mark_line(strokeWidth=1.5).encode(x, y, **encodings)
    hover = alt.selection_point(on="pointerover", nearest=True, empty=False, clear="pointerout")
    points = (
        alt.Chart()
        .mark_circle(size=40)
        .encode(
            x,
            y,
            opacity=alt.condition(hover, alt.value(1.0), alt.value(0.0)),
            tooltip=tooltip,
            **({"color": encodings["color"]} if colour_points and "color" in encodings else {}),
        )
    )
    return alt.layer(*under, line, points.add_params(hover), data=df)


def _points_named(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(weights=df["point"].map(lambda p: POINT_LABELS.get(p, p)))


def with_method(df: pd.DataFrame) -> pd.DataFrame:
    """Add the paper's name of each branch (IMP-WR, one-shot, FT, RIPN, RPN_1, RPN_2)."""
    return df.assign(method=df["branch"].map(lambda b: METHOD_LABELS.get(b, b)))


def _method_color() -> alt.Color:
    methods = list(METHOD_LABELS.values())
    return alt.Color("method:N", title="method", scale=alt.Scale(domain=methods), sort=methods)


# --- Fig. 1: curves per level -------------------------------------------------------------
def level_curves(metrics: pd.DataFrame, y: str = "train_loss", log: bool = False) -> alt.Chart:
    """One line per IMP level against epoch, coloured by sparsity (Fig. 1)."""
    df = _positive(metrics[metrics["branch"] == "imp"], y, log)
    df = df[["run_id", "level", "sparsity", "epoch", y]]
    return _lines_with_points(
        df,
        alt.X("epoch:Q", title="epoch"),
        _y(y, log),
        _tooltip(df, ["run_id", "level", "sparsity", "epoch", y]),
        colour_points=False,
        color=alt.Color("sparsity:Q", title="sparsity", scale=SPARSITY_SCALE, legend=_pct()),
        detail=alt.Detail(["run_id:N", "level:O"]),
        **_run_dash(df),
    ).properties(title=f"{title(y)} per level")


def _pct() -> alt.Legend:
    return alt.Legend(format=".0%", type="gradient")


def final_vs_sparsity(summary: pd.DataFrame, y: str = "test_acc") -> alt.Chart:
    """Final accuracy of every level against its sparsity; baselines as their own markers."""
    df = with_method(summary)[["run_id", "branch", "method", "level", "sparsity", y]]
    x = alt.X("sparsity:Q", title="sparsity (weights pruned)", axis=alt.Axis(format="%"))
    tip = ["run_id", "method", "level", "sparsity", y]
    imp = df[df["branch"] == "imp"]
    line = (
        alt.Chart(imp)
        .mark_line(color="#777", strokeWidth=1)
        .encode(x, _y(y), detail="run_id:N", **_run_dash(imp))
    )
    points = (
        alt.Chart(df)
        .mark_point(filled=True, size=70)
        .encode(
            x,
            _y(y),
            color=_method_color(),
            shape=alt.Shape("method:N", scale=alt.Scale(domain=list(METHOD_LABELS.values()))),
            tooltip=tip,
        )
    )
    return (line + points).properties(title=f"final {title(y)} against sparsity")


# --- Fig. 2: baselines --------------------------------------------------------------------
def baseline_curves(
    metrics: pd.DataFrame, level: int, y: str = "test_acc", log: bool = False
) -> alt.Chart:
    """IMP-WR at `level` against the baselines trained to the same sparsity (Fig. 2)."""
    df = _positive(with_method(metrics[metrics["level"] == level]), y, log)
    df = df[["run_id", "method", "level", "sparsity", "epoch", y]]
    return _lines_with_points(
        df,
        alt.X("epoch:Q", title="epoch"),
        _y(y, log),
        _tooltip(df, ["run_id", "method", "level", "sparsity", "epoch", y]),
        color=_method_color(),
        detail="run_id:N",
        **_run_dash(df),
    ).properties(title=f"{title(y)} at level {level}")


def baseline_final(summary: pd.DataFrame, level: int, y: str = "test_acc") -> alt.Chart:
    """Final value of each method at `level`: a dot per method (and run) on a shared axis."""
    df = with_method(summary[summary["level"] == level])
    df = df[["run_id", "method", "level", "sparsity", y]]
    return (
        alt.Chart(df)
        .mark_point(filled=True, size=120)
        .encode(
            alt.X(f"{y}:Q", title=f"final {title(y)}", scale=alt.Scale(zero=False)),
            alt.Y("method:N", title=None, sort=list(METHOD_LABELS.values())),
            color=_method_color(),
            tooltip=["run_id", "method", "level", "sparsity", y],
            **_run_shape(df),
        )
        .properties(title=f"final {title(y)} at level {level}")
    )


# --- Geometry (Figs. 3, 4) ----------------------------------------------------------------
def distances_chart(distances: pd.DataFrame) -> alt.Chart:
    """Distance from each level's start to the projected previous solution and to its own."""
    df = distances.assign(target=distances["to"].map(lambda t: DISTANCE_LABELS.get(t, t)))
    df = df[["run_id", "branch", "level", "norm", "normalised", "target", "distance"]]
    return _lines_with_points(
        df,
        alt.X("level:Q", title="level L", axis=alt.Axis(tickMinStep=1)),
        alt.Y("distance:Q", title="distance"),
        ["run_id", "branch", "level", "norm", "normalised", "target", "distance"],
        color=alt.Color("target:N", title="distance"),
        detail="run_id:N",
        **_run_dash(df),
    ).properties(title="distances from the start of each level (Fig. 3)")


def trajectory_chart(trajectory: pd.DataFrame, level: int | None = None) -> alt.Chart:
    """Log training loss of level L and of level L−1's trajectory projected on L (Fig. 4)."""
    df = trajectory if level is None else trajectory[trajectory["level"] == level]
    df = _positive(df, "train_loss", True)[["run_id", "level", "epoch", "series", "train_loss"]]
    chart = _lines_with_points(
        df,
        alt.X("epoch:Q", title="epoch"),
        _y("train_loss", log=True),
        ["run_id", "level", "series", "epoch", "train_loss"],
        color=alt.Color("series:N", title="weights"),
        detail="run_id:N",
        **_run_dash(df),
    )
    if level is None:
        return chart.properties(width=220, height=160).facet(
            facet=alt.Facet("level:O", title="level L"), columns=4
        )
    return chart.properties(title=f"projected trajectory, level {level} (Fig. 4)")


def pruned_start_chart(pruned: pd.DataFrame, y: str = "train_loss") -> alt.Chart:
    """Loss or accuracy per level at each evaluated point (e.g. the projected solution)."""
    df = _points_named(pruned)[["run_id", "branch", "level", "weights", y]]
    return _lines_with_points(
        df,
        alt.X("level:Q", title="level L", axis=alt.Axis(tickMinStep=1)),
        _y(y),
        ["run_id", "branch", "level", "weights", y],
        color=alt.Color("weights:N", title="weights"),
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **_run_dash(df),
    ).properties(title=f"{title(y)} of the projected solution")


def interpolation_chart(interp: pd.DataFrame, y: str = "test_acc") -> alt.Chart:
    """Loss or accuracy along linear paths between two weight vectors (alpha 0 → 1)."""
    df = interp[["run_id", "path", "alpha", y]]
    return _lines_with_points(
        df,
        alt.X("alpha:Q", title="interpolation α"),
        _y(y),
        ["run_id", "path", "alpha", y],
        color=alt.Color("path:N", title="path"),
        detail="run_id:N",
        **_run_dash(df),
    ).properties(title=f"{title(y)} along interpolation paths")


def barrier_chart(barriers: pd.DataFrame, y: str = "barrier_test_error") -> alt.Chart:
    """Height of the barrier on each interpolation path."""
    df = barriers[["run_id", "path", y]]
    offset = {"xOffset": alt.XOffset("run_id:N", title="run")} if _several_runs(df) else {}
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            alt.X("path:N", title="path", axis=alt.Axis(labelAngle=-30)),
            alt.Y(f"{y}:Q", title=title(y)),
            color=alt.Color("path:N", legend=None),
            tooltip=["run_id", "path", y],
            **offset,
        )
        .properties(title=title(y))
    )


# --- Spectra (Fig. 5) ---------------------------------------------------------------------
def _facet_levels(chart: alt.LayerChart, level: int | None, name: str) -> alt.Chart:
    if level is None:
        return chart.properties(width=220, height=160).facet(
            facet=alt.Facet("level:O", title="level L"), columns=4
        )
    return chart.properties(title=f"{name}, level {level}")


def spectrum_chart(spectra: pd.DataFrame, level: int | None = None) -> alt.Chart:
    """Top-k Hessian eigenvalues by rank at min_L and at Pr_L(min_(L−1)) (Fig. 5)."""
    df = spectra if level is None else spectra[spectra["level"] == level]
    df = _points_named(df)[["run_id", "branch", "level", "weights", "rank", "eigenvalue"]]
    log = bool(len(df)) and bool((df["eigenvalue"] > 0).all())
    y = alt.Y(
        "eigenvalue:Q",
        title="eigenvalue",
        scale=alt.Scale(type="log") if log else alt.Scale(type="symlog"),
    )
    chart = _lines_with_points(
        df,
        alt.X("rank:Q", title="rank"),
        y,
        ["run_id", "branch", "level", "weights", "rank", "eigenvalue"],
        color=alt.Color("weights:N", title="weights"),
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **_run_dash(df),
    )
    return _facet_levels(chart, level, "top Hessian eigenvalues (Fig. 5)")


def density_chart(density: pd.DataFrame, level: int | None = None) -> alt.Chart:
    """Eigenvalue density (stochastic Lanczos quadrature) at each point."""
    df = density if level is None else density[density["level"] == level]
    df = _points_named(df)[["run_id", "branch", "level", "weights", "eigenvalue", "density"]]
    chart = _lines_with_points(
        df,
        alt.X("eigenvalue:Q", title="eigenvalue"),
        alt.Y("density:Q", title="density", scale=alt.Scale(type="symlog")),
        ["run_id", "branch", "level", "weights", "eigenvalue", "density"],
        color=alt.Color("weights:N", title="weights"),
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **_run_dash(df),
    )
    return _facet_levels(chart, level, "eigenvalue density")


def trace_chart(trace: pd.DataFrame) -> alt.Chart:
    """Hutchinson trace per level with ± one standard error."""
    df = _points_named(trace)[["run_id", "branch", "level", "weights", "trace", "stderr"]]
    df = df.assign(low=df["trace"] - df["stderr"], high=df["trace"] + df["stderr"])
    x = alt.X("level:Q", title="level L", axis=alt.Axis(tickMinStep=1))
    color = alt.Color("weights:N", title="weights")
    bars = (
        alt.Chart()
        .mark_errorbar(ticks=True)
        .encode(x, alt.Y("low:Q", title="Hessian trace"), alt.Y2("high:Q"), color=color)
    )
    return _lines_with_points(
        df,
        x,
        alt.Y("trace:Q", title="Hessian trace"),
        ["run_id", "branch", "level", "weights", "trace", "stderr"],
        under=(bars,),
        color=color,
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **_run_dash(df),
    ).properties(title="Hessian trace per level")


def volume_chart(volume: pd.DataFrame) -> alt.Chart:
    """The log-volume proxy −½ Σ log λ_i over the top-k positive eigenvalues, per level."""
    cols = ["run_id", "branch", "level", "weights", "k", "k_positive", "n_negative", "log_volume"]
    df = _points_named(volume)[cols]
    return _lines_with_points(
        df,
        alt.X("level:Q", title="level L", axis=alt.Axis(tickMinStep=1)),
        alt.Y("log_volume:Q", title="log-volume proxy (larger = flatter)"),
        cols,
        color=alt.Color("weights:N", title="weights"),
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **_run_dash(df),
    ).properties(title="basin volume proxy per level")


# --- Landscape ----------------------------------------------------------------------------
def _cell_edges(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each grid coordinate's cell as [v − h/2, v + h/2], h the grid's spacing."""
    grid = np.unique(values.to_numpy(dtype=float))
    half = (np.min(np.diff(grid)) / 2) if len(grid) > 1 else 0.5
    v = values.to_numpy(dtype=float)
    return v - half, v + half


def landscape_chart(landscape: pd.DataFrame) -> alt.Chart:
    """The 2-D loss surface around a solution as a heatmap (log colour), one panel per run."""
    df = landscape[["run_id", "branch", "level", "x", "y", "train_loss"]]
    df = df[df["train_loss"] > 0]
    x0, x1 = _cell_edges(df["x"])
    y0, y1 = _cell_edges(df["y"])
    df = df.assign(x0=x0, x1=x1, y0=y0, y1=y1)
    heat = (
        alt.Chart()
        .mark_rect()
        .encode(
            alt.X("x0:Q", title="direction 1", scale=alt.Scale(nice=False, zero=False)),
            alt.X2("x1:Q"),
            alt.Y("y0:Q", title="direction 2", scale=alt.Scale(nice=False, zero=False)),
            alt.Y2("y1:Q"),
            color=alt.Color(
                "train_loss:Q",
                title="training loss",
                scale=alt.Scale(type="log", scheme="viridis", reverse=True),
            ),
            tooltip=["run_id", "branch", "level", "x", "y", "train_loss"],
        )
    )
    centre = (
        alt.Chart()
        .mark_point(shape="cross", color="red", size=120, filled=True)
        .encode(x=alt.datum(0), y=alt.datum(0))
    )
    chart = alt.layer(heat, centre, data=df).properties(width=420, height=420)
    if _several_runs(df):
        return chart.facet(facet=alt.Facet("run_id:N", title="run"), columns=2)
    return chart.properties(title="training loss surface (solution at the cross)")


def sweep_band(df: pd.DataFrame, x: str, value: str, log: bool = False) -> alt.Chart:
    """Mean over seeds per sweep group (line) with a ±1 s.d. band, from `engine.sweeps.band`."""
    tips = _tooltip(df, ["group", x, "mean", "std", "n"])
    base = alt.Chart(df).encode(
        x=alt.X(f"{x}:Q", title=title(x)), color=alt.Color("group:N", title="group")
    )
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y("lo:Q", title=title(value), scale=alt.Scale(type="log" if log else "linear")),
        y2="hi:Q",
    )
    line = base.mark_line(point=True).encode(y="mean:Q", tooltip=tips)
    return (band + line).properties(title=f"{title(value)}: mean ± s.d. over seeds", height=320)
