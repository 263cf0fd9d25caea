"""The parts every chart is built from: axes, run labels, legends, lines with hover points.

Kept apart from the builders (`charts`) so each builder reads as what it plots, and so
every chart formats ticks, names runs and places legends the same way.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from engine.baselines import method_labels
from engine.figures import palette
from engine.figures.curves import HIGH, LOW, RAW

METRIC_TITLES = {
    "train_loss": "training loss",
    "test_loss": "test loss",
    "train_acc": "training accuracy",
    "test_acc": "test accuracy",
    "barrier_train_loss": "loss barrier (train)",
    "barrier_test_error": "error barrier (test)",
}
RATES = {"train_acc", "test_acc", "barrier_test_error", "sparsity"}  # shown as percentages
FACET = {"width": 230, "height": 170}
FACET_COLUMNS = 3


def title(column: str) -> str:
    return METRIC_TITLES.get(column, column.replace("_", " "))


def run_label(run_id: str) -> str:
    """`s0 #37baf3 · lenet_300_100 · mnist5k` for `lenet_300_100-mnist5k-s0-37baf3…`: what
    tells runs apart (seed, hash) first, because the sidebar's chips and legends are narrow.
    Ids of another shape are shown as they are."""
    parts = run_id.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].startswith("s") or "-" not in parts[0]:
        return run_id
    model_data, seed, digest = parts
    model, data = model_data.split("-", 1)
    return f"{seed} #{digest[:6]} · {model} · {data}"


def with_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Add the short `run` label the legends and tooltips show (a group has its own)."""
    if "run_id" not in df.columns or "run" in df.columns:
        return df
    return df.assign(run=df["run_id"].astype(str).map(run_label))


EXTRAS = ("run", "n", "sd", "se", LOW, HIGH)  # a group's columns (engine.figures.curves.grouped)


def columns(df: pd.DataFrame, wanted: list[str]) -> pd.DataFrame:
    """`wanted`, plus a group's or a smoothed curve's columns where the table has them."""
    raw = [c + RAW for c in wanted]
    return df[[c for c in dict.fromkeys([*wanted, *EXTRAS, *raw]) if c in df.columns]]


def several_runs(df: pd.DataFrame) -> bool:
    return "run_id" in df.columns and df["run_id"].nunique() > 1


def legend(**kw) -> alt.Legend:
    """Legends go below the plot, never truncated: beside a faceted chart they were cut off."""
    return alt.Legend(orient="bottom", direction="vertical", labelLimit=0, titleLimit=0, **kw)


def _runs_legend(df: pd.DataFrame) -> bool:
    """Runs get a legend when several are overlaid; groups always do, since it says how many
    runs each one averages."""
    return several_runs(df) or "n" in df.columns


def run_dash(df: pd.DataFrame) -> dict:
    """Runs overlaid in one chart: a dash pattern per run, with a legend of short labels."""
    if not _runs_legend(df):
        return {}
    return {"strokeDash": alt.StrokeDash("run:N", title="run", legend=legend())}


def run_shape(df: pd.DataFrame) -> dict:
    """Runs of a chart of points: a marker shape per run, with the same legend."""
    if not _runs_legend(df):
        return {}
    return {"shape": alt.Shape("run:N", title="run", legend=legend())}


def axis_format(column: str) -> str:
    """Percentages for rates; otherwise three significant digits at most (no "0.947000",
    no "1.2e+2"). Vega keeps an explicit precision instead of guessing one from the ticks."""
    return "~%" if column in RATES else ".3~g"


# Ticks and grid lines of a log axis: each power of ten and 3x it (half a decade), where Vega
# would draw a grid line at every integer multiple (nine a decade) and crowd the panel.
LOG_TICKS = [m * 10.0**k for k in range(-12, 13) for m in (1, 3)]


def log_axis(fmt: str = ".3~g", **kw) -> alt.Axis:
    """An axis for a log scale: ticks and grid lines at `LOG_TICKS` only."""
    return alt.Axis(format=fmt, values=LOG_TICKS, **kw)


def y(
    column: str,
    log: bool = False,
    name: str | None = None,
    rate: bool = False,
    of: str | None = None,
    **kw,
) -> alt.Y:
    """A quantitative y axis; its title never repeats "log" (the scale says so). `rate`
    shows a column not named as one (`RATES`) as a percentage; `of` formats it as that
    quantity's (a summary column such as ``mean`` of ``test_acc``)."""
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    fmt = "~%" if rate else axis_format(of or column)
    axis = log_axis(fmt) if log else alt.Axis(format=fmt)
    return alt.Y(f"{column}:Q", title=name or title(column), scale=scale, axis=axis, **kw)


def x_value(column: str, name: str | None = None) -> alt.X:
    """A quantitative x axis for a measured value (e.g. the final accuracy)."""
    axis = alt.Axis(format=axis_format(column))
    return alt.X(f"{column}:Q", title=name or title(column), scale=alt.Scale(zero=False), axis=axis)


