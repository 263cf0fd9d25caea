"""The projected trajectory (Fig. 4): level L's loss at each stored epoch against level L−1's
checkpoint of the same iteration projected on m_L."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from engine.analysis.options import BATCHNORM, EVAL_SET, HESSIAN_DATA, LEVELS
from engine.analysis.points import Point, exists, trajectory_points
from engine.analysis.registry import Analysis, Table, register
from engine.analysis.tables import each_row
from engine.analysis.units import Unit, each_level
from engine.store import Store

if TYPE_CHECKING:
    from engine.analysis.context import Context

COLUMNS = ("run_id", "level", "epoch", "series", "train_loss")


def unit(store: Store, request: Mapping[str, Any], opts: dict, branch: str, level: int) -> Unit:
    """Level `level`'s checkpoints paired with level L−1's of the same iteration."""
    run_id = request["run_id"]
    cur = trajectory_points(store, run_id, "imp", level)
    prev = trajectory_points(store, run_id, "imp", level - 1)
    pairs = [(it, cur[it], prev[it]) for it in cur if it in prev]
    points = {f"{role}@{it}": p for it, a, b in pairs for role, p in (("cur", a), ("prev", b))}
    return Unit("trajectory", {"level": level}, points, opts, f"imp level {level}", pairs)


def previous_finished(store: Store, run_id: str, branch: str, level: int) -> str | None:
    if not exists(store, run_id, Point(branch, level - 1)):
        return f"level {level - 1} is not finished"
    return None


def compute(ctx: Context, unit: Unit) -> dict:
    from engine import masks as M
    from engine.analysis import geometry

    x, y, record = ctx.examples(unit.options)
    ipe, rows = ctx.iters_per_epoch, []
    for it, cur_point, prev_point in unit.extra:
        cur, prev = ctx.at(cur_point, unit.options), ctx.resolve(prev_point)
        projected = M.project(prev.state, cur.mask)
        projected = ctx.batchnorm(projected, unit.options, True, f"{prev_point} on m_L")
        for series, state in (("level L", cur.state), ("level L-1 projected", projected)):
            loss = geometry.loss(ctx.model, state, x, y)
            rows.append({"iteration": it, "epoch": it / ipe, "series": series, "train_loss": loss})
    return {"rows": rows, "data": record}


def summary(request: dict, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per epoch, one column per series."""
    df = frames["trajectory"]
    wide = df.pivot_table(index=["level", "epoch"], columns="series", values="train_loss")
    return wide.reset_index()


register(
    Analysis(
        name="trajectory",
        help="Level L's loss at each stored epoch against level L−1's checkpoint of the "
        "same iteration projected on m_L (Fig. 4), recomputed in eval mode.",
        options=(LEVELS, *HESSIAN_DATA, EVAL_SET, *BATCHNORM),
        plan=each_level(unit),
        compute=compute,
        tables=(Table("trajectory", each_row("level"), COLUMNS),),
        headline=lambda r: r["rows"][-1]["train_loss"],
        version=2,  # BatchNorm recalibrated at projected points
        imp_only=True,
        level_problem=previous_finished,
        summary=summary,
        first_look=lambda spec: {},
        chart=True,
        order=30,
    )
)
