"""Hessian spectra of the training loss on the unpruned coordinates (METHOD.md §4).

Every function takes a model (for its architecture), a state dict, a mask over prunable
weights and a fixed data subset (`data_subset`), and works on `HessianOperator`'s packed
space: the loss at `W ⊙ m` in eval mode, differentiated only in the unpruned coordinates
(biases and BatchNorm count as unpruned with `params="all"`). TF32 is off throughout; each
result's `tf32` says whether the caller had it on for a CUDA device (switched off for this).

Backends of `top_eigenvalues`:
- ``"lanczos"`` (default): `engine.analysis.lanczos`, unrestarted Lanczos with full
  reorthogonalization, basis on the device. Largest *algebraic* eigenvalues.
- ``"arpack"``: scipy's `eigsh` (implicitly restarted Lanczos, which="LA") on the same
  products, vectors on the host in float64: the library reference.
- ``"pyhessian"``: PyHessian 0.1's power iteration with deflation (see
  `engine.analysis.pyhessian_backend`), kept for cross-checking. It finds the eigenvalues
  of largest *magnitude*, so where large negative eigenvalues exist its "top k" differ from
  ours; its deflation also drifts over many eigenvalues. Returned sorted descending.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import Tensor, nn

from engine.analysis import lanczos
from engine.analysis.hvp import HessianOperator, no_tf32
from engine.analysis.pyhessian_backend import pyhessian_top
from engine.data.bundle import DataBundle

BACKENDS = ("lanczos", "arpack", "pyhessian")
ZERO = 1e-6  # |λ| below this fraction of the largest |λ| is zero to working precision


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
    """Hutchinson's estimate `mean` of tr(H) from `n_samples` Rademacher probes vᵀHv."""

    mean: float
    stderr: float
    n_samples: int
    samples: list[float]
    tf32: bool = False


@dataclass
class Density:
    """Eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    Each start vector's quadrature has `nodes` (Ritz values) and `weights` (squared first
    components of T's eigenvectors, summing to 1); `density` on `grid` is their average,
    broadened by Gaussians of standard deviation `sigma`, and integrates to 1.
    """

    grid: list[float]
    density: list[float]
    nodes: list[list[float]]
    weights: list[list[float]]
    n_vectors: int
    steps: int
    sigma: float
    tf32: bool = False


