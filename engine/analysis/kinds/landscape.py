"""2-D training-loss surfaces around a point, in filter-normalised random directions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from engine.analysis.options import (
    AT_POINTS,
    BATCHNORM,
    EVAL_SET,
    HESSIAN_DATA,
    Option,
    integer,
    real,
)
from engine.analysis.registry import Analysis, Table, register
from engine.analysis.tables import point_row
from engine.analysis.units import Unit, at_points

if TYPE_CHECKING:
    from engine.analysis.context import Context

GRID = Option("grid", "Landscape grid points per axis.", 21, integer(1, 1001))
SPAN = Option(
    "span",
    "Landscape half-width: coordinates run over [-span, span] in each direction.",
    1.0,
    real(0.0, 1e6),
)
COLUMNS = ("run_id", "branch", "level", "x", "y", "train_loss")


def compute(ctx: Context, unit: Unit) -> dict:
    from engine.analysis import landscape

    o = unit.options
    at, record = ctx.loss_point(unit.points["point"], o)
    surf = landscape.surface(at, o["grid"], o["span"], o["seed"])
    return {**surf, "data": record}


def rows(rec: dict) -> list[dict]:
    r = rec["result"]
    return [
        point_row(rec) | {"x": a, "y": b, "train_loss": r["train_loss"][i][j]}
        for i, a in enumerate(r["coords"])
        for j, b in enumerate(r["coords"])
    ]


def centre(result: dict) -> float:
    values = result["train_loss"]
    return values[len(values) // 2][len(values) // 2]


def summary(request: dict, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per point: the surface's range and the loss at the point itself."""
    df, keys = frames["landscape"], ["branch", "level", "point"]
    near = df.assign(r=df["x"].abs() + df["y"].abs()).sort_values("r").groupby(keys).first()
    span = df.groupby(keys)["train_loss"].agg(["min", "max"])
    return span.assign(at_point=near["train_loss"]).reset_index()


register(
    Analysis(
        name="landscape",
        help="2-D training-loss surface around a point in filter-normalised random "
        "directions restricted to the mask (Li et al. 2018).",
        options=(*AT_POINTS, *HESSIAN_DATA, EVAL_SET, *BATCHNORM, GRID, SPAN),
        plan=at_points(),
        compute=compute,
        tables=(
            Table(
                "landscape",
                rows,
                COLUMNS,
                keep=lambda rec: rec["unit"]["point"] == "solution",  # the app's heatmap
                cli_columns=(*COLUMNS[:3], "point", *COLUMNS[3:]),
            ),
        ),
        headline=centre,
        version=2,  # BatchNorm recalibrated at projected points
        default_points=("solution",),
        summary=summary,
        first_look=lambda spec: {"levels": str(spec.prune.levels)},  # the last level only
        page="landscape",
        chart=True,
        order=70,
    )
)
