"""Stochastic trace estimators on a symmetric operator given by batched products.

Hutchinson's estimator averages vᵀAv over random sign vectors v; its variance is
2‖A‖²_F − 2Σᵢ A²ᵢᵢ, so a few large eigenvalues — the Hessian of a trained network has them —
dominate it. Hutch++ (Meyer, Musco, Musco & Woodruff 2021) spends a third of its products on
A S for random S, takes the exact trace of A on Q = orth(A S), which holds those large
eigenvalues, and a third on Q's products; Hutchinson's estimator on the deflated operator
(I − QQᵀ) A (I − QQᵀ) takes the last third. Its error falls as 1/m rather than 1/√m for a
spectrum that decays. Both are unbiased for any Q, so conditional on Q the standard error is
that of the deflated part, from its own samples.

`hutchpp` is pure: it takes the operator's `matmat` (rows in, rows out) and a source of random
sign rows, so a test can hand it an explicit matrix and its exact trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from engine.analysis.block_lanczos import dots, orthonormal_rows

METHODS = ("hutch++", "hutchinson")


@dataclass
class TraceEstimate:
    """`mean` ≈ tr(A) = `low_rank` (exact trace on a `rank`-dimensional subspace) plus the
    mean of `samples` (probe quadratic forms of the rest), with standard error `stderr`;
    `n_products` products taken in all."""

    mean: float
    stderr: float
    samples: list[float]
    low_rank: float
    rank: int
    n_products: int


def split(n_products: int, dim: int) -> tuple[int, int]:
    """(sketch size r, probes g) with 2r + g = n_products: thirds as in the paper, at least
    two probes for a standard error, and no sketch wider than the dimension."""
    if n_products < 2:
        raise ValueError(f"need at least 2 products for a standard error, got {n_products}")
    r = min(n_products // 3, (n_products - 2) // 2, dim)
    return r, n_products - 2 * r


def _passes(n: int, batch: int) -> list[int]:
    return [min(batch, n - i) for i in range(0, n, batch)]


def _quadratic_forms(matmat: Callable[[Tensor], Tensor], rows: Tensor) -> np.ndarray:
    """vᵢᵀ A vᵢ for each row vᵢ, accumulated in float64."""
    return np.einsum("ii->i", dots(rows, matmat(rows))).copy()


def hutchpp(
    matmat: Callable[[Tensor], Tensor],
    draw: Callable[[int], Tensor],
    rank: int,
    probes: int,
    batch: int = 8,
) -> TraceEstimate:
    """Hutch++ with a sketch of `rank` rows and `probes` ≥ 2 probes, each drawn by `draw(count)`
    (`count` random sign rows, the sketch's first); `rank` = 0 is plain Hutchinson.

    Rows are drawn and multiplied `batch` at a time, so besides the sketch (2·rank vectors at
    most) only a pass's worth of vectors is ever held: 2·rank + probes products in all.
    """
    low, q = 0.0, None
    if rank:
        q = orthonormal_rows(torch.cat([matmat(draw(c)) for c in _passes(rank, batch)]))
        low = sum(float(np.trace(dots(rows, matmat(rows)))) for rows in q.split(batch))
    z = []
    for count in _passes(probes, batch):
        rows = draw(count)
        z.append(_quadratic_forms(matmat, rows if q is None else rows - (rows @ q.T) @ q))
    z = np.concatenate(z)
    return TraceEstimate(
        low + float(z.mean()),
        float(z.std(ddof=1) / np.sqrt(len(z))),
        z.tolist(),
        low,
        0 if q is None else len(q),
        2 * rank + probes,
    )
