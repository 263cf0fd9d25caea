"""How a curve chart is viewed: its x axis, smoothing, log axes and grouping of runs.

These are pure transforms of the tidy tables (no Streamlit, no Altair), applied by the pages
before a builder draws: `smooth` is TensorBoard's debiased exponential moving average per
series, keeping the raw values beside it so the chart can draw them faintly behind;
`grouped` replaces the runs of each group by the group's mean with a band (`engine.groups`),
labelled with the group's number of runs, in the shape a run's rows have, so every builder
draws a group as it draws a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine.groups import band, group_labels

X_AXES = {"epoch": "epoch", "iteration": "iteration", "seconds": "wall time (s)"}
RAW = "_raw"  # suffix of the unsmoothed column kept beside a smoothed one
LOW, HIGH = "band_low", "band_high"


@dataclass(frozen=True)
class CurveView:
    """The controls' values (each kept in the URL by the page)."""

    x: str = "epoch"
    smoothing: float = 0.0  # 0 = raw; TensorBoard's slider, up to 0.99
    group_by: tuple[str, ...] | None = None  # None: each run; (): every differing field but seed
    band: str = "sd"


def smooth(df: pd.DataFrame, value: str, weight: float, series: list[str], x: str) -> pd.DataFrame:
    """`value` smoothed along `x` within each `series` (e.g. run, branch, level) with the
    debiased EMA s_t = (w s_(t−1) + (1 − w) v_t) / (1 − w^t); the raw values stay in
    `value + "_raw"`. Weight 0 returns the table unchanged."""
    if weight <= 0 or df.empty:
        return df
    out = df.sort_values([*series, x]).copy()
    out[value + RAW] = out[value]

    def ema(values: pd.Series) -> pd.Series:
        last, smoothed = 0.0, []
        for i, v in enumerate(values.to_numpy(dtype=float), start=1):
            last = weight * last + (1 - weight) * v
            smoothed.append(last / (1 - weight**i))
        return pd.Series(smoothed, index=values.index)

    out[value] = out.groupby(series, sort=False)[value].transform(ema)
    return out


def grouped(
    df: pd.DataFrame,
    specs: Mapping[str, Mapping[str, Any]],
    fields: tuple[str, ...] | None,
    keys: list[str],
    value: str,
    kind: str = "sd",
) -> pd.DataFrame:
    """Each group's mean of `value` per `keys` cell, with `band_low`/`band_high`, n, s.d.
    and s.e.; `run_id` and `run` become the group's label with its number of runs, so the
    builders draw and name a group as they do a run. `fields` None or () groups by every
    field that differs among the runs but the seed."""
    if df.empty:
        return df
    labels = group_labels({r: specs[r] for r in df["run_id"].unique()}, fields or None)
    frame = df.assign(group=df["run_id"].map(labels))
    counts = frame.groupby("group")["run_id"].nunique()
    out = band(frame, ["group", *keys], value, kind)
    name = out["group"].map(lambda g: f"{g} (n={counts[g]})")
    keep = [c for c in out.columns if c not in ("group", "mean", "low", "high")]
    return out[keep].assign(
        run_id=name, run=name, **{value: out["mean"], LOW: out["low"], HIGH: out["high"]}
    )
