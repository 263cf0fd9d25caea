"""Pure chart builders: a tidy table in, an Altair chart out (no Streamlit here).

Each builder takes the table that `engine.results` or `engine.analysis.tables` returns (rows
of several runs may be mixed: runs are told apart by dash or marker shape, with a legend of
short run labels), filters nothing the page did not ask for, and puts every column that
identifies a point into its tooltip so hovering shows the exact stored values. Colours come
from `app.palette`, so a series has one colour on every chart.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from app import palette
from app.chartkit import (
    axis_format,
    epoch_x,
    facet_levels,
    legend,
    level_name,
    level_x,
    lines_with_points,
    positive,
    run_dash,
    run_shape,
    several_runs,
    sparsity_by_level,
    tips,
    title,
    typed,
    with_level_names,
    with_runs,
    x_value,
    y,
)
from engine.config import METHOD_LABELS

__all__ = ["sparsity_by_level", "title"]  # the pages use these too


def with_method(df: pd.DataFrame) -> pd.DataFrame:
    """Add the paper's name of each branch (IMP-WR, one-shot, FT, RIPN, RPN_1, RPN_2)."""
    return df.assign(method=df["branch"].map(lambda b: METHOD_LABELS.get(b, b)))


def points_named(df: pd.DataFrame) -> pd.DataFrame:
    pairs = zip(df["branch"], df["point"], strict=True)
    return df.assign(weights=[palette.point_series(str(b), str(p)) for b, p in pairs])


def _present(df: pd.DataFrame, column: str) -> list[str]:
    return [str(v) for v in df[column].unique()]


def _method_color(df: pd.DataFrame) -> alt.Color:
    return palette.color("method", "method", _present(df, "method"), legend=legend())


def _series_color(df: pd.DataFrame, column: str, name: str) -> alt.Color:
    return palette.color(column, name, _present(df, column), legend=legend())


def _level_title(what: str, df: pd.DataFrame, level: int) -> str:
    """ "test accuracy at level 5 · 67.2% sparse" (sparsity from the table, when it has one)."""
    sp = df["sparsity"].round(6).unique() if "sparsity" in df.columns else []
    return f"{what} at {level_name(level, float(sp[0]) if len(sp) == 1 else None)}"


# --- Fig. 1: curves per level -------------------------------------------------------------
def level_curves(metrics: pd.DataFrame, y_: str = "train_loss", log: bool = False) -> alt.Chart:
    """One line per IMP level against epoch, coloured by sparsity (Fig. 1)."""
    df = positive(metrics[metrics["branch"] == "imp"], y_, log)
    df = with_runs(df[["run_id", "level", "sparsity", "epoch", y_]])
    colour = alt.Color(
        "sparsity:Q",
        title="sparsity",
        scale=palette.SPARSITY,
        legend=alt.Legend(format=".0%", type="gradient", orient="bottom", titleLimit=0),
    )
    return lines_with_points(
        df,
        epoch_x(),
        y(y_, log),
        tips(df, ["level", "sparsity", "epoch", y_]),
        colour_points=False,
        color=colour,
        detail=alt.Detail(["run_id:N", "level:O"]),
        **run_dash(df),
    ).properties(title=f"{title(y_)} per level")


def final_vs_sparsity(summary: pd.DataFrame, y_: str = "test_acc") -> alt.Chart:
    """Final accuracy of every level against its sparsity; baselines as their own markers."""
    df = with_runs(with_method(summary)[["run_id", "branch", "method", "level", "sparsity", y_]])
    x = alt.X("sparsity:Q", title="sparsity (weights pruned)", axis=alt.Axis(format="~%"))
    imp = df[df["branch"] == "imp"]
    line = (
        alt.Chart(imp)
        .mark_line(color=palette.METHODS["IMP-WR"], strokeWidth=1, opacity=0.6)
        .encode(x, y(y_), detail="run_id:N", **run_dash(imp))
    )
    points = (
        alt.Chart(df)
        .mark_point(filled=True, size=70)
        .encode(
            x,
            y(y_),
            color=_method_color(df),
            shape=alt.Shape("method:N", legend=None),
            tooltip=tips(df, ["method", "level", "sparsity", y_]),
        )
    )
    return (line + points).properties(title=f"final {title(y_)} against sparsity")


