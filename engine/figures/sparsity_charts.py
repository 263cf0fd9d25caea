"""Chart builders for the Sparsity page: any per-level quantity against the weights
remaining (log axis, several runs or groups at once), and where IMP prunes, layer by layer."""

from __future__ import annotations

import altair as alt
import pandas as pd

from engine.figures.chartkit import (
    columns,
    epoch_x,
    legend,
    lines_with_points,
    run_dash,
    series_color,
    tips,
    with_runs,
    y,
)
from engine.figures.charts import sparsity_x, with_remaining


def against_remaining(
    df: pd.DataFrame, name: str, log_y: bool = False, remaining: bool = True, rate: bool = False
) -> alt.Chart:
    """`value` per level (a `per_level.table`) against the weights remaining on a log
    axis (or the sparsity), one line per series and run or group."""
    cols = ["run_id", "branch", "level", "sparsity", "series", "value"]
    frame = with_remaining(with_runs(columns(df, cols)))
    if log_y:
        frame = frame[frame["value"] > 0]
    return lines_with_points(
        frame,
        sparsity_x(remaining),
        y("value", log_y, name=name, rate=rate),
        tips(frame, ["level", "sparsity", "remaining", "series", "value"]),
        color=series_color(frame, "series", "series"),
        detail=alt.Detail(["run_id:N", "series:N"]),
        **run_dash(frame),
    ).properties(title=f"{name} against the weights remaining")


def layer_sparsity(layers: pd.DataFrame) -> alt.Chart:
    """Each prunable layer's sparsity per IMP level: which layers the global ranking prunes
    first (the output layer keeps its own rate when the spec gives one)."""
    frame = with_runs(layers[layers["branch"] == "imp"])
    frame = frame.assign(remaining=1 - frame["sparsity"])
    colour = alt.Color("layer:N", title="layer", scale=alt.Scale(scheme="dark2"), legend=legend())
    return lines_with_points(
        frame,
        epoch_x("level", "level L"),
        y("sparsity", name="sparsity of the layer"),
        tips(frame, ["level", "layer", "kept", "total", "sparsity"]),
        color=colour,
        detail=alt.Detail(["run_id:N", "layer:N"]),
        **run_dash(frame),
    ).properties(title="per-layer sparsity per IMP level")
