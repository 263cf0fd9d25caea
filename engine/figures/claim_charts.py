"""A claim's paired effect per level as a figure: where it holds is read off the zero line.

Each figure holds the claims that share one effect (C1's baselines of one metric; C2; each
C3 statistic): per level, every seed's effect as a dot, and the mean over seeds with its 95%
t interval, against a dashed zero. Levels are labelled with their sparsity, so the figure is
also the effect as a function of sparsity. No Streamlit, so the report and the CLI draw it.
"""

from __future__ import annotations

import math

import altair as alt
import pandas as pd

from engine.claims import Claim
from engine.figures import palette
from engine.figures.chartkit import series_color, typed

TIP = ["series", "level", "sparsity", "n", "mean", "t_low", "t_high", "mark"]
TIP += ["sign_low", "sign_high", "sign_confidence"]


def _at(level: int, sparsity: float) -> str:
    """ "4 · 59%": the level and its sparsity, as one axis label."""
    return str(level) if math.isnan(sparsity) else f"{level} · {sparsity:.0%}"


def claim_frames(claims: list[Claim]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per level, per seed) rows of `claims` (one figure's), each with its `series` and
    its x label `at`."""
    levels, seeds = [], []
    for c in claims:
        pairs = zip(c.levels["level"], c.levels["sparsity"], strict=True)
        at = {int(lv): _at(int(lv), sp) for lv, sp in pairs}
        levels.append(c.levels.assign(series=c.series, at=c.levels["level"].map(at)))
        t = c.table[["seed", "level", "effect"]]
        seeds.append(t.assign(series=c.series, at=t["level"].map(at)))
    return pd.concat(levels, ignore_index=True), pd.concat(seeds, ignore_index=True)


def effect_chart(levels: pd.DataFrame, seeds: pd.DataFrame, title: str, axis: str) -> alt.Chart:
    """Per level (x, labelled "level · sparsity"): each seed's effect (small dots) and the
    mean over seeds with its 95% t interval (a filled point and a bar), coloured by series
    (a baseline keeps its method's colour, IMP-WR its blue) and dodged when there are several;
    a dashed line at zero, above which the claim holds."""
    order = list(dict.fromkeys(levels.sort_values("level")["at"]))
    x = alt.X("at:N", title="level · sparsity", sort=order, axis=alt.Axis(labelAngle=0))
    color = series_color(levels, "series", "compared with")
    several = levels["series"].nunique() > 1
    dodge = {"xOffset": alt.XOffset("series:N", sort=list(palette.SERIES))} if several else {}
    y_title = f"{axis} (> 0: the claim holds)"
    zero = (
        alt.Chart(pd.DataFrame({"zero": [0.0]}))
        .mark_rule(color=palette.GREY, strokeDash=[4, 3])
        .encode(y="zero:Q")
    )
    bars = (
        alt.Chart(levels)
        .mark_errorbar(ticks=True)
        .encode(x, alt.Y("t_low:Q", title=y_title), alt.Y2("t_high:Q"), color=color, **dodge)
    )
    means = (
        alt.Chart(levels)
        .mark_point(filled=True, size=70)
        .encode(
            x,
            alt.Y("mean:Q", title=y_title, axis=alt.Axis(format=".3~g")),
            color=color,
            tooltip=[typed(levels, c) for c in TIP],
            **dodge,
        )
    )
    dots = (
        alt.Chart(seeds)
        .mark_point(size=22, opacity=0.7)
        .encode(
            x,
            alt.Y("effect:Q"),
            color=color,
            tooltip=[typed(seeds, c) for c in ("series", "seed", "level", "effect")],
            **dodge,
        )
    )
    return alt.layer(zero, bars, dots, means).properties(width=420, height=280, title=title)


def claim_figures(claims: list[Claim], groups: list[str]) -> dict[str, tuple]:
    """figure name -> (title, the per-level CSV table, chart) for each figure of `claims` with
    data: one per group and shared effect, named "claim-<figure>-<group index>"."""
    out = {}
    for gi, group in enumerate(groups):
        figures: dict[str, list[Claim]] = {}
        for c in claims:
            if c.group == group and len(c.levels):
                figures.setdefault(c.figure, []).append(c)
        for fig, members in figures.items():
            levels, seeds = claim_frames(members)
            title = f"{fig}: paired effect per level (mean over seeds, 95% t interval; dots: seeds)"
            title += f" · {group}" if len(groups) > 1 else ""
            chart = effect_chart(levels, seeds, title, members[0].axis)
            out[figure_name(fig, gi)] = (title, levels, chart)
    return out


def figure_name(figure: str, group_index: int) -> str:
    return f"claim-{figure}-{group_index}"
