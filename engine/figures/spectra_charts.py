"""Chart builders for the Spectra and Landscape pages (Fig. 5, the eigenvalue density, the
trace, the basin volume proxy, the 2-D loss surface), from `engine.analysis.tables`; see
`charts`."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from engine.figures import palette
from engine.figures.chartkit import (
    columns,
    epoch_x,
    level_x,
    lines_with_points,
    log_axis,
    one_or_all_levels,
    points_named,
    run_dash,
    series_color,
    several_runs,
    tips,
    with_level_names,
    with_runs,
    y,
)


# --- Spectra (Fig. 5) ---------------------------------------------------------------------
def _k(df: pd.DataFrame) -> str:
    return f"top-{int(df['rank'].max())} " if len(df) else "top "


def spectrum_chart(
    spectra: pd.DataFrame, level: int | None = None, sparsity: dict[int, float] | None = None
) -> alt.Chart:
    """Top-k Hessian eigenvalues by rank at min_L and at Pr_L(min_(L−1)) (Fig. 5)."""
    df = spectra if level is None else spectra[spectra["level"] == level]
    df = columns(points_named(df), ["run_id", "branch", "level", "weights", "rank", "eigenvalue"])
    df = with_level_names(with_runs(df), sparsity)
    log = bool(len(df)) and bool((df["eigenvalue"] > 0).all())
    axis = log_axis() if log else alt.Axis(format=".3~g")
    scale = alt.Scale(type="log") if log else alt.Scale(type="symlog")
    chart = lines_with_points(
        df,
        epoch_x("rank", "rank"),
        alt.Y("eigenvalue:Q", title="eigenvalue", scale=scale, axis=axis),
        tips(df, ["branch", "level", "weights", "rank", "eigenvalue"]),
        color=series_color(df, "weights", "weights"),
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **run_dash(df),
    )
    name = f"{_k(df)}Hessian eigenvalues (Fig. 5)"
    return one_or_all_levels(chart, df, level, name)


def density_chart(
    density: pd.DataFrame, level: int | None = None, sparsity: dict[int, float] | None = None
) -> alt.Chart:
    """Eigenvalue density (stochastic Lanczos quadrature) at each point."""
    df = density if level is None else density[density["level"] == level]
    df = points_named(df)[["run_id", "branch", "level", "weights", "eigenvalue", "density"]]
    df = with_level_names(with_runs(df), sparsity)
    chart = lines_with_points(
        df,
        alt.X("eigenvalue:Q", title="eigenvalue", axis=alt.Axis(format=".3~g")),
        alt.Y(
            "density:Q",
            title="density",
            scale=alt.Scale(type="symlog"),
            axis=alt.Axis(format=".3~g"),
        ),
        tips(df, ["branch", "level", "weights", "eigenvalue", "density"]),
        color=series_color(df, "weights", "weights"),
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **run_dash(df),
    )
    return one_or_all_levels(chart, df, level, "eigenvalue density")


def trace_chart(trace: pd.DataFrame) -> alt.Chart:
    """The Hessian trace per level (Hutch++, `engine.analysis.trace`) with ± one standard
    error of its estimate."""
    df = points_named(trace)[["run_id", "branch", "level", "weights", "trace", "stderr"]]
    df = with_runs(df.assign(low=df["trace"] - df["stderr"], high=df["trace"] + df["stderr"]))
    x = level_x()
    color = series_color(df, "weights", "weights")
    bars = (
        alt.Chart()
        .mark_errorbar(ticks=True)
        .encode(x, alt.Y("low:Q", title="Hessian trace"), alt.Y2("high:Q"), color=color)
    )
    return lines_with_points(
        df,
        x,
        y("trace", name="Hessian trace"),
        tips(df, ["branch", "level", "weights", "trace", "stderr"]),
        under=(bars,),
        color=color,
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **run_dash(df),
    ).properties(title="Hessian trace per level (± 1 s.e.)")


def volume_chart(volume: pd.DataFrame) -> alt.Chart:
    """The log-volume proxy −½ Σ log λ_i over the top-k positive eigenvalues, per level."""
    cols = ["branch", "level", "weights", "k", "k_positive", "n_negative", "log_volume"]
    df = with_runs(columns(points_named(volume), ["run_id", *cols]))
    k = f"top-{int(df['k'].max())} " if len(df) else ""
    return lines_with_points(
        df,
        level_x(),
        y("log_volume", name="log-volume proxy (larger = flatter)"),
        tips(df, cols),
        color=series_color(df, "weights", "weights"),
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **run_dash(df),
    ).properties(title=f"basin volume proxy per level, {k}eigenvalues")


# --- Landscape ----------------------------------------------------------------------------
def _cell_edges(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each grid coordinate's cell as [v − h/2, v + h/2], h the grid's spacing."""
    grid = np.unique(values.to_numpy(dtype=float))
    half = (np.min(np.diff(grid)) / 2) if len(grid) > 1 else 0.5
    v = values.to_numpy(dtype=float)
    return v - half, v + half


def landscape_chart(landscape: pd.DataFrame, sparsity: dict[int, float] | None = None) -> alt.Chart:
    """The 2-D loss surface around a solution as a heatmap (log colour), one panel per run."""
    df = landscape[["run_id", "branch", "level", "x", "y", "train_loss"]]
    df = with_level_names(with_runs(df[df["train_loss"] > 0]), sparsity)
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
                legend=alt.Legend(format=".3~g"),
            ),
            tooltip=tips(df, ["branch", "level", "x", "y", "train_loss"]),
        )
    )
    centre = (
        alt.Chart()
        .mark_point(shape="cross", color=palette.RED, size=120, filled=True)
        .encode(x=alt.datum(0), y=alt.datum(0))
    )
    chart = alt.layer(heat, centre, data=df).properties(width=420, height=420)
    where = ", ".join(sorted(set(df["level_name"]))) or "no level"
    name = f"training loss surface at {where} (solution at the cross)"
    if several_runs(df):
        return chart.facet(facet=alt.Facet("run:N", title="run"), columns=2).properties(title=name)
    return chart.properties(title=name)
