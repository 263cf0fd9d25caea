"""The Hessian trace at a level's points, estimated by Hutch++."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.analysis.options import AT_POINTS, BATCHNORM, HESSIAN_DATA, Option, integer
from engine.analysis.registry import Analysis, Table, register
from engine.analysis.tables import POINT, point_row
from engine.analysis.units import Unit, at_points

if TYPE_CHECKING:
    from engine.analysis.context import Context

SAMPLES = Option("samples", "Hutch++ probe vectors (products).", 100, integer(2, 100_000))


def compute(ctx: Context, unit: Unit) -> dict:
    from engine.analysis.hessian import hutchinson_trace
    from engine.analysis.spectra import plain

    o = unit.options
    at, record = ctx.loss_point(unit.points["point"], o)
    trace = hutchinson_trace(at, n_samples=o["samples"], seed=o["seed"])
    return {**plain(trace), "data": record}


def rows(rec: dict) -> list[dict]:
    r = rec["result"]
    return [point_row(rec) | {"trace": r["mean"], "stderr": r["stderr"]}]


register(
    Analysis(
        name="trace",
        help="Hutch++ estimate of the Hessian trace on the unpruned coordinates.",
        options=(*AT_POINTS, SAMPLES, *HESSIAN_DATA, *BATCHNORM),
        plan=at_points(),
        compute=compute,
        tables=(Table("trace", rows, (*POINT, "trace", "stderr")),),
        headline=lambda r: r["mean"],
        version=3,  # 2: BatchNorm recalibrated at projected points; 3: Hutch++
        first_look=lambda spec: {"samples": 30},
        page="spectra",
        chart=True,
        order=50,
    )
)
