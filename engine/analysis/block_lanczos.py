"""Block Lanczos on a symmetric operator: b products per step, reorthogonalization as GEMMs.

The one-vector Lanczos of `engine.analysis.lanczos` spends about a third of a top-100 on a
CPU reading its basis, vector by vector (matrix–vector work, bound by memory bandwidth). Here
each step multiplies a block of b orthonormal vectors — one pass of `HessianOperator.matmat`,
which batches them where that pays — and orthogonalizes the b new vectors against the whole
basis as matrix–matrix products, so the basis is read once per b vectors. It keeps what made
the one-vector solver correct: no restart, full reorthogonalization of every block (a second
pass for any direction that the first left short of orthogonality), and a fresh random
direction orthogonal to the basis wherever the Krylov space becomes invariant.

Block Lanczos rather than LOBPCG: LOBPCG needs a block as large as k (100) plus a Rayleigh–
Ritz on 3k vectors every iteration, and restarts by design, which costs products; an
unrestarted block Krylov space keeps every product's information, and with b ≪ k it needs
few more products than b = 1. Measured (benchmarks/hessian.py, LeNet-300-100, 1,000 images,
top-100): in blocks of 4, 372 products against 340, 9.2 s against 9.6 s on one thread (load
~3), max. relative difference from ARPACK 3e-7 against 1.5e-6; with two threads on a busy
machine 12–29 s against 34–81 s, where the one-vector solver's thousands of small parallel
regions stall on descheduled threads.

T = Qᵀ A Q is block tridiagonal with bandwidth < 2b; its Ritz pairs come from
`scipy.linalg.eig_banded`. A Ritz pair (θ, s) has residual ‖A Q s − θ Q s‖ = ‖R s_last‖ with
R the coupling to the block that would come next, which bounds |θ − λ| for some eigenvalue λ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from engine.analysis import lanczos
from engine.analysis.lanczos import Basis


@dataclass
class BlockTridiagonal:
    """T = Qᵀ A Q: diagonal blocks `diag[j]` (b_j × b_j), subdiagonal blocks `sub[j]` =
    Q_{j+1}ᵀ A Q_j (b_{j+1} × b_j), all float64 on the host.

    `residual` (r × b_last) is the last block's coupling to the space outside the basis: a
    Ritz vector with last-block coordinates s_last has residual norm ‖residual · s_last‖.
    `start` (b_0 × b) holds the start vectors in the first block's coordinates (Q_0ᵀ V), the
    weights of block Gauss quadrature.
    """

    diag: list[np.ndarray]
    sub: list[np.ndarray]
    residual: np.ndarray
    start: np.ndarray

    @property
    def steps(self) -> int:
        """Lanczos vectors, which is also the number of products taken."""
        return sum(len(d) for d in self.diag)

    def banded(self) -> np.ndarray:
        """T in LAPACK's lower band storage: `ab[i, j] = T[j + i, j]`."""
        sizes = [len(d) for d in self.diag]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        width = max([sizes[0], *(sizes[j] + sizes[j + 1] for j in range(len(self.sub)))])
        ab = np.zeros((width, offsets[-1]))
        blocks = [(offsets[j], offsets[j], d) for j, d in enumerate(self.diag)]
        blocks += [(offsets[j + 1], offsets[j], s) for j, s in enumerate(self.sub)]
        for row0, col0, block in blocks:
            r, c = np.nonzero(np.tril(np.ones_like(block), row0 - col0))
            ab[row0 + r - col0 - c, col0 + c] = block[r, c]
        return ab

    def ritz(self, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k largest (default: all) Ritz values, descending, and T's eigenvectors
        (columns, same order)."""
        m = self.steps
        k = m if k is None else min(k, m)
        theta, s = scipy.linalg.eig_banded(
            self.banded(), lower=True, select="i", select_range=(m - k, m - 1)
        )
        return theta[::-1], s[:, ::-1]

    def quadrature(self) -> tuple[np.ndarray, np.ndarray]:
        """Block Gauss quadrature of each start vector's spectral measure: the nodes (every
        Ritz value, descending) and one row of weights per start vector v, summing to 1, so
        that vᵀ f(A) v / ‖v‖² ≈ Σⱼ wⱼ f(θⱼ), exactly for polynomials of degree < 2·steps."""
        theta, s = self.ritz()
        w = (self.start.T @ s[: len(self.start)]) ** 2
        return theta, w / w.sum(axis=1, keepdims=True)

    def top(self, k: int, tol: float, eps: float) -> tuple[np.ndarray, bool]:
        """The k largest Ritz values, and whether each has residual ≤ tol·max(|θ|, ε^⅔‖T‖)."""
        theta, s = self.ritz(k)
        last = len(self.diag[-1])
        bounds = np.linalg.norm(self.residual @ s[-last:], axis=0)
        norm = max(abs(theta[0]), abs(theta[-1]), max(np.abs(d).max() for d in self.diag))
        floor = eps ** (2 / 3) * norm
        return theta, bool(np.all(bounds <= tol * np.maximum(np.abs(theta), floor)))


def dots(x: Tensor, y: Tensor, length: int = 1024) -> np.ndarray:
    """x yᵀ for rows x (a × n) and y (b × n) in float64, from float32-sized pieces: products
    over `length` columns at a time, summed in float64. One float32 GEMM over n = 266,610
    columns errs by ~1e-6 relative, which would cap the Ritz values there; this errs by
    ~2e-8 at 1.3x the GEMM's time (LeNet-300-100, one thread)."""
    pieces = x.shape[1] // length
    whole = pieces * length
    xs = x[:, :whole].reshape(len(x), pieces, length).transpose(0, 1)
    ys = y[:, :whole].reshape(len(y), pieces, length).transpose(0, 1)
    out = torch.bmm(xs, ys.transpose(1, 2)).double().sum(0)
    out += (x[:, whole:] @ y[:, whole:].T).double()
    return out.cpu().numpy()


