"""The loss-matched control: the point on level L's own trajectory at Pr_L(min_(L−1))'s
loss, with its top-k spectrum and log-volume (the search is in `engine.analysis.loss_match`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.analysis.options import BATCHNORM, HESSIAN_DATA, LEVELS, TOP_K
from engine.analysis.points import Point, trajectory_points
from engine.analysis.registry import Analysis, Table, register
from engine.analysis.tables import ident
from engine.analysis.units import Unit, each_level
from engine.bounds import TOP_K_BOUNDS
from engine.store import Store

if TYPE_CHECKING:
    from engine.analysis.context import Context


def unit(store: Store, request: Mapping[str, Any], opts: dict, branch: str, level: int) -> Unit:
    """Level `level`'s control: Pr_L(min_(L−1)) and every stored checkpoint of the level."""
    own = trajectory_points(store, request["run_id"], "imp", level)
    points = {"target": Point("imp", level, "projected_prev")}
    points |= {f"ckpt@{it}": p for it, p in own.items()}
    label = f"imp level {level}"
    return Unit("loss_matched", {"level": level}, points, opts, label, list(own.items()))


def compute(ctx: Context, unit: Unit) -> dict:
    from engine.analysis import loss_match

    return loss_match.compute(ctx, unit)


def control(rec: dict) -> list[dict]:
    """One row per level: the target loss, where on the trajectory it was matched (NaN and a
    reason where it was not), and the volume there."""
    r, nan = rec["result"], math.nan
    row = ident(rec, "level") | {"matched": r["matched"]}
    row |= {"target_loss": r["target"]["loss"], "reason": r.get("reason", "")}
    if not r["matched"]:
        return [row | dict.fromkeys(["loss", "alpha", "epoch", "k", "log_volume"], nan)]
    values = r["eigenvalues"]
    return [
        row
        | {k: r[k] for k in ("loss", "alpha", "epoch")}
        | {"bracket_a": r["bracket"]["a"]["point"], "bracket_b": r["bracket"]["b"]["point"]}
        | {"k": r["volume"]["k"], "log_volume": r["volume"]["log_volume"]}
        | {"lambda_max": values[0] if values else nan}
    ]


def spectra(rec: dict) -> list[dict]:
    base = ident(rec, "level")
    values = rec["result"].get("eigenvalues", [])
    return [base | {"rank": i + 1, "eigenvalue": v} for i, v in enumerate(values)]


COLUMNS = (
    "run_id",
    "level",
    "matched",
    "target_loss",
    "loss",
    "alpha",
    "epoch",
    "bracket_a",
    "bracket_b",
    "k",
    "log_volume",
    "lambda_max",
    "reason",
)

register(
    Analysis(
        name="loss_matched",
        bounds=TOP_K_BOUNDS,
        help="The loss-matched control: the point on level L's own trajectory whose "
        "training loss equals Pr_L(min_(L−1))'s (interpolated between the two stored "
        "checkpoints that bracket it), with its top-k spectrum and log-volume.",
        options=(LEVELS, *TOP_K, *HESSIAN_DATA, *BATCHNORM),
        plan=each_level(unit),
        compute=compute,
        tables=(
            Table("loss_matched", control, COLUMNS),
            Table("loss_matched_spectra", spectra, ("run_id", "level", "rank", "eigenvalue")),
        ),
        headline=lambda r: r.get("loss", math.nan),  # at the matched point; NaN: none matched
        imp_only=True,
        first_look=lambda spec: {"k": 20},
        page="spectra",
        chart=True,
        order=90,
    )
)
