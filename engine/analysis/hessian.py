"""Hessian spectra of the training loss on the unpruned coordinates (METHOD.md §4).

Every function takes a `LossPoint` (a model for its architecture, a state dict, a mask over
prunable weights, a fixed data subset from `data_subset`, a device) and works on
`HessianOperator`'s packed space: the loss at `W ⊙ m` in eval mode, differentiated only in
the unpruned coordinates (biases and BatchNorm count as unpruned with `params="all"`). TF32
is off throughout; each result's `tf32` says whether the caller had it on for a CUDA device
(switched off for this).

Backends of `top_eigenvalues`:
- ``"lanczos"`` (default): `engine.analysis.block_lanczos`, unrestarted block Lanczos with
  full reorthogonalization, basis on the device, `block` products per pass through one
  graph. Largest *algebraic* eigenvalues.
- ``"lanczos1"``: `engine.analysis.lanczos`, the same with one vector per step (the default
  until block Lanczos replaced it), kept as a reference.
- ``"arpack"``: scipy's `eigsh` (implicitly restarted Lanczos, which="LA") on the same
  products, vectors on the host in float64: the library reference.
- ``"pyhessian"``: PyHessian 0.1's power iteration with deflation (see
  `engine.analysis.pyhessian_backend`), kept for cross-checking. It finds the eigenvalues
  of largest *magnitude*, so where large negative eigenvalues exist its "top k" differ from
  ours; its deflation also drifts over many eigenvalues. Returned sorted descending.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import Tensor

from engine.analysis import block_lanczos, lanczos, trace
from engine.analysis.hvp import HessianOperator, no_tf32
from engine.analysis.options import BACKENDS
from engine.analysis.point import LossPoint
from engine.analysis.pyhessian_backend import pyhessian_top
from engine.data.bundle import DataBundle

ZERO = 1e-6  # |λ| below this fraction of the largest |λ| is zero to working precision
FORWARD_BLOCK = 8  # products per pass where they batch (forward-over-reverse)
REVERSE_BLOCK = 4  # the widest block worth its extra products with the kept reverse graph


def data_subset(
    data: DataBundle, size: int = 2048, seed: int = 0
) -> tuple[Tensor, Tensor, list[int]]:
    """A fixed subset of the training set: `size` indices drawn without replacement by a
    seeded CPU generator (the same on every device), sorted; all of it when `size` ≥ its size.

    Returns the examples on the bundle's device and the indices, for the record.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    n = len(data.train_x)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    idx = torch.sort(order[: min(size, n)]).values
    on = idx.to(data.train_x.device)
    return data.train_x[on], data.train_y[on], idx.tolist()


@dataclass
class Spectrum:
    """The k largest algebraic eigenvalues (descending) of the restricted Hessian.

    `n_negative` counts values below -ZERO·max|λ| among them (a saddle, or not yet a
    minimum; smaller ones are zero to working precision); `dim` is
    the number of unpruned coordinates; `converged` is False when the solver stopped at its
    step limit before every value met `tol`.
    """

    eigenvalues: list[float]
    k: int
    n_hvp: int
    seconds: float
    backend: str
    n_negative: int
    dim: int
    tf32: bool
    converged: bool = True


@dataclass
class Trace:
    """An estimate `mean` of tr(H) from `n_samples` products with random sign vectors.

    With `method="hutch++"` it is `low_rank`, the exact trace on the span of H applied to
    `rank` random vectors, plus the mean of `samples`, the probes vᵀHv of the rest (see
    `engine.analysis.trace`); `stderr` is their standard error. With "hutchinson", rank 0.
    """

    mean: float
    stderr: float
    n_samples: int
    samples: list[float]
    tf32: bool = False
    method: str = "hutch++"
    rank: int = 0
    low_rank: float = 0.0


@dataclass
class Density:
    """Eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    Each start vector's quadrature has `nodes` (Ritz values; shared by the starts of one
    block) and `weights` (its squared components along T's eigenvectors, summing to 1);
    `density` on `grid` is their average, broadened by Gaussians of standard deviation
    `sigma`, and integrates to 1.
    """

    grid: list[float]
    density: list[float]
    nodes: list[list[float]]
    weights: list[list[float]]
    n_vectors: int
    steps: int
    sigma: float
    tf32: bool = False