def _refined(rows: Tensor) -> Tensor:
    """Nearly orthonormal rows made orthonormal to working precision. Householder's norms are
    float32 sums over n, off by ~5e-6 at n = 200,000, which moves Ritz values as much; one
    Cholesky step on the float64 Gram matrix (≈ I, so perfectly conditioned) fixes them."""
    chol = np.linalg.cholesky(dots(rows, rows))
    return torch.from_numpy(np.linalg.inv(chol)).to(rows) @ rows


def orthonormal_rows(w: Tensor) -> Tensor:
    """Orthonormal rows spanning at least the rows of w (b × n, b ≤ n)."""
    return _refined(torch.linalg.qr(w.T)[0].T)


def _svd_of_rows(w: Tensor) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Rows w (b × n) as wᵀ = Q Σ Vᵀ: (the orthonormal rows Qᵀ, σ descending, Vᵀ), by
    Householder QR of wᵀ and an SVD of its small triangle: rank-revealing, unlike the
    triangle's diagonal, which can miss a dependent column."""
    q, r = torch.linalg.qr(w.T)
    u, sigma, vt = np.linalg.svd(r.double().cpu().numpy(), full_matrices=False)
    return (q @ torch.from_numpy(u).to(q)).T, sigma, vt


def next_block(
    w: Tensor, basis: Basis, room: int, scale: float, fresh: Callable[[], Tensor]
) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Orthonormalize the rows of `w` against `basis` and among themselves.

    Returns (the next block's rows, its coupling B = Qₙₑₓₜ wᵀ, and w's own Σ Vᵀ, whose
    product with a Ritz vector's last coordinates is its residual).

    One pass of block Gram–Schmidt leaves each row's components along the basis at about
    ε‖w‖; the orthonormalization among the rows then divides them by σᵢ for direction i. A
    direction with σᵢ < ε^¼‖w‖ would keep components above ε^¾ — still far below the √ε at
    which Lanczos's Ritz values go wrong, but let them pile up and they would — so its
    normalized row is projected out once more (twice is enough: it lost nothing the second
    time). Directions with σᵢ ≤ ε·scale are dropped (the Krylov space is invariant there) and
    replaced by fresh random directions orthogonal to everything, coupled by ~0; the block
    never grows the basis beyond `room` vectors.
    """
    eps = torch.finfo(w.dtype).eps
    before = float(w.norm())
    w = basis.project_out(w)
    rows, sigma, vt = _svd_of_rows(w)
    keep = min(room, int((sigma > eps * max(scale, sigma[0])).sum()))
    weak = torch.from_numpy(sigma[:keep] < eps**0.25 * before) & (basis.size > 0)
    extra = min(len(w), room) - keep
    strong, redo = rows[:keep][~weak], rows[:keep][weak]
    if extra > 0:
        f = torch.stack([fresh() for _ in range(extra)]).to(w)
        redo = torch.cat([redo, basis.project_out(f)])
    if len(redo):
        redo = basis.project_out(redo)
        redo = redo - (redo @ strong.T) @ strong
        redo = torch.linalg.qr(redo.T)[0].T
    rows = _refined(torch.cat([strong, redo]))
    return rows, dots(rows, w), sigma[:, None] * vt


def block_lanczos(
    matmat: Callable[[Tensor], Tensor],
    start: Tensor,
    max_vectors: int,
    fresh: Callable[[], Tensor],
    done: Callable[[BlockTridiagonal], bool] | None = None,
    check_every: int = 10,
) -> BlockTridiagonal:
    """Block Lanczos from the rows of `start` (b × n) until the basis holds `max_vectors`
    (capped at n) vectors, or `done(T)` says so; it is asked once at least `check_every`
    vectors have joined since it was last asked. `fresh()` gives a random vector for a
    direction that deflated. Vectors keep `start`'s dtype and device."""
    dim = start.shape[1]
    max_vectors = min(max_vectors, dim)
    basis = Basis(dim, start.dtype, start.device)
    q, first, _ = next_block(start, basis, max_vectors, 0.0, fresh)
    diag: list[np.ndarray] = []
    sub: list[np.ndarray] = []
    prev, coupling, scale, asked = None, None, 0.0, 0
    while True:
        basis.append(q)
        w = matmat(q)
        if prev is not None:
            w.addmm_(torch.from_numpy(coupling).to(w), prev, alpha=-1)
        a = dots(q, w)
        w.addmm_(torch.from_numpy(a.T).to(w), q, alpha=-1)
        correction = dots(q, w)  # a second local pass keeps Q_jᵀ Q_{j+1} at rounding level
        w.addmm_(torch.from_numpy(correction.T).to(w), q, alpha=-1)
        a += correction
        diag.append((a + a.T) / 2)
        scale = max(scale, float(np.abs(diag[-1]).sum(axis=1).max()))
        q_next, b_next, full = next_block(w, basis, max_vectors - basis.size, scale, fresh)
        t = BlockTridiagonal(diag, sub, full, first)
        if len(q_next) == 0:
            return t
        if done is not None and basis.size - asked >= check_every:
            asked = basis.size
            if done(t):
                return t
        sub.append(b_next)
        prev, q, coupling = q, q_next, b_next


# The k largest eigenvalues with block steps (`lanczos.top_eigenvalues`'s arguments).
top_eigenvalues = partial(lanczos.top_eigenvalues, iterate=block_lanczos)
