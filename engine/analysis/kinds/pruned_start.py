"""The projected solution Pr_L(min_(L−1)): its loss and accuracy before any retraining."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.analysis.options import BATCHNORM, BRANCHES, LEVELS
from engine.analysis.registry import Analysis, Table, register
from engine.analysis.tables import point_row
from engine.analysis.units import Unit, at_points

if TYPE_CHECKING:
    from engine.analysis.context import Context

POINTS = ("projected_prev", "solution")  # what it reads of a level (no start: none trained)


def compute(ctx: Context, unit: Unit) -> dict:
    from engine.analysis import geometry

    state = ctx.at(unit.points["point"], unit.options).state
    return geometry.metrics(ctx.model, state, ctx.data)


def rows(rec: dict) -> list[dict]:
    return [point_row(rec) | rec["result"]]


register(
    Analysis(
        name="pruned_start",
        help="Train/test loss and accuracy of Pr_L(min_(L−1)) (pruning before any "
        "retraining) next to the level's solution.",
        options=(BRANCHES, LEVELS, *BATCHNORM),
        plan=at_points(POINTS),
        needs=POINTS,
        compute=compute,
        tables=(
            Table(
                "pruned_start",
                rows,
                (
                    "run_id",
                    "branch",
                    "level",
                    "point",
                    "train_loss",
                    "train_acc",
                    "test_loss",
                    "test_acc",
                ),
            ),
        ),
        headline=lambda r: r["train_loss"],
        version=2,  # BatchNorm recalibrated at projected points
        first_look=lambda spec: {},
        chart=True,
        order=20,
    )
)
