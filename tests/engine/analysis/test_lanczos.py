"""The Lanczos solvers where the tiny float64 models of `test_hessian` cannot reach them: float32
vectors in a high dimension, the regime of real networks (the operator is diagonal, so its
spectrum is known exactly), and the block solver's invariant subspaces, cut-short blocks and
quadrature on explicit matrices."""

import numpy as np
import pytest
import torch

from engine.analysis import block_lanczos, lanczos


def test_float32_high_dimension_has_no_ghost_eigenvalues():
    """A well-separated λ_max converges within a few steps; rounding then leaks it back into
    the basis, and without full reorthogonalization it returns as copies (with partial
    reorthogonalization this operator gave 135 four times in its top 5)."""
    n = 200_000
    gen = torch.Generator().manual_seed(0)
    top = torch.tensor([135.0, 73.6, 66.0, 49.1, 45.0])
    diag = torch.cat([top, 40 * torch.rand(n - len(top), generator=gen)])

    def fresh() -> torch.Tensor:
        return torch.randn(n, generator=gen)

    values, _, steps = lanczos.top_eigenvalues(lambda v: diag * v, fresh(), 10, 1e-3, 120, fresh)
    assert steps > 20
    assert np.allclose(values[:5], top.numpy(), rtol=1e-4)
    assert values[5] < 40.0 + 1e-3  # the rest lie in the bulk [0, 40)


def _symmetric(eigenvalues: np.ndarray, seed: int) -> torch.Tensor:
    """U diag(eigenvalues) Uᵀ for a random orthogonal U, float64."""
    u, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    return torch.from_numpy(u @ np.diag(eigenvalues) @ u.T)


def _gaussian(n: int, seed: int, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return lambda: torch.randn(n, generator=gen, dtype=dtype)


@pytest.mark.parametrize("b", [2, 4])
def test_block_float32_high_dimension_has_no_ghosts_and_rounding_level_values(b):
    """The operator of the test above, in blocks: no copies of λ_max, and the converged values
    at float32 rounding level. A float32 GEMM over 200,000 coordinates errs by ~1e-6 and
    Householder's norms by ~5e-6; either, left in T, moved λ_max by 2e-5."""
    n = 200_000
    gen = torch.Generator().manual_seed(0)
    top = torch.tensor([135.0, 73.6, 66.0, 49.1, 45.0])
    diag = torch.cat([top, 40 * torch.rand(n - len(top), generator=gen)])
    fresh = _gaussian(n, 1, torch.float32)
    start = torch.stack([fresh() for _ in range(b)])
    values, _, steps = block_lanczos.top_eigenvalues(
        lambda v: v * diag, start, 10, 1e-3, 120, fresh
    )
    assert steps == 120
    assert np.allclose(values[:5], top.numpy(), rtol=1e-6, atol=0)
    assert values[5] < 40.0 + 1e-3


def test_block_finds_multiplicities_wider_than_the_block():
    """Three distinct eigenvalues, ten copies each: from 2 start vectors the block Krylov space
    is invariant after 3 steps, so every further copy comes from a fresh direction."""
    lam = np.repeat([3.0, 2.0, 1.0], 10)
    a = _symmetric(lam, 0)
    fresh = _gaussian(30, 2)
    start = torch.stack([fresh() for _ in range(2)])
    values, converged, steps = block_lanczos.top_eigenvalues(
        lambda v: v @ a, start, 25, 1e-10, 30, fresh
    )
    assert converged and steps <= 30
    assert np.allclose(values, lam[:25], rtol=0, atol=1e-12)


def test_block_whole_space_when_the_last_block_is_cut_short():
    """61 dimensions in blocks of 4: the last block has one vector; every eigenvalue comes
    out, and T is exactly Qᵀ A Q (a repeated eigenvalue included)."""
    lam = np.concatenate([[7.0, 7.0], np.random.default_rng(1).uniform(-3, 3, 59)])
    a = _symmetric(lam, 3)
    fresh = _gaussian(61, 4)
    start = torch.stack([fresh() for _ in range(4)])
    values, converged, steps = block_lanczos.top_eigenvalues(
        lambda v: v @ a, start, 61, 1e-10, 1000, fresh
    )
    assert converged and steps == 61
    assert np.max(np.abs(values - np.sort(lam)[::-1])) < 1e-12 * np.abs(lam).max()


def test_block_gauss_quadrature_is_exact_to_degree_2m_minus_1():
    """After m block steps each start vector's quadrature reproduces vᵀAᵖv/‖v‖² for p < 2m:
    the property stochastic Lanczos quadrature rests on (here against matrix powers)."""
    a = _symmetric(np.random.default_rng(5).uniform(-2, 2, 50), 6)
    fresh = _gaussian(50, 7)
    start = torch.stack([fresh() for _ in range(3)])
    m = 4
    t = block_lanczos.block_lanczos(lambda v: v @ a, start, 3 * m, fresh)
    theta, w = t.quadrature()
    assert t.steps == 12 and w.shape == (3, 12)
    assert np.allclose(w.sum(axis=1), 1.0)
    v = start.numpy()
    for p in range(2 * m):
        exact = np.einsum("ij,jk,ik->i", v, np.linalg.matrix_power(a.numpy(), p), v)
        assert np.allclose(w @ theta**p, exact / (v**2).sum(axis=1), rtol=1e-9, atol=1e-12)
    exact = np.einsum("ij,jk,ik->i", v, np.linalg.matrix_power(a.numpy(), 2 * m + 2), v)
    assert not np.allclose(w @ theta ** (2 * m + 2), exact / (v**2).sum(axis=1), rtol=1e-6)


def test_float64_accumulated_dots():
    """`dots` against a float64 reference where one float32 GEMM is visibly off."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 266_610, generator=g)
    y = x * 100 * torch.rand(266_610, generator=g)
    ref = (x.double() @ y.double().T).numpy()
    scale = np.abs(ref).max()
    assert np.abs(block_lanczos.dots(x, y) - ref).max() < 1e-7 * scale
    assert np.abs((x @ y.T).double().numpy() - ref).max() > 1e-7 * scale
