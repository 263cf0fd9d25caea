"""Lanczos on a symmetric operator, with the basis on the operator's device.

One routine serves the top-k eigenvalues and stochastic Lanczos quadrature. It does not
restart (a restart throws Krylov information away: ARPACK's implicitly restarted Lanczos
took 4–14% more products for the same top-100 on LeNet-300-100) and reorthogonalizes every
new vector against the whole basis (Gram–Schmidt, a second pass when the first cancelled
much of it). Without that, converged eigenvalues come back as spurious copies ("ghosts").
Partial reorthogonalization (Simon 1984), which runs the pass only when a recurrence
estimates that orthogonality has drifted, was tried and dropped: on Conv-2 (3.3M float32
coordinates) its estimate missed the drift and the top-10 came back with a copy of λ_max
and two values that are not eigenvalues at all (ARPACK and full reorthogonalization agree
on the true ones). The pass reads the whole basis: cheap next to a product on a GPU, about
a quarter more time on a CPU.

If the Krylov space becomes invariant (β ≈ 0: a multiple eigenvalue, or the whole space
explored) the process continues from a fresh random vector orthogonal to the basis, so
every eigenvalue, repeated ones included, can still be found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

ROWS_PER_BLOCK = 64  # the basis grows in blocks of this many vectors, never reallocated
DGKS = 0.7  # a second Gram–Schmidt pass runs when the first removed more than ~30% of the norm


@dataclass
class Tridiagonal:
    """The Lanczos matrix T = Qᵀ A Q: diagonal `alpha`, off-diagonal `beta` (one shorter).

    `residual` is β after the last step, the norm of the part of A q_m outside the basis;
    it bounds each Ritz pair's residual as `residual * |last component of its eigenvector|`.
    """

    alpha: np.ndarray
    beta: np.ndarray
    residual: float

    @property
    def steps(self) -> int:
        return len(self.alpha)

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Ritz values in descending order and the eigenvectors of T (columns, same order)."""
        if self.steps == 1:
            return self.alpha.copy(), np.ones((1, 1))
        theta, s = scipy.linalg.eigh_tridiagonal(self.alpha, self.beta)
        return theta[::-1], s[:, ::-1]

    def top(self, k: int, tol: float, eps: float) -> tuple[np.ndarray, bool]:
        """The k largest Ritz values, and whether each has residual ≤ tol·max(|θ|, ε^⅔‖T‖)."""
        k = min(k, self.steps)
        if self.steps == 1:
            theta, s = self.ritz()
        else:
            m = self.steps
            theta, s = scipy.linalg.eigh_tridiagonal(
                self.alpha, self.beta, select="i", select_range=(m - k, m - 1)
            )
            theta, s = theta[::-1], s[:, ::-1]
        bounds = abs(self.residual) * np.abs(s[-1])
        norm = max(abs(theta[0]), abs(theta[-1]), np.abs(self.alpha).max())
        floor = eps ** (2 / 3) * norm
        return theta, bool(np.all(bounds <= tol * np.maximum(np.abs(theta), floor)))


