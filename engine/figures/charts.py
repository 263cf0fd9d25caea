"""Pure chart builders for training: a tidy table in, an Altair chart out (no Streamlit).

Each builder takes the table that `engine.results` returns (rows of several runs may be
mixed: runs are told apart by dash or marker shape, with a legend of short run labels),
filters nothing the page did not ask for, and puts every column that identifies a point into
its tooltip so hovering shows the exact stored values. Colours come from `palette`, so a
series has one colour on every chart. The analyses' charts are in `geometry_charts` and
`spectra_charts`; the parts all of them share are in `chartkit`.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from engine.baselines import IMP_LABEL
from engine.figures import palette
from engine.figures.chartkit import (
    axis_format,
    columns,
    epoch_x,
    legend,
    level_title,
    lines_with_points,
    log_axis,
    method_color,
    positive,
    run_dash,
    run_shape,
    sparsity_color,
    tips,
    title,
    typed,
    with_method,
    with_runs,
    x_value,
    y,
)
from engine.groups import BANDS


# --- Fig. 1: curves per level -------------------------------------------------------------
def level_curves(
    metrics: pd.DataFrame, y_: str = "train_loss", log: bool = False, x: str = "epoch"
) -> alt.Chart:
    """One line per IMP level against epoch (or iteration, wall time), coloured by sparsity
    (Fig. 1). Runs or groups (`curves.grouped`) are told apart by dash."""
    df = positive(metrics[metrics["branch"] == "imp"], y_, log)
    df = with_runs(columns(df, ["run_id", "level", "sparsity", x, y_]))
    return lines_with_points(
        df,
        epoch_x(x),
        y(y_, log),
        tips(df, ["level", "sparsity", x, y_]),
        colour_points=False,
        color=sparsity_color(df["sparsity"]),
        detail=alt.Detail(["run_id:N", "level:O"]),
        **run_dash(df),
    ).properties(title=f"{title(y_)} per level")


def sparsity_x(remaining: bool = False) -> alt.X:
    """Sparsity, or the fraction of weights remaining on a log axis (as lottery-ticket papers
    draw it: each IMP level is then one step to the left)."""
    if remaining:
        axis = alt.Axis(format="~%", values=[1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001])
        scale = alt.Scale(type="log", reverse=True, nice=False)
        return alt.X("remaining:Q", title="weights remaining", axis=axis, scale=scale)
    return alt.X("sparsity:Q", title="sparsity (weights pruned)", axis=alt.Axis(format="~%"))


def with_remaining(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(remaining=1 - df["sparsity"])


def final_vs_sparsity(
    summary: pd.DataFrame, y_: str = "test_acc", remaining: bool = False
) -> alt.Chart:
    """Final accuracy of every level against its sparsity (or the weights remaining, log);
    baselines as their own markers; a group's band as error bars."""
    cols = ["run_id", "branch", "method", "level", "sparsity", y_]
    df = with_remaining(with_runs(columns(with_method(summary), cols)))
    x = sparsity_x(remaining)
    order = [m for m in palette.METHODS if m in set(df["method"])]
    imp = df[df["branch"] == "imp"]
    line = (
        alt.Chart(imp)
        .mark_line(color=palette.METHODS[IMP_LABEL], strokeWidth=1, opacity=0.6)
        .encode(x, y(y_), detail="run_id:N", **run_dash(imp))
    )
    points = (
        alt.Chart(df)
        .mark_point(filled=True, size=70)
        .encode(
            x,
            y(y_),
            color=method_color(df),
            shape=alt.Shape("method:N", legend=None, sort=order, scale=alt.Scale(domain=order)),
            tooltip=tips(df, ["method", "level", "sparsity", y_]),
        )
    )
    layers = [line, points]
    if "band_low" in df.columns:
        bars = alt.Chart(df).mark_errorbar(ticks=True)
        bars = bars.encode(x, alt.Y("band_low:Q", title=title(y_)), alt.Y2("band_high:Q"))
        layers.insert(0, bars.encode(color=method_color(df)))
    against = "weights remaining" if remaining else "sparsity"
    return alt.layer(*layers).properties(title=f"final {title(y_)} against {against}")


# --- Fig. 2: baselines --------------------------------------------------------------------
def baseline_curves(
    metrics: pd.DataFrame, level: int, y_: str = "test_acc", log: bool = False, x: str = "epoch"
) -> alt.Chart:
    """IMP-WR at `level` against the baselines trained to the same sparsity (Fig. 2)."""
    df = positive(with_method(metrics[metrics["level"] == level]), y_, log)
    df = with_runs(columns(df, ["run_id", "method", "level", "sparsity", x, y_]))
    imp_sparsity = df[df["method"] == IMP_LABEL]
    return lines_with_points(
        df,
        epoch_x(x),
        y(y_, log),
        tips(df, ["method", "level", "sparsity", x, y_]),
        color=method_color(df),
        detail=alt.Detail(["run_id:N", "method:N"]),
        **run_dash(df),
    ).properties(title=level_title(title(y_), imp_sparsity, level))


def baseline_final(summary: pd.DataFrame, level: int, y_: str = "test_acc") -> alt.Chart:
    """Final value of each method at `level`: a dot per method (and run) on a shared axis."""
    df = with_method(summary[summary["level"] == level])
    df = with_runs(columns(df, ["run_id", "branch", "method", "level", "sparsity", y_]))
    order = [m for m in palette.METHODS if m in set(df["method"])]
    return (
        alt.Chart(df)
        .mark_point(filled=True, size=120)
        .encode(
            x_value(y_, f"final {title(y_)}"),
            alt.Y("method:N", title=None, sort=order, axis=alt.Axis(labelLimit=0)),
            color=method_color(df),
            tooltip=tips(df, ["method", "level", "sparsity", y_]),
            **run_shape(df),
        )
        .properties(
            title=level_title(f"final {title(y_)}", df[df["branch"] == "imp"], level),
            height=alt.Step(28),
        )
    )


def sweep_band(
    df: pd.DataFrame, x: str, value: str, log: bool = False, kind: str = "sd"
) -> alt.Chart:
    """Mean over seeds per sweep group (line) with its band, from `engine.groups.band`."""
    tip = [typed(df, c) for c in ["group", x, "mean", "sd", "se", "n"] if c in df.columns]
    base = alt.Chart(df).encode(
        x=alt.X(f"{x}:Q", title=title(x), axis=alt.Axis(format=axis_format(x))),
        color=alt.Color("group:N", title="group", legend=legend()),
    )
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y(
            "low:Q",
            title=title(value),
            scale=alt.Scale(type="log" if log else "linear"),
            axis=log_axis() if log else alt.Axis(),
        ),
        y2="high:Q",
    )
    line = base.mark_line(point=True).encode(y="mean:Q", tooltip=tip)
    name = f"{title(value)}: mean and {BANDS[kind]} over seeds"
    return (band + line).properties(title=name, height=320)