def block_size(k: int, mode: str) -> int:
    """Vectors per block Lanczos step for the top k, as measured on LeNet-300-100 (1,000
    images, one CPU thread). A wider block needs more products (top-100: 337 one at a time,
    342 in blocks of 2, 368 of 4, 424 of 8; top-20: 57, 68, 88, 120) and saves
    reorthogonalization time (per vector, ~2x at 4, ~3x at 16) and, in forward mode only,
    product time (17 ms a product in a pass of 8 against 42 ms alone)."""
    if mode == "forward":
        return min(FORWARD_BLOCK, k)
    return max(1, min(REVERSE_BLOCK, k // 25))


def top_eigenvalues(
    at: LossPoint,
    k: int = 100,
    backend: str = "lanczos",
    tol: float = 1e-3,
    chunk_size: int = 2048,
    seed: int = 0,
    params: str = "all",
    max_steps: int | None = None,
    mode: str = "auto",
    block: int | None = None,
) -> Spectrum:
    """Top-k eigenvalues; k is capped at the number of unpruned coordinates.

    `tol` bounds each Ritz pair's residual relative to its eigenvalue (the error of the value
    itself is usually far smaller, ~ residual²/gap); for PyHessian it is its relative change
    between power iterations. `max_steps` caps Lanczos vectors (default 8k): the basis holds
    that many vectors of the packed dimension in the model's dtype on the device. `block`
    (default `block_size(k, mode)`) is the block Lanczos width, and the products per pass.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if k < 1 or tol <= 0:
        raise ValueError(f"need k ≥ 1 and tol > 0, got k={k}, tol={tol}")
    if block is not None and block < 1:
        raise ValueError(f"block must be at least 1, got {block}")
    t0 = time.perf_counter()
    op = HessianOperator(at, params, chunk_size, mode)
    b = op.batch = block or block_size(k, op.mode)
    with no_tf32(op.device) as tf32:
        k = min(k, op.dim)
        generator = torch.Generator().manual_seed(seed)

        def fresh() -> Tensor:
            return op.random_vector(generator)

        steps = max(max_steps if max_steps is not None else 8 * k, k)
        if backend == "lanczos":
            start = torch.stack([fresh() for _ in range(min(b, op.dim))])
            values, converged, _ = block_lanczos.top_eigenvalues(
                op.matmat, start, k, tol, steps, fresh
            )
        elif backend == "lanczos1":
            values, converged, _ = lanczos.top_eigenvalues(op.matvec, fresh(), k, tol, steps, fresh)
        elif backend == "arpack":
            values, converged = _arpack(op, k, tol, generator)
        if backend == "pyhessian":  # its own operator: it counts its own products
            (values, n_hvp), converged = pyhessian_top(op, k, tol, seed), True
        else:
            n_hvp = op.n_hvp
    values = sorted(np.asarray(values).tolist(), reverse=True)
    return Spectrum(
        eigenvalues=values,
        k=k,
        n_hvp=n_hvp,
        seconds=time.perf_counter() - t0,
        backend=backend,
        n_negative=sum(v < -ZERO * max(map(abs, values)) for v in values),
        dim=op.dim,
        tf32=tf32,
        converged=converged,
    )


def _arpack(
    op: HessianOperator, k: int, tol: float, generator: torch.Generator
) -> tuple[list[float], bool]:
    """scipy's eigsh on host float64 vectors; every product goes to the device and back."""
    if k >= op.dim:  # ARPACK needs k < n; the whole spectrum is a dense problem then
        dense = op.matmat(torch.eye(op.dim)).double().cpu().numpy()
        return np.linalg.eigvalsh((dense + dense.T) / 2)[::-1][:k].tolist(), True

    def matvec(v: np.ndarray) -> np.ndarray:
        return op.matvec(torch.from_numpy(np.ravel(v))).double().cpu().numpy()

    linear = LinearOperator((op.dim, op.dim), matvec=matvec, dtype=np.float64)
    v0 = torch.randn(op.dim, generator=generator, dtype=torch.float64).numpy()
    values = eigsh(linear, k=k, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
    return values.tolist(), True


def hutchinson_trace(
    at: LossPoint,
    n_samples: int = 100,
    seed: int = 0,
    chunk_size: int = 2048,
    params: str = "all",
    mode: str = "auto",
    method: str = "hutch++",
) -> Trace:
    """tr(H) from `n_samples` products with Rademacher vectors: Hutch++ by default (a
    sketch of n/3 of them, its n/3 products, n/3 probes of the rest), or plain Hutchinson.
    Either is unbiased; the standard error is its probes' standard deviation over √probes."""
    if method not in trace.METHODS:
        raise ValueError(f"method must be one of {trace.METHODS}, got {method!r}")
    generator = torch.Generator().manual_seed(seed)
    op = HessianOperator(at, params, chunk_size, mode)
    rank, probes = trace.split(n_samples, op.dim)
    if method == "hutchinson":
        rank, probes = 0, n_samples

    def signs(count: int) -> Tensor:
        return torch.stack([op.random_vector(generator, "rademacher") for _ in range(count)])

    with no_tf32(op.device) as tf32:
        est = trace.hutchpp(op.matmat, signs, rank, probes, op.batch)
    return Trace(
        mean=est.mean,
        stderr=est.stderr,
        n_samples=est.n_products,
        samples=est.samples,
        tf32=tf32,
        method=method,
        rank=est.rank,
        low_rank=est.low_rank,
    )


def spectral_density(
    at: LossPoint,
    n_vectors: int = 4,
    steps: int = 80,
    grid_size: int = 1000,
    sigma: float | None = None,
    seed: int = 0,
    chunk_size: int = 2048,
    params: str = "all",
    mode: str = "auto",
    block: int | None = None,
) -> Density:
    """Stochastic Lanczos quadrature: `steps` Lanczos steps per Rademacher start vector,
    `n_vectors` of them; each start's quadrature of the spectral measure (mass 1) has the
    Ritz values as nodes. `block` starts go together as one block Lanczos run (block Gauss
    quadrature, the same products per start); by default FORWARD_BLOCK where products batch
    (forward mode), else 1: each start alone, as one-vector Lanczos.

    `sigma` (absolute) defaults to PyHessian's broadening, variance 1e-5·max(1, λmax − λmin).
    The grid spans the nodes with 3σ (at least 1% of their range) to spare on each side.
    """
    if n_vectors < 1 or steps < 1 or grid_size < 2 or (block is not None and block < 1):
        raise ValueError("need n_vectors ≥ 1, steps ≥ 1, grid_size ≥ 2 and block ≥ 1")
    generator = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    op = HessianOperator(at, params, chunk_size, mode)
    with no_tf32(op.device) as tf32:

        def fresh() -> Tensor:
            return op.random_vector(generator)

        group = block or (FORWARD_BLOCK if op.mode == "forward" else 1)
        for first in range(0, n_vectors, group):
            count = min(group, n_vectors - first)
            start = torch.stack([op.random_vector(generator, "rademacher") for _ in range(count)])
            t = block_lanczos.block_lanczos(op.matmat, start, steps * count, fresh)
            theta, w = t.quadrature()
            nodes += [theta.tolist()] * count
            weights += w.tolist()
    all_nodes = np.concatenate([np.asarray(n) for n in nodes])
    lo, hi = float(all_nodes.min()), float(all_nodes.max())
    if sigma is None:
        sigma = float(np.sqrt(1e-5 * max(1.0, hi - lo)))
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    pad = max(3 * sigma, 0.01 * (hi - lo))
    grid = np.linspace(lo - pad, hi + pad, grid_size)
    density = np.zeros(grid_size)
    for theta, w in zip(nodes, weights, strict=True):
        z = (grid[:, None] - np.asarray(theta)[None, :]) / sigma
        density += np.exp(-0.5 * z**2) @ np.asarray(w) / (sigma * np.sqrt(2 * np.pi))
    return Density(
        grid=grid.tolist(),
        density=(density / n_vectors).tolist(),
        nodes=nodes,
        weights=weights,
        n_vectors=n_vectors,
        steps=min(steps, op.dim),
        sigma=sigma,
        tf32=tf32,
    )