# --- Fig. 2: baselines --------------------------------------------------------------------
def baseline_curves(
    metrics: pd.DataFrame, level: int, y_: str = "test_acc", log: bool = False
) -> alt.Chart:
    """IMP-WR at `level` against the baselines trained to the same sparsity (Fig. 2)."""
    df = positive(with_method(metrics[metrics["level"] == level]), y_, log)
    df = with_runs(df[["run_id", "method", "level", "sparsity", "epoch", y_]])
    imp_sparsity = df[df["method"] == "IMP-WR"]
    return lines_with_points(
        df,
        epoch_x(),
        y(y_, log),
        tips(df, ["method", "level", "sparsity", "epoch", y_]),
        color=_method_color(df),
        detail="run_id:N",
        **run_dash(df),
    ).properties(title=_level_title(title(y_), imp_sparsity, level))


def baseline_final(summary: pd.DataFrame, level: int, y_: str = "test_acc") -> alt.Chart:
    """Final value of each method at `level`: a dot per method (and run) on a shared axis."""
    df = with_method(summary[summary["level"] == level])
    df = with_runs(df[["run_id", "branch", "method", "level", "sparsity", y_]])
    order = [m for m in palette.METHODS if m in set(df["method"])]
    return (
        alt.Chart(df)
        .mark_point(filled=True, size=120)
        .encode(
            x_value(y_, f"final {title(y_)}"),
            alt.Y("method:N", title=None, sort=order, axis=alt.Axis(labelLimit=0)),
            color=_method_color(df),
            tooltip=tips(df, ["method", "level", "sparsity", y_]),
            **run_shape(df),
        )
        .properties(
            title=_level_title(f"final {title(y_)}", df[df["branch"] == "imp"], level),
            height=alt.Step(28),
        )
    )


# --- Geometry (Figs. 3, 4) ----------------------------------------------------------------
def distances_chart(distances: pd.DataFrame) -> alt.Chart:
    """Distance from each level's start to the projected previous solution and to its own."""
    names = palette.DISTANCE_NAMES
    df = distances.assign(target=distances["to"].map(lambda t: names.get(t, t)))
    df = with_runs(df[["run_id", "branch", "level", "norm", "normalised", "target", "distance"]])
    return lines_with_points(
        df,
        level_x(),
        y("distance"),
        tips(df, ["branch", "level", "norm", "normalised", "target", "distance"]),
        color=_series_color(df, "target", "distance"),
        detail="run_id:N",
        **run_dash(df),
    ).properties(title="distances from the start of each level (Fig. 3)")


def trajectory_chart(
    trajectory: pd.DataFrame, level: int | None = None, sparsity: dict[int, float] | None = None
) -> alt.Chart:
    """Training loss of level L and of level L−1's trajectory projected on m_L (Fig. 4), on a
    log axis; one panel per level unless `level` is chosen."""
    df = trajectory if level is None else trajectory[trajectory["level"] == level]
    df = positive(df, "train_loss", True)[["run_id", "level", "epoch", "series", "train_loss"]]
    names = palette.TRAJECTORY_NAMES
    df = with_level_names(
        with_runs(df.assign(series=df["series"].map(lambda s: names.get(s, s)))), sparsity
    )
    chart = lines_with_points(
        df,
        epoch_x(),
        y("train_loss", log=True),
        tips(df, ["level", "series", "epoch", "train_loss"]),
        color=_series_color(df, "series", "weights"),
        detail="run_id:N",
        **run_dash(df),
    )
    name = "training loss along the projected trajectory (Fig. 4)"
    if level is None:
        return facet_levels(chart, df, name)
    return chart.properties(title=f"{name}, {_name_of(df, level)}")


def _name_of(df: pd.DataFrame, level: int) -> str:
    names = df.loc[df["level"] == level, "level_name"]
    return str(names.iloc[0]) if len(names) else f"level {level}"


def pruned_start_chart(pruned: pd.DataFrame, y_: str = "train_loss") -> alt.Chart:
    """Loss or accuracy per level at each evaluated point (e.g. the projected solution)."""
    df = with_runs(points_named(pruned)[["run_id", "branch", "level", "weights", y_]])
    return lines_with_points(
        df,
        level_x(),
        y(y_),
        tips(df, ["branch", "level", "weights", y_]),
        color=_series_color(df, "weights", "weights"),
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
            return end, "Pr_L(min_(L−1)) → min_L"
        if a[2] == "solution" and start == end - 1:
            return end, "min_(L−1) → min_L"
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
        color=_series_color(df, "path_name", "path"),
        detail=alt.Detail(["run_id:N", "path:N"]),
        **run_dash(df),
    )
    name = f"{title(y_)} along interpolation paths"
    if level is None:
        return facet_levels(chart, df, name)
    return chart.properties(title=f"{name}, {_name_of(df, level)}")


