"""Instability (Frankle et al. 2020): a second copy of each level trained from its start, and
the error barrier between it and min_L (the training is in `engine.analysis.instability`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.analysis.options import BN_RESET, LEVELS, N, Option, integer
from engine.analysis.registry import Analysis, Table, register
from engine.analysis.tables import PATH_ROW, each_row, ident
from engine.analysis.units import Unit, whole_level

if TYPE_CHECKING:
    from engine.analysis.context import Context

COPY = Option(
    "copy",
    "Which second copy: each number trains its own from the level's start, on the data "
    "order of a seed derived from the run's data-order seed and it.",
    1,
    integer(1, 1000),
)
BARRIERS = ("barrier_test_error", "barrier_train_loss")


def compute(ctx: Context, unit: Unit) -> dict:
    from engine.analysis import instability

    return instability.compute(ctx, unit)


def barrier(rec: dict) -> list[dict]:
    r = rec["result"]
    return [
        ident(rec, "level")
        | {k: r[k] for k in BARRIERS}
        | {"copy_seed": r["copies"]["b"]["data_order_seed"]}
    ]


register(
    Analysis(
        name="instability",
        help="Instability (Frankle et al. 2020): a second copy of each level trained from "
        "its start on another data order, and the error barrier between it and min_L. "
        "Trains one more network per level.",
        options=(LEVELS, N, BN_RESET, COPY),
        plan=whole_level("start", "solution"),
        compute=compute,
        tables=(
            Table("instability", barrier, ("run_id", "level", *BARRIERS, "copy_seed")),
            Table("instability_path", each_row("level"), ("run_id", "level", "alpha", *PATH_ROW)),
        ),
        headline=lambda r: r["barrier_test_error"],
        needs=("start", "solution"),
        trains=True,
        imp_only=True,
        chart=True,
        order=100,
    )
)