# At most one tick per whole number of the x scale's domain. Vega-Lite drops a `tickMinStep`
# of 1 on domains shorter than 5 (vega-lite#9034), so three epochs were labelled
# "1 2 2 3 3"; there a tick count of the span itself makes Vega's nice step exactly 1. On a
# longer domain about 7 ticks (a nice step of at least 1 from a span of 5 on) keep a
# faceted panel's labels apart ("90100" at 10). The expression names the scale "x": a
# single, layered or faceted view's (a concatenation names its scales otherwise, and none of
# ours is one).
WHOLE_TICKS = alt.ExprRef("span(domain('x')) < 5 ? max(1, span(domain('x'))) : 7")


def whole_axis(fmt: str = "~d", **kw) -> alt.Axis:
    """An x axis of whole numbers (epochs, iterations, levels, ranks): no half ticks."""
    return alt.Axis(format=fmt, tickCount=WHOLE_TICKS, **kw)


def epoch_x(column: str = "epoch", name: str | None = None) -> alt.X:
    """Whole-number steps (epochs, iterations, levels, ranks): no half ticks when the range
    is short; wall time in seconds is continuous."""
    name = name or {"seconds": "wall time (s)"}.get(column, column)
    if column == "seconds":
        return alt.X(f"{column}:Q", title=name, axis=alt.Axis(format=".3~g"))
    return alt.X(f"{column}:Q", title=name, axis=whole_axis())


def level_x() -> alt.X:
    return epoch_x("level", "level L")


def positive(df: pd.DataFrame, column: str, log: bool) -> pd.DataFrame:
    """A log axis cannot show zeros or negatives; drop them rather than break the chart."""
    return df[df[column] > 0] if log else df


def typed(df: pd.DataFrame, column: str) -> str:
    """`column:Q` or `column:N`: encodings name their type, so a chart can be serialised from
    inline values (`export`), where Altair cannot infer it from a DataFrame."""
    kind = df[column].dtype
    numeric = pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind)
    return f"{column}:{'Q' if numeric else 'N'}"


def tips(df: pd.DataFrame, columns: list[str]) -> list[str]:
    """The tooltip: the run's full id (legends show the short label), then `columns`, all
    with the exact stored values; for a group (`curves.grouped`) its n, s.d. and s.e."""
    wanted = ["run_id", *columns, "n", "sd", "se"]
    return [typed(df, c) for c in dict.fromkeys(wanted) if c in df.columns]


def lines_with_points(
    df: pd.DataFrame,
    x: alt.X,
    y_: alt.Y,
    tooltip: list[str],
    under: tuple[alt.Chart, ...] = (),
    colour_points: bool = True,
    **encodings,
) -> alt.LayerChart:
    """Lines, plus points that carry the tooltip (a line's own tooltip shows one datum only);
    `under` are layers drawn beneath them from the same data. Points coloured by a continuous
    scale would turn its gradient legend into symbols, so those pass `colour_points=False`.

    A group's band (`band_low`/`band_high` from `curves.grouped`) is drawn under its
    line, and a smoothed value's raw curve (`<y>_raw`, `curves.smooth`) faintly behind
    it. The scales follow the mouse: drag to pan, wheel to zoom, double-click to reset."""
    field = str(y_.shorthand).split(":")[0]  # the column `y_` plots
    drawn = [
        *under,
        *_band(df, x, y_, encodings),
        *_raw(df, x, y_, field, encodings),
    ]
    zoom = alt.selection_interval(bind="scales")
    line = alt.Chart().mark_line(strokeWidth=1.8).encode(x, y_, **encodings).add_params(zoom)
    hover = alt.selection_point(on="pointerover", nearest=True, empty=False, clear="pointerout")
    points = (
        alt.Chart()
        .mark_circle(size=40)
        .encode(
            x,
            y_,
            opacity=alt.condition(hover, alt.value(1.0), alt.value(0.0)),
            tooltip=tooltip,
            **({"color": encodings["color"]} if colour_points and "color" in encodings else {}),
        )
    )
    return alt.layer(*drawn, line, points.add_params(hover), data=df)


def _band(df: pd.DataFrame, x: alt.X, y_: alt.Y, encodings: dict) -> list[alt.Chart]:
    if LOW not in df.columns:
        return []
    keep = {k: v for k, v in encodings.items() if k in ("color", "detail")}
    low = alt.Y(f"{LOW}:Q", title=y_["title"], scale=y_["scale"])
    return [alt.Chart().mark_area(opacity=0.18).encode(x, low, alt.Y2(f"{HIGH}:Q"), **keep)]