def top_eigenvalues(
    model: nn.Module,
    state: Mapping[str, Tensor],
    mask: Mapping[str, Tensor],
    x: Tensor,
    y: Tensor,
    k: int = 100,
    backend: str = "lanczos",
    tol: float = 1e-3,
    chunk_size: int = 2048,
    seed: int = 0,
    device: torch.device | str | None = None,
    params: str = "all",
    max_steps: int | None = None,
    mode: str = "auto",
) -> Spectrum:
    """Top-k eigenvalues; k is capped at the number of unpruned coordinates.

    `tol` bounds each Ritz pair's residual relative to its eigenvalue (the error of the value
    itself is usually far smaller, ~ residual²/gap); for PyHessian it is its relative change
    between power iterations. `max_steps` caps Lanczos steps (default 8k): the basis holds
    that many vectors of the packed dimension in the model's dtype on the device.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if k < 1 or tol <= 0:
        raise ValueError(f"need k ≥ 1 and tol > 0, got k={k}, tol={tol}")
    t0 = time.perf_counter()
    op = HessianOperator(model, state, mask, x, y, params, chunk_size, mode, device)
    with no_tf32(op.device) as tf32:
        k = min(k, op.dim)
        generator = torch.Generator().manual_seed(seed)
        if backend == "lanczos":

            def fresh() -> Tensor:
                return op.random_vector(generator)

            steps = max_steps if max_steps is not None else 8 * k
            values, converged, _ = lanczos.top_eigenvalues(
                op.matvec, fresh(), k, tol, max(steps, k), fresh
            )
            values = values.tolist()
            n_hvp = op.n_hvp
        elif backend == "arpack":
            values, converged, n_hvp = _arpack(op, k, tol, generator)
        else:
            values, n_hvp = pyhessian_top(op, k, tol, seed)
            converged = True
    values = sorted(values, reverse=True)
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
) -> tuple[list[float], bool, int]:
    """scipy's eigsh on host float64 vectors; every product goes to the device and back."""
    if k >= op.dim:  # ARPACK needs k < n; the whole spectrum is a dense problem then
        dense = np.stack([op.matvec(e).double().cpu().numpy() for e in torch.eye(op.dim)])
        return np.linalg.eigvalsh((dense + dense.T) / 2)[::-1][:k].tolist(), True, op.n_hvp

    def matvec(v: np.ndarray) -> np.ndarray:
        return op.matvec(torch.from_numpy(np.ravel(v))).double().cpu().numpy()

    linear = LinearOperator((op.dim, op.dim), matvec=matvec, dtype=np.float64)
    v0 = torch.randn(op.dim, generator=generator, dtype=torch.float64).numpy()
    values = eigsh(linear, k=k, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
    return values.tolist(), True, op.n_hvp


def hutchinson_trace(
    model: nn.Module,
    state: Mapping[str, Tensor],
    mask: Mapping[str, Tensor],
    x: Tensor,
    y: Tensor,
    n_samples: int = 100,
    seed: int = 0,
    chunk_size: int = 2048,
    device: torch.device | str | None = None,
    params: str = "all",
    mode: str = "auto",
) -> Trace:
    """tr(H) ≈ mean of vᵀHv over Rademacher v; its standard error is the samples' standard
    deviation over √n (the estimator's variance is 2 Σ_{i≠j} H_ij², unknown in advance)."""
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 for a standard error, got {n_samples}")
    generator = torch.Generator().manual_seed(seed)
    op = HessianOperator(model, state, mask, x, y, params, chunk_size, mode, device)
    with no_tf32(op.device) as tf32:
        samples = []
        for _ in range(n_samples):
            v = op.random_vector(generator, "rademacher")
            samples.append(float(v.double() @ op.matvec(v).double()))
    s = np.asarray(samples)
    return Trace(
        mean=float(s.mean()),
        stderr=float(s.std(ddof=1) / np.sqrt(n_samples)),
        n_samples=n_samples,
        samples=samples,
        tf32=tf32,
    )


def spectral_density(
    model: nn.Module,
    state: Mapping[str, Tensor],
    mask: Mapping[str, Tensor],
    x: Tensor,
    y: Tensor,
    n_vectors: int = 4,
    steps: int = 80,
    grid_size: int = 1000,
    sigma: float | None = None,
    seed: int = 0,
    chunk_size: int = 2048,
    device: torch.device | str | None = None,
    params: str = "all",
    mode: str = "auto",
) -> Density:
    """Stochastic Lanczos quadrature: `steps` Lanczos steps from each of `n_vectors`
    normalised Rademacher vectors; the Ritz values weighted by the squared first components
    of T's eigenvectors are a quadrature of the spectral measure (mass 1 in all).

    `sigma` (absolute) defaults to PyHessian's broadening, variance 1e-5·max(1, λmax − λmin).
    The grid spans the nodes with 3σ (at least 1% of their range) to spare on each side.
    """
    if n_vectors < 1 or steps < 1 or grid_size < 2:
        raise ValueError("need n_vectors ≥ 1, steps ≥ 1 and grid_size ≥ 2")
    generator = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    op = HessianOperator(model, state, mask, x, y, params, chunk_size, mode, device)
    with no_tf32(op.device) as tf32:

        def fresh() -> Tensor:
            return op.random_vector(generator)

        for _ in range(n_vectors):
            start = op.random_vector(generator, "rademacher")
            theta, s = lanczos.lanczos(op.matvec, start, steps, fresh).ritz()
            nodes.append(theta.tolist())
            weights.append((s[0] ** 2).tolist())
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
