"""Distances (Fig. 3): ‖start_L − Pr_L(min_(L−1))‖ and ‖start_L − min_L‖ per level."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from engine.analysis.options import BRANCHES, LEVELS, Option, boolean, choice
from engine.analysis.registry import Analysis, Table, register
from engine.analysis.tables import each_row
from engine.analysis.units import Unit, whole_level

if TYPE_CHECKING:
    from engine.analysis.context import Context

NORM = Option(
    "norm",
    "Distance shown: over prunable weights or all parameters (both are stored).",
    "prunable",
    choice("prunable", "all"),
    result=False,
    choices=("prunable", "all"),
)
NORMALISED = Option(
    "normalised",
    "Show distances divided by ‖start_L‖ (both are stored).",
    False,
    boolean,
    result=False,
)


def compute(ctx: Context, unit: Unit) -> dict:
    from engine.analysis import geometry

    start, prev, sol = (
        ctx.resolve(unit.points[w]) for w in ("start", "projected_prev", "solution")
    )
    names = {"prunable": list(start.mask), "all": geometry.parameter_names(ctx.model)}
    targets = {"projected_prev": prev.state, "solution": sol.state}
    return {"rows": geometry.distances(start.state, targets, names)}


def summary(request: dict, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The chosen norm's distances, one column per target."""
    df = frames["distances"]
    df = df[(df["norm"] == request["norm"]) & (df["normalised"] == request["normalised"])]
    wide = df.pivot_table(index=["branch", "level"], columns="to", values="distance")
    return wide.reset_index().sort_values(["branch", "level"], key=_imp_first)


def _imp_first(col: pd.Series) -> pd.Series:
    return col.map(lambda b: (b != "imp", b)) if col.name == "branch" else col


register(
    Analysis(
        name="distances",
        help="‖start_L − Pr_L(min_(L−1))‖ and ‖start_L − min_L‖ per level (Fig. 3): over "
        "prunable weights and over all parameters, plain and divided by ‖start_L‖.",
        options=(BRANCHES, LEVELS, NORM, NORMALISED),
        plan=whole_level("start", "projected_prev", "solution"),
        compute=compute,
        tables=(
            Table(
                "distances",
                each_row("branch", "level"),
                ("run_id", "branch", "level", "norm", "normalised", "to", "distance"),
            ),
        ),
        headline=lambda r: r["rows"][-1]["distance"],
        summary=summary,
        first_look=lambda spec: {},
        chart=True,
        order=10,
    )
)