def _raw(df: pd.DataFrame, x: alt.X, y_: alt.Y, field: str, encodings: dict) -> list[alt.Chart]:
    raw = field + RAW
    if raw not in df.columns:
        return []
    y_raw = alt.Y(f"{raw}:Q", title=y_["title"], scale=y_["scale"], axis=y_["axis"])
    return [alt.Chart().mark_line(strokeWidth=1, opacity=0.25).encode(x, y_raw, **encodings)]


def facet_levels(chart: alt.LayerChart, df: pd.DataFrame, title_: str) -> alt.FacetChart:
    """One small panel per level that has data, headed with the level and its sparsity."""
    names = level_names(df)
    order = sorted(names, key=lambda n: names[n])
    return (
        chart.properties(**FACET)
        .facet(
            facet=alt.Facet("level_name:N", title=None, sort=order, header=alt.Header()),
            columns=FACET_COLUMNS,
        )
        .resolve_axis(x="independent")  # else the last row's axes hang below empty cells
        .properties(title=title_)
    )


def one_or_all_levels(
    chart: alt.LayerChart, df: pd.DataFrame, level: int | None, name: str
) -> alt.Chart:
    """A panel per level when no `level` is chosen, else the chart titled with its level."""
    if level is None:
        return facet_levels(chart, df, name)
    return chart.properties(title=f"{name}, {name_of(df, level)}")


def level_name(level: int, sparsity: float | None) -> str:
    """ "level 3 · 48.8% sparse" (the sparsity where it is known)."""
    if sparsity is None or pd.isna(sparsity):
        return f"level {level}"
    return f"level {level} · {sparsity:.1%} sparse"


def with_level_names(df: pd.DataFrame, sparsity: dict[int, float] | None) -> pd.DataFrame:
    """Add `level_name` for facet headers and titles (sparsity from `sparsity_by_level`)."""
    sp = sparsity or {}
    return df.assign(level_name=[level_name(int(v), sp.get(int(v))) for v in df["level"]])


def level_names(df: pd.DataFrame) -> dict[str, int]:
    """level_name -> level, for ordering panels by level rather than alphabetically."""
    pairs = df[["level_name", "level"]].drop_duplicates()
    return dict(zip(pairs["level_name"], pairs["level"].astype(int), strict=True))


def sparsity_by_level(summary: pd.DataFrame) -> dict[int, float]:
    """IMP-WR's sparsity at each level, where every run shown agrees on it."""
    if summary.empty or "sparsity" not in summary.columns:
        return {}
    imp = summary[summary["branch"] == "imp"]
    out = {}
    for level, values in imp.groupby("level")["sparsity"]:
        if values.round(6).nunique() == 1:
            out[int(level)] = float(values.iloc[0])
    return out


# --- series and titles shared by the builders ------------------------------------------
def with_method(df: pd.DataFrame) -> pd.DataFrame:
    """Add the paper's name of each branch (IMP-WR, one-shot, FT, RIPN, RPN_1, RPN_2, and
    each registered baseline's `label`)."""
    labels = method_labels()
    return df.assign(method=df["branch"].map(lambda b: labels.get(b, b)))


def points_named(df: pd.DataFrame) -> pd.DataFrame:
    pairs = zip(df["branch"], df["point"], strict=True)
    return df.assign(weights=[palette.point_series(str(b), str(p)) for b, p in pairs])


def present(df: pd.DataFrame, column: str) -> list[str]:
    return [str(v) for v in df[column].unique()]


def series_color(df: pd.DataFrame, column: str, name: str) -> alt.Color:
    """The palette's colours for the series `df[column]` holds, legend titled `name`."""
    return palette.color(column, name, present(df, column), legend=legend())


def method_color(df: pd.DataFrame) -> alt.Color:
    return series_color(df, "method", "method")


def sparsity_color(sparsity: pd.Series | None = None) -> alt.Color:
    """Levels coloured by their sparsity: a gradient legend in percent over the palette's
    fixed 0–100% (so a level has one colour on every chart), labelled at the sparsities in
    `sparsity` (the levels drawn) rather than at round steps up to a 100% no level reaches;
    labels that would overlap are dropped."""
    ticks = {} if sparsity is None else {"values": sorted(set(sparsity.round(4).tolist()))}
    legend = alt.Legend(
        format=".0%",
        type="gradient",
        orient="bottom",
        titleLimit=0,
        labelOverlap="greedy",
        labelSeparation=4,
        **ticks,
    )
    return alt.Color("sparsity:Q", title="sparsity", scale=palette.SPARSITY, legend=legend)


def level_title(what: str, df: pd.DataFrame, level: int) -> str:
    """ "test accuracy at level 5 · 67.2% sparse" (sparsity from the table, when it has one)."""
    sp = df["sparsity"].round(6).unique() if "sparsity" in df.columns else []
    return f"{what} at {level_name(level, float(sp[0]) if len(sp) == 1 else None)}"


def name_of(df: pd.DataFrame, level: int) -> str:
    names = df.loc[df["level"] == level, "level_name"]
    return str(names.iloc[0]) if len(names) else f"level {level}"
