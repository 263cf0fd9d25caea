"""The report's figures and tables of the controls: every spectrum with its loss (the
confound C3's loss-matched control addresses), the instability of each level (Frankle et al.
2020) and the barriers along the paths to min_L (from min_(L−1): Paul et al. 2022; from
Pr_L(min_(L−1))), with the BatchNorm treatment the spectra used. No Streamlit here."""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import pandas as pd

from engine.figures import palette
from engine.figures.chartkit import (
    columns,
    level_x,
    lines_with_points,
    log_axis,
    points_named,
    run_dash,
    series_color,
    tips,
    typed,
    with_runs,
    y,
)
from engine.figures.geometry_charts import path_parts
from engine.replicates import aggregate


def spectra_with_losses(data: dict[str, pd.DataFrame], by: str = "group") -> pd.DataFrame:
    """Per stored spectrum (run or seed, branch, level, point) and loss-matched point: the
    loss at the point on the Hessian's examples and the log-volume, with the series name.
    `by` is "group" (the report's tables, with a seed column) or "run_id" (the app's)."""
    cols = [by, *(["seed"] if by == "group" else []), "level", "weights", "loss"]
    cols += ["log_volume", "k"]
    frames = []
    volume, matched = data.get("volume", pd.DataFrame()), data.get("loss_matched", pd.DataFrame())
    if len(volume):
        frames.append(points_named(volume)[cols])
    if len(matched):
        m = matched[matched["matched"].astype(bool)]
        frames.append(m.assign(weights=palette.LOSS_MATCHED)[cols])
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def one_k(s: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """The rows of the k most spectra used: log-volumes over different k do not compare."""
    k = int(s["k"].mode().iloc[0])
    return k, s[s["k"] == k]


def barriers(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per (group, seed, level, path): the test-error and loss barriers of the paths to min_L
    (by where they start) and between the two copies of the level."""
    cols = ["group", "seed", "level", "path", "barrier_test_error", "barrier_train_loss"]
    rows = []
    for r in data.get("barrier", pd.DataFrame()).to_dict("records"):
        level, name = path_parts(str(r["path"]))
        if name in palette.PATHS and str(r["path"]).startswith("imp:"):
            rows.append({**r, "level": level, "path": name})
    for r in data.get("instability", pd.DataFrame()).to_dict("records"):
        rows.append({**r, "path": palette.INSTABILITY})
    return pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)


@dataclass(frozen=True)
class Controls:
    """The controls' tables, derived once from the report's data: its figures and its
    sections both read them."""

    spectra: pd.DataFrame  # spectra_with_losses: every spectrum and loss-matched point
    barriers: pd.DataFrame  # barriers: the paths to min_L and the instability copies
    batchnorm: pd.DataFrame  # the BatchNorm treatment of each spectrum's point


def controls(data: dict[str, pd.DataFrame]) -> Controls:
    return Controls(
        spectra_with_losses(data), barriers(data), data.get("batchnorm", pd.DataFrame())
    )


def volume_vs_loss(t: pd.DataFrame, by: str = "group") -> alt.Chart:
    """Log-volume against the loss at the point, a line per point (series) through the
    levels and per `by` (group or run; several runs told apart by dash)."""
    dash = {}  # the report's groups are one line each
    if by == "run_id":
        t = with_runs(t)
        dash = run_dash(t)
    color = series_color(t, "weights", "point")
    tip = [typed(t, c) for c in t.columns]
    base = alt.Chart(t).encode(
        alt.X(
            "loss:Q",
            title="loss at the point (Hessian's examples)",
            scale=alt.Scale(type="log"),
            axis=log_axis(),
        ),
        alt.Y("log_volume:Q", title="log-volume proxy", scale=alt.Scale(zero=False)),
        color,
        alt.Detail(f"{by}:N"),
        alt.Order("level:O"),
    )
    line = base.mark_line(strokeWidth=1.2, opacity=0.6).encode(**dash)
    dots = base.mark_circle(size=50).encode(tooltip=tip)
    return alt.layer(line, dots).properties(width=420, height=280)


def barrier_bars(t: pd.DataFrame, title: str) -> alt.Chart:
    """Barriers per level from an `aggregate` table: a bar per path at the mean over seeds,
    a rule over their min–max; several groups side by side within a path's colour."""
    color = series_color(t, "path", "path")
    x = alt.X("level:O", title="level", axis=alt.Axis(labelAngle=0))
    offset = alt.XOffset("series:N")
    t = t.assign(series=t["path"].astype(str) + " · " + t["group"].astype(str))
    tip = [typed(t, c) for c in t.columns]
    mean = alt.Y("mean:Q", title="test-error barrier", axis=alt.Axis(format="%"))
    bars = alt.Chart().mark_bar().encode(x, offset, mean, color, tooltip=tip)
    rule = (
        alt.Chart().mark_rule(strokeWidth=1.5).encode(x, offset, alt.Y("low:Q"), alt.Y2("high:Q"))
    )
    return alt.layer(bars, rule, data=t).properties(width=420, height=280, title=title)


def instability_chart(instability: pd.DataFrame) -> alt.Chart:
    """The app's view: each run's test-error barrier between its two copies, per level;
    several runs told apart by dash, as every other chart of a level's paths."""
    cols = ["run_id", "level", "barrier_test_error", "barrier_train_loss", "copy_seed"]
    df = with_runs(columns(instability, [c for c in cols if c in instability.columns]))
    df = df.assign(path=palette.INSTABILITY)
    return lines_with_points(
        df,
        level_x(),
        y("barrier_test_error"),
        tips(df, cols[1:]),
        color=series_color(df, "path", "path"),
        detail=alt.Detail(["run_id:N"]),
        **run_dash(df),
    ).properties(title="Instability: test-error barrier between two copies of each level")


def control_figures(c: Controls) -> dict[str, tuple[str, pd.DataFrame, alt.Chart]]:
    """name -> (title, CSV table, chart) for each control whose data is stored."""
    out: dict[str, tuple[str, pd.DataFrame, alt.Chart]] = {}
    s, b = c.spectra, c.barriers
    if len(s):
        k, s = one_k(s)
        loss = aggregate(s, ["group", "weights", "level"], "loss")
        vol = aggregate(s, ["group", "weights", "level"], "log_volume")
        t = loss.rename(columns={"mean": "loss"})[["group", "weights", "level", "n", "loss"]]
        t = t.assign(log_volume=vol["mean"].to_numpy())
        title = (f"Fig. 5 with losses: each top-{k} spectrum's log-volume against its loss "
                 "(a line per point through the levels; mean over seeds)")  # fmt: skip
        out["fig5-volume-vs-loss"] = (title, t, volume_vs_loss(t).properties(title=title))
    if len(b):
        t = aggregate(b, ["group", "level", "path"], "barrier_test_error")
        inst = t[t["path"] == palette.INSTABILITY]
        if len(inst):
            title = ("Instability (Frankle et al. 2020): test-error barrier between two copies "
                     "of each level trained from its start on different data orders")  # fmt: skip
            out["instability"] = (title, inst, barrier_bars(inst, title))
        paths = t[t["path"] != palette.INSTABILITY]
        if len(paths):
            title = ("Test-error barriers on the paths to min_L: from min_(L−1) (successive "
                     "levels, Paul et al. 2022) and from Pr_L(min_(L−1))")  # fmt: skip
            out["barriers-levels"] = (title, paths, barrier_bars(paths, title))
    return out


def _g(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.3g}"


def _iv(values: pd.Series) -> str:
    # Only the report's tables need statistics: the pages draw these charts without them, and
    # scipy.stats would load scipy.sparse.linalg into the Streamlit process.
    from engine.stats import interval

    iv = interval(values.to_numpy())
    if iv.n < 2:
        return f"{_g(iv.mean)} (1 seed)"
    return f"{_g(iv.mean)} [{_g(iv.t_low)}, {_g(iv.t_high)}]"


def _batchnorm_line(bn: pd.DataFrame, group: str) -> str:
    g = bn[bn["group"] == group] if len(bn) else bn
    if g.empty:
        return f"- **{group}**: no spectrum stored."
    if g["model_has_batchnorm"].isna().all():
        return f"- **{group}**: BatchNorm treatment not recorded (spectra predate it)."
    if not g["model_has_batchnorm"].fillna(False).astype(bool).any():
        return f"- **{group}**: the model has no BatchNorm."
    done = g["recalibrated"].fillna(False).astype(bool)
    modes = ", ".join(sorted(str(m) for m in g["mode"].dropna().unique()))
    return (
        f"- **{group}**: BatchNorm statistics recomputed on the fixed training subset at "
        f"{int(done.sum())} of {len(g)} spectrum points (bn_recalibrate = {modes}); the "
        "others use the statistics stored with their weights."
    )


def control_sections(c: Controls, groups: list[str]) -> list[str]:
    """Markdown: the BatchNorm treatment, every spectrum with its loss, and the barriers per
    level with 95% t intervals over seeds."""
    lines = ["## Spectra with their losses, and barriers", "", "BatchNorm at the spectra:"]
    lines += [_batchnorm_line(c.batchnorm, g) for g in groups] + [""]
    s, b = c.spectra, c.barriers
    if len(s):
        lines += [
            "Every spectrum with the loss at its point (mean over seeds; same examples as the "
            "Hessian). A point of higher loss sits higher on its basin's walls, which is what "
            "C3-loss-matched controls for.",
            "",
            "| group | level | point | seeds | k | loss | log-volume |",
            "|---|---|---|---|---|---|---|",
        ]
        keys = ["group", "level", "weights", "k"]
        for (g, lv, w, k), r in s.groupby(keys, sort=True):
            lines.append(
                f"| {g} | {lv} | {w} | {r['seed'].nunique()} | {k} | {_g(r['loss'].mean())} | "
                f"{_g(r['log_volume'].mean())} |"
            )
        lines.append("")
    if len(b):
        lines += [
            "Test-error barriers per level: mean over seeds [95% t interval]. Instability is "
            "the barrier between min_L and a copy trained from start_L on another data order.",
            "",
            "| group | level | path | seeds | test-error barrier | loss barrier |",
            "|---|---|---|---|---|---|",
        ]
        for (g, lv, path), r in b.groupby(["group", "level", "path"], sort=True):
            lines.append(
                f"| {g} | {lv} | {path} | {r['seed'].nunique()} | "
                f"{_iv(r['barrier_test_error'])} | {_iv(r['barrier_train_loss'])} |"
            )
        lines.append("")
    return lines
