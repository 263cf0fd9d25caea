"""The top-k Hessian spectrum (Fig. 5) at a level's points, and the basin log-volume proxy."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from engine.analysis.options import AT_POINTS, BATCHNORM, HESSIAN_DATA, TOP_K
from engine.analysis.registry import Analysis, Table, register
from engine.analysis.tables import POINT, point_row
from engine.analysis.units import Unit, at_points
from engine.bounds import TOP_K_BOUNDS

if TYPE_CHECKING:
    from engine.analysis.context import Context


def compute(ctx: Context, unit: Unit) -> dict:
    from engine.analysis.spectra import spectrum_result

    r = ctx.at(unit.points["point"], unit.options)
    return spectrum_result(ctx, r.state, r.mask, unit.options)


def spectra(rec: dict) -> list[dict]:
    values = rec["result"]["eigenvalues"]
    return [point_row(rec) | {"rank": i + 1, "eigenvalue": v} for i, v in enumerate(values)]


def volume(rec: dict) -> list[dict]:
    """The volume proxy with the loss at the point, on the Hessian's examples (NaN in
    results computed before spectra recorded it)."""
    r = rec["result"]
    return [point_row(rec) | r["volume"] | {"loss": r.get("loss", math.nan)}]


def batchnorm(rec: dict) -> list[dict]:
    """What a spectrum's record says about BatchNorm at its point (None where it predates the
    record)."""
    bn = rec.get("batchnorm") or {}
    done = bool(bn.get("recalibrated")) if bn else None
    keys = {"mode": bn.get("mode"), "model_has_batchnorm": bn.get("model_has_batchnorm")}
    return [point_row(rec) | keys | {"recalibrated": done}]


def summary(request: dict, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per point: the volume, the top eigenvalue and the k-th."""
    point = ["branch", "level", "point"]
    eig = frames["spectra"].groupby(point)["eigenvalue"]
    top = pd.DataFrame({"top": eig.max(), "lambda_k": eig.min()}).reset_index()
    return frames["volume"].drop(columns="run_id").merge(top, on=point)


register(
    Analysis(
        name="spectrum",
        bounds=TOP_K_BOUNDS,
        help="Top-k Hessian eigenvalues on the unpruned coordinates (Fig. 5) and the "
        "basin log-volume proxy −½ Σ log λ_i over the positive ones.",
        options=(*AT_POINTS, *TOP_K, *HESSIAN_DATA, *BATCHNORM),
        plan=at_points(),
        compute=compute,
        tables=(
            Table("spectra", spectra, (*POINT, "rank", "eigenvalue")),
            Table(
                "volume",
                volume,
                (*POINT, "k", "k_positive", "n_negative", "log_volume", "loss"),
            ),
            Table("batchnorm", batchnorm, (*POINT, "mode", "model_has_batchnorm", "recalibrated")),
        ),
        headline=lambda r: r["eigenvalues"][0] if r["eigenvalues"] else math.nan,
        # 2: full reorthogonalization (partial gave ghost eigenvalues); 3: BatchNorm
        # recalibrated at projected points, the point's loss recorded; 4: block Lanczos
        version=4,
        summary=summary,
        first_look=lambda spec: {"k": 20},
        page="spectra",
        chart=True,
        order=40,
    )
)
