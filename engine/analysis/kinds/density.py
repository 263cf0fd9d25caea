"""The Hessian eigenvalue density at a level's points, by stochastic Lanczos quadrature."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from engine.analysis.options import AT_POINTS, BATCHNORM, HESSIAN_DATA, Option, integer
from engine.analysis.registry import Analysis, Table, register
from engine.analysis.tables import POINT, point_row
from engine.analysis.units import Unit, at_points
from engine.bounds import DENSITY_BOUNDS

if TYPE_CHECKING:
    from engine.analysis.context import Context

VECTORS = Option("vectors", "Lanczos start vectors for the density.", 4, integer(1, 1000))
STEPS = Option("steps", "Lanczos steps per start vector.", 80, integer(2, 10_000))


def compute(ctx: Context, unit: Unit) -> dict:
    from engine.analysis.hessian import spectral_density
    from engine.analysis.spectra import plain

    o = unit.options
    at, record = ctx.loss_point(unit.points["point"], o)
    density = spectral_density(at, n_vectors=o["vectors"], steps=o["steps"], seed=o["seed"])
    return {**plain(density), "data": record}


def rows(rec: dict) -> list[dict]:
    r = rec["result"]
    pairs = zip(r["grid"], r["density"], strict=True)
    return [point_row(rec) | {"eigenvalue": g, "density": d} for g, d in pairs]


def summary(request: dict, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per point: the span of the eigenvalues and the density's mode."""
    point = ["branch", "level", "point"]
    df = frames["density"]
    peak = df.loc[df.groupby(point)["density"].idxmax()].set_index(point)["eigenvalue"]
    span = df.groupby(point)["eigenvalue"].agg(["min", "max"])
    return span.assign(mode=peak).reset_index()


register(
    Analysis(
        name="density",
        bounds=DENSITY_BOUNDS,
        help="Hessian eigenvalue density by stochastic Lanczos quadrature.",
        options=(*AT_POINTS, VECTORS, STEPS, *HESSIAN_DATA, *BATCHNORM),
        plan=at_points(),
        compute=compute,
        tables=(Table("density", rows, (*POINT, "eigenvalue", "density")),),
        # 2: full reorthogonalization; 3: BatchNorm recalibrated; 4: block SLQ
        version=4,
        summary=summary,
        first_look=lambda spec: {"vectors": 1, "steps": 40},
        page="spectra",
        chart=True,
        order=60,
    )
)