def barrier_chart(barriers: pd.DataFrame, y_: str = "barrier_test_error") -> alt.Chart:
    """Height of the barrier on each interpolation path, per level of the path's end."""
    df = with_runs(with_paths(barriers[["run_id", "path", y_]]))
    return lines_with_points(
        df,
        level_x(),
        y(y_),
        tips(df, ["path", "level", y_]),
        color=_series_color(df, "path_name", "path"),
        detail=alt.Detail(["run_id:N", "path_name:N"]),
        **run_dash(df),
    ).properties(title=f"{title(y_)} per level")


# --- Spectra (Fig. 5) ---------------------------------------------------------------------
def _k(df: pd.DataFrame) -> str:
    return f"top-{int(df['rank'].max())} " if len(df) else "top "


def spectrum_chart(
    spectra: pd.DataFrame, level: int | None = None, sparsity: dict[int, float] | None = None
) -> alt.Chart:
    """Top-k Hessian eigenvalues by rank at min_L and at Pr_L(min_(L−1)) (Fig. 5)."""
    df = spectra if level is None else spectra[spectra["level"] == level]
    df = points_named(df)[["run_id", "branch", "level", "weights", "rank", "eigenvalue"]]
    df = with_level_names(with_runs(df), sparsity)
    log = bool(len(df)) and bool((df["eigenvalue"] > 0).all())
    axis = alt.Axis(format=".3~g")
    scale = alt.Scale(type="log") if log else alt.Scale(type="symlog")
    chart = lines_with_points(
        df,
        epoch_x("rank", "rank"),
        alt.Y("eigenvalue:Q", title="eigenvalue", scale=scale, axis=axis),
        tips(df, ["branch", "level", "weights", "rank", "eigenvalue"]),
        color=_series_color(df, "weights", "weights"),
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **run_dash(df),
    )
    name = f"{_k(df)}Hessian eigenvalues (Fig. 5)"
    if level is None:
        return facet_levels(chart, df, name)
    return chart.properties(title=f"{name}, {_name_of(df, level)}")


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
        color=_series_color(df, "weights", "weights"),
        detail=alt.Detail(["run_id:N", "branch:N"]),
        **run_dash(df),
    )
    if level is None:
        return facet_levels(chart, df, "eigenvalue density")
    return chart.properties(title=f"eigenvalue density, {_name_of(df, level)}")


def trace_chart(trace: pd.DataFrame) -> alt.Chart:
    """Hutchinson trace per level with ± one standard error."""
    df = points_named(trace)[["run_id", "branch", "level", "weights", "trace", "stderr"]]
    df = with_runs(df.assign(low=df["trace"] - df["stderr"], high=df["trace"] + df["stderr"]))
    x = level_x()
    color = _series_color(df, "weights", "weights")
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
    df = with_runs(points_named(volume)[["run_id", *cols]])
    k = f"top-{int(df['k'].max())} " if len(df) else ""
    return lines_with_points(
        df,
        level_x(),
        y("log_volume", name="log-volume proxy (larger = flatter)"),
        tips(df, cols),
        color=_series_color(df, "weights", "weights"),
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


def landscape_chart(landscape: pd.DataFrame) -> alt.Chart:
    """The 2-D loss surface around a solution as a heatmap (log colour), one panel per run."""
    df = landscape[["run_id", "branch", "level", "x", "y", "train_loss"]]
    df = with_runs(df[df["train_loss"] > 0])
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
    if several_runs(df):
        return chart.facet(facet=alt.Facet("run:N", title="run"), columns=2)
    return chart.properties(title="training loss surface (solution at the cross)")


def sweep_band(df: pd.DataFrame, x: str, value: str, log: bool = False) -> alt.Chart:
    """Mean over seeds per sweep group (line) with a ±1 s.d. band, from `engine.sweeps.band`."""
    tip = [typed(df, c) for c in ["group", x, "mean", "std", "n"] if c in df.columns]
    base = alt.Chart(df).encode(
        x=alt.X(f"{x}:Q", title=title(x), axis=alt.Axis(format=axis_format(x))),
        color=alt.Color("group:N", title="group", legend=legend()),
    )
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y("lo:Q", title=title(value), scale=alt.Scale(type="log" if log else "linear")),
        y2="hi:Q",
    )
    line = base.mark_line(point=True).encode(y="mean:Q", tooltip=tip)
    return (band + line).properties(title=f"{title(value)}: mean ± s.d. over seeds", height=320)
