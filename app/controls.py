"""The comparison controls above the curve charts: x axis, smoothing, grouping and band.

Every control is kept in the URL under the same key on every page (`x`, `smooth`, `group`,
`group_by`, `band`), so a shared link restores the view and moving between pages keeps it.
What the controls do to the tables is `engine.figures.curves` (pure); this module only draws them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from app import data, selection, ui
from engine.figures.curves import X_AXES, CurveView, grouped, smooth
from engine.groups import BANDS, SEED, differing

SMOOTHING = [0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99]


def specs(runs: list[str]) -> dict[str, Mapping[str, Any]]:
    """run id -> its spec (as stored), for the runs shown."""
    table = data.runs()
    known = dict(zip(table["run_id"], table["spec"], strict=True))
    return {r: known[r] for r in runs if r in known}


def curve_view(runs: list[str], curves: bool = True) -> CurveView:
    """Draw the controls in one row; their values as a `CurveView`. Charts per level rather
    than per epoch (`curves=False`) have no x-axis choice and no smoothing."""
    fields = differing(specs(runs))
    cols = st.columns(4) if curves else [None, None, *st.columns(4)[:2]]
    x, weight = "epoch", 0.0
    if curves:
        with cols[0]:
            x = ui.choose("x axis", "x", list(X_AXES), "epoch", format_func=X_AXES.get)
        with cols[1]:
            weight = st.select_slider(
                "Smoothing",
                SMOOTHING,
                **selection.synced("smooth", 0.0, SMOOTHING, cast=float),
                help="Exponential moving average per curve, as TensorBoard's: the raw curve "
                "is drawn faintly behind.",
            )
    with cols[2]:
        group = ui.toggle(
            "Group runs",
            "group",
            False,
            help="Mean over the runs that agree on the chosen spec fields, with a band; by "
            "default every field that differs but the seed, so seeds are averaged.",
        )
        by: list[str] = []
        if group:
            by = st.multiselect(
                "by",
                fields,
                **selection.synced("group_by", [], fields, multiple=True),
                placeholder="every differing field but " + SEED,
                label_visibility="collapsed",
            )
    with cols[3]:
        kind = ui.choose(
            "Band", "band", list(BANDS), "sd", format_func=BANDS.get, disabled=not group
        )
    return CurveView(x=x, smoothing=float(weight), group_by=tuple(by) if group else None, band=kind)


def apply(
    df: pd.DataFrame, view: CurveView, runs: list[str], keys: list[str], value: str
) -> pd.DataFrame:
    """`df` as the view shows `value`: smoothed along the x axis within each curve, then
    each group's mean and band per `keys` (runs stay apart when grouping is off)."""
    series = [k for k in ("run_id", "branch", "level") if k in df.columns]
    if view.x in df.columns and view.x in keys:
        df = smooth(df, value, view.smoothing, series, view.x)
    if view.group_by is None or df.empty:
        return df
    return grouped(df, specs(runs), view.group_by, keys, value, view.band)