class Basis:
    """The Lanczos vectors, stored as rows of fixed-size blocks on one device.

    Serves the one-vector Lanczos here and the block Lanczos of `engine.analysis.block`:
    vectors go in one at a time or as the rows of a matrix, and a matrix of rows is
    orthogonalized against the basis as matrix–matrix products.
    """

    def __init__(self, dim: int, dtype: torch.dtype, device: torch.device) -> None:
        self.dim, self.dtype, self.device = dim, dtype, device
        self.blocks: list[Tensor] = []
        self.size = 0

    def append(self, vectors: Tensor) -> None:
        """Add a vector, or each row of a matrix, as the next basis vectors."""
        for v in vectors.reshape(-1, self.dim):
            if self.size % ROWS_PER_BLOCK == 0:
                self.blocks.append(
                    torch.empty(ROWS_PER_BLOCK, self.dim, dtype=self.dtype, device=self.device)
                )
            self.blocks[-1][self.size % ROWS_PER_BLOCK] = v
            self.size += 1

    def __getitem__(self, i: int) -> Tensor:
        return self.blocks[i // ROWS_PER_BLOCK][i % ROWS_PER_BLOCK]

    def project_out(self, w: Tensor) -> Tensor:
        """Block Gram–Schmidt on a copy of a vector or of the rows of a matrix. On a CPU the
        blocks are cut to 8 rows for one vector and 16 for fewer than 16, so the second read
        of each (for the update) hits the cache: ~20% faster on LeNet, ~30% for 4 rows."""
        w = w.clone()
        rows_of_w = 1 if w.dim() == 1 else len(w)
        step = ROWS_PER_BLOCK
        if self.device.type == "cpu" and rows_of_w < 16:
            step = 8 if rows_of_w == 1 else 16
        for b, block in enumerate(self.blocks):
            filled = min(ROWS_PER_BLOCK, self.size - b * ROWS_PER_BLOCK)
            for start in range(0, filled, step):
                rows = block[start : min(start + step, filled)]
                if w.dim() == 1:
                    w.addmv_(rows.T, rows @ w, alpha=-1)
                else:
                    w.addmm_(w @ rows.T, rows, alpha=-1)
        return w

    def orthogonalize(self, w: Tensor) -> Tensor:
        """w (a vector, or rows) minus its projection on the basis: one pass, a second when
        the first cancelled much of any row (Daniel–Gragg–Kaufman–Stewart), which is when
        one pass loses accuracy."""
        before = w.norm(dim=-1)
        w = self.project_out(w)
        if bool((w.norm(dim=-1) < DGKS * before).any()):
            w = self.project_out(w)
        return w


def lanczos(
    matvec: Callable[[Tensor], Tensor],
    start: Tensor,
    max_steps: int,
    fresh: Callable[[], Tensor],
    done: Callable[[Tridiagonal], bool] | None = None,
    check_every: int = 10,
) -> Tridiagonal:
    """Run Lanczos from `start` for at most `max_steps` (capped at the dimension) steps.

    `done(T)` is asked every `check_every` steps and at the end; True stops early. `fresh()`
    gives a random vector for a restart after an invariant subspace. Vectors keep the dtype
    and device of `start`; α and β are float64 on the host.
    """
    dim = start.numel()
    max_steps = min(max_steps, dim)
    eps = torch.finfo(start.dtype).eps
    basis = Basis(dim, start.dtype, start.device)
    basis.append(start / start.norm())
    alpha: list[float] = []
    beta: list[float] = [0.0]  # beta[j] couples q_{j-1} and q_j; 0 marks a (re)start
    scale = 0.0
    for j in range(max_steps):
        q = basis[j]
        w = matvec(q)
        if beta[j] != 0.0:
            w = w - beta[j] * basis[j - 1]
        a = float(q @ w)
        w = w - a * q
        correction = float(q @ w)  # a second local pass keeps q_j·q_{j+1} at rounding level
        alpha.append(a + correction)
        w = basis.orthogonalize(w - correction * q)
        b = float(w.norm())
        scale = max(scale, abs(alpha[-1]) + b)  # ≈ ‖T‖, for "rounding level"
        t = Tridiagonal(np.array(alpha), np.array(beta[1:]), b)
        if j + 1 == max_steps:
            return t
        restart = b <= eps * scale  # the Krylov space is invariant: go on from a fresh vector
        if restart:
            w, b = basis.orthogonalize(basis.orthogonalize(fresh())), 0.0
        beta.append(b)
        basis.append(w / (w.norm() if restart else b))
        if done is not None and not restart and (j + 1) % check_every == 0 and done(t):
            return t
    raise AssertionError("unreachable: the loop returns at its last step")


class Ritz(Protocol):
    """What a Lanczos run returns (`Tridiagonal`, `BlockTridiagonal`)."""

    @property
    def steps(self) -> int: ...

    def top(self, k: int, tol: float, eps: float) -> tuple[np.ndarray, bool]: ...


def top_eigenvalues(
    product: Callable[[Tensor], Tensor],
    start: Tensor,
    k: int,
    tol: float,
    max_vectors: int,
    fresh: Callable[[], Tensor],
    check_every: int = 10,
    iterate: Callable[..., Ritz] = lanczos,
) -> tuple[np.ndarray, bool, int]:
    """Run a Lanczos iteration until its top k Ritz pairs meet `tol`: the k largest
    (algebraic) eigenvalues, descending; whether all met `tol` (a Krylov space of the whole
    dimension is exact); and the vectors it took.

    `iterate` is `lanczos` (one vector a step: `product` a matvec, `start` a vector) or
    `block_lanczos.block_lanczos` (a block a step: `product` a matmat, `start` its rows)."""
    eps = torch.finfo(start.dtype).eps

    def done(t: Ritz) -> bool:
        return t.steps >= k and t.top(k, tol, eps)[1]

    t = iterate(product, start, max_vectors, fresh, done, check_every)
    values, converged = t.top(k, tol, eps)
    return values, converged or t.steps == start.shape[-1], t.steps
