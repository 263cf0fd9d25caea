"""Chart builders for the Geometry page (Figs. 3 and 4, the projected solution, and the
interpolation paths with their barriers), from `engine.analysis.tables`; see `charts`."""

from __future__ import annotations

import altair as alt
import pandas as pd

from engine.figures import palette
from engine.figures.chartkit import (
    columns,
    epoch_x,
    level_x,
    lines_with_points,
    one_or_all_levels,
    points_named,
    positive,
    run_dash,
    series_color,
    tips,
    title,
    with_level_names,
    with_runs,
    y,
)


# --- Geometry (Figs. 3, 4) ----------------------------------------------------------------
def distances_chart(distances: pd.DataFrame) -> alt.Chart:
    """Distance from each level's start to the projected previous solution and to its own."""
    names = palette.DISTANCE_NAMES
    df = distances.assign(target=distances["to"].map(lambda t: names.get(t, t)))
    cols = ["run_id", "branch", "level", "norm", "normalised", "target", "distance"]
    df = with_runs(columns(df, cols))
    return lines_with_points(
        df,
        level_x(),
        y("distance"),
        tips(df, ["branch", "level", "norm", "normalised", "target", "distance"]),
        color=series_color(df, "target", "distance"),
        detail="run_id:N",
        **run_dash(df),
    ).properties(title="distances from the start of each level (Fig. 3)")


def trajectory_chart(
    trajectory: pd.DataFrame, level: int | None = None, sparsity: dict[int, float] | None = None
) -> alt.Chart:
    """Training loss of level L and of level L−1's trajectory projected on m_L (Fig. 4), on a
    log axis; one panel per level unless `level` is chosen."""
    df = trajectory if level is None else trajectory[trajectory["level"] == level]
    df = columns(
        positive(df, "train_loss", True), ["run_id", "level", "epoch", "series", "train_loss"]
    )
    names = palette.TRAJECTORY_NAMES
    df = with_level_names(
        with_runs(df.assign(series=df["series"].map(lambda s: names.get(s, s)))), sparsity
    )
    chart = lines_with_points(
        df,
        epoch_x(),
        y("train_loss", log=True),
        tips(df, ["level", "series", "epoch", "train_loss"]),
        color=series_color(df, "series", "weights"),
        detail="run_id:N",
        **run_dash(df),
    )
    name = "training loss along the projected trajectory (Fig. 4)"
    return one_or_all_levels(chart, df, level, name)


def pruned_start_chart(pruned: pd.DataFrame, y_: str = "train_loss") -> alt.Chart:
    """Loss or accuracy per level at each evaluated point (e.g. the projected solution)."""
    df = with_runs(columns(points_named(pruned), ["run_id", "branch", "level", "weights", y_]))
    return lines_with_points(
        df,
        level_x(),
        y(y_),
        tips(df, ["branch", "level", "weights", y_]),
        color=series_color(df, "weights", "weights"),
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **run_dash(df),
    ).properties(title=f"{title(y_)} of the projected solution and the level's own")


def path_parts(path: str) -> tuple[int | None, str]:
    """(level of the path's end, its name) for `branch:L:which->branch:L:which` paths: the two
    the analysis draws by default get the paper's names; another path keeps its own text."""
    try:
        a, b = (p.split(":") for p in path.split("->"))
        end = int(b[1])
        start = int(a[1])
    except (ValueError, IndexError):
        return None, path
    if b[2] == "solution" and a[0] == b[0]:
        if a[2] == "projected_prev" and start == end:
            return end, palette.FROM_PROJECTED
        if a[2] == "solution" and start == end - 1:
            return end, palette.FROM_PREVIOUS
    return end, path


def with_paths(df: pd.DataFrame) -> pd.DataFrame:
    """Add each path's `level` (where it ends) and its `path_name` (its colour's series)."""
    parts = [path_parts(str(p)) for p in df["path"]]
    return df.assign(
        level=[-1 if lv is None else lv for lv, _ in parts], path_name=[n for _, n in parts]
    )


def interpolation_chart(
    interp: pd.DataFrame,
    y_: str = "test_acc",
    level: int | None = None,
    sparsity: dict[int, float] | None = None,
) -> alt.Chart:
    """Loss or accuracy along linear paths ending at min_L (alpha 0 → 1): one panel per level,
    or the chosen `level`; paths coloured by where they start."""
    df = with_paths(interp[["run_id", "path", "alpha", y_]])
    df = df if level is None else df[df["level"] == level]
    df = with_level_names(with_runs(df), sparsity)
    chart = lines_with_points(
        df,
        alt.X("alpha:Q", title="interpolation α", axis=alt.Axis(format=".3~g")),
        y(y_),
        tips(df, ["path", "alpha", y_]),
        color=series_color(df, "path_name", "path"),
        detail=alt.Detail(["run_id:N", "path:N"]),
        **run_dash(df),
    )
    name = f"{title(y_)} along interpolation paths"
    return one_or_all_levels(chart, df, level, name)


def barrier_chart(barriers: pd.DataFrame, y_: str = "barrier_test_error") -> alt.Chart:
    """Height of the barrier on each interpolation path, per level of the path's end."""
    df = with_runs(with_paths(columns(barriers, ["run_id", "path", y_])))
    return lines_with_points(
        df,
        level_x(),
        y(y_),
        tips(df, ["path", "level", y_]),
        color=series_color(df, "path_name", "path"),
        detail=alt.Detail(["run_id:N", "path_name:N"]),
        **run_dash(df),
    ).properties(title=f"{title(y_)} per level")
