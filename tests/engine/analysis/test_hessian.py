"""The restricted Hessian against a dense reference on models of a few hundred parameters.

The reference is `torch.autograd.functional.hessian` of the loss as a function of one flat
vector of every parameter, taken at `W ⊙ m`, then cut down to the unpruned rows and columns:
it shares no code with the packed operator, the Lanczos solver or PyHessian.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from engine.analysis.hessian import (
    data_subset,
    hutchinson_trace,
    spectral_density,
    top_eigenvalues,
)
from engine.analysis.hvp import HessianOperator, no_tf32
from engine.analysis.point import LossPoint
from engine.analysis.trace import split
from engine.analysis.volume import log_volume
from engine.data.bundle import DataBundle
from engine.models import prunable_names


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))  # 212 parameters


class ConvBN(nn.Module):
    """Conv, BatchNorm (eval mode, non-trivial running statistics), ReLU, Linear: 190 params."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(48, 4)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))


def setup(kind: str, prune: float = 0.5, dtype=torch.float64, seed: int = 0):
    """(model, state, mask, x, y): random weights, ~`prune` of each weight pruned."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = (mlp() if kind == "mlp" else ConvBN()).to(dtype)
    if kind == "conv":
        model.bn.running_mean.uniform_(-0.5, 0.5, generator=g)
        model.bn.running_var.uniform_(0.5, 2.0, generator=g)
        model.bn.weight.data.uniform_(0.5, 1.5, generator=g)
    shape = (8,) if kind == "mlp" else (1, 6, 6)
    x = torch.randn(96, *shape, generator=g, dtype=dtype)
    y = torch.randint(0, 4, (96,), generator=g)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    mask = {
        k: (torch.rand(state[k].shape, generator=g) >= prune).to(dtype)
        for k in prunable_names(model)
    }
    return model, state, mask, x, y


def dense_hessian(model, state, mask, x, y, params="all"):
    """(H over the unpruned coordinates, in packed order) by autograd.functional.hessian."""
    names = [n for n, _ in model.named_parameters() if params == "all" or n in mask]
    point = {k: v * mask[k] if k in mask else v for k, v in state.items()}
    flat = torch.cat([point[n].reshape(-1) for n in names])
    sizes = [point[n].numel() for n in names]

    def loss(theta):
        parts = dict(zip(names, torch.split(theta, sizes), strict=True))
        tensors = {**point, **{n: p.view(point[n].shape) for n, p in parts.items()}}
        return F.cross_entropy(functional_call(model.eval(), tensors, (x,)), y)

    h = torch.autograd.functional.hessian(loss, flat)
    keep = torch.cat(
        [
            (mask[n] != 0).reshape(-1) if n in mask else torch.ones(s, dtype=torch.bool)
            for n, s in zip(names, sizes, strict=True)
        ]
    )
    return h[keep][:, keep]


def dense_eigenvalues(*args, **kw) -> np.ndarray:
    return torch.linalg.eigvalsh(dense_hessian(*args, **kw)).flip(0).numpy()


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_product_matches_dense_hessian(kind, mode):
    model, state, mask, x, y = setup(kind)
    h = dense_hessian(model, state, mask, x, y)
    op = HessianOperator(LossPoint(model, state, mask, x, y), chunk_size=40, mode=mode, batch=3)
    assert op.dim == h.shape[0] < sum(p.numel() for p in model.parameters())
    v = torch.randn(op.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(op.matvec(v), h @ v, rtol=1e-10, atol=1e-12)
    assert op.n_hvp == 1
    rows = torch.randn(7, op.dim, dtype=torch.float64)  # passes of 3, 3 and 1 rows
    assert torch.allclose(op.matmat(rows), rows @ h, rtol=1e-10, atol=1e-12)
    assert op.n_hvp == 8


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("backend", ["lanczos", "lanczos1", "arpack"])
def test_top_k_matches_dense_eigvalsh(kind, backend):
    model, state, mask, x, y = setup(kind)
    ref = dense_eigenvalues(model, state, mask, x, y)
    spec = top_eigenvalues(LossPoint(model, state, mask, x, y), k=20, backend=backend, tol=1e-6)
    assert rel(spec.eigenvalues, ref[:20]) < 1e-4
    assert spec.k == 20 and spec.dim == len(ref) and spec.converged
    assert spec.eigenvalues == sorted(spec.eigenvalues, reverse=True)
    assert spec.n_negative == sum(v < 0 for v in spec.eigenvalues)
    assert spec.n_hvp > 0 and spec.backend == backend


def test_whole_spectrum_and_k_capped_at_dimension():
    """k ≥ dim returns every eigenvalue (negative ones included, ranked algebraically)."""
    model, state, mask, x, y = setup("mlp", prune=0.8)
    ref = dense_eigenvalues(model, state, mask, x, y, params="prunable")
    spec = top_eigenvalues(LossPoint(model, state, mask, x, y), k=500, params="prunable", tol=1e-8)
    assert spec.k == spec.dim == len(ref) == len(spec.eigenvalues)
    assert np.max(np.abs(np.array(spec.eigenvalues) - ref)) < 1e-8 * np.abs(ref).max()
    assert spec.n_negative == int((ref < -1e-6 * np.abs(ref).max()).sum()) > 0


@pytest.mark.parametrize("params", ["all", "prunable"])
def test_masked_restriction_is_the_unpruned_submatrix(params):
    """The spectrum is that of H[unpruned, unpruned] at W ⊙ m, not of H on all weights."""
    model, state, mask, x, y = setup("conv", prune=0.6)
    ref = dense_eigenvalues(model, state, mask, x, y, params=params)
    dense = {k: torch.ones_like(m) for k, m in mask.items()}
    unmasked = dense_eigenvalues(model, state, dense, x, y, params=params)
    spec = top_eigenvalues(LossPoint(model, state, mask, x, y), k=8, params=params, tol=1e-8)
    assert rel(spec.eigenvalues, ref[:8]) < 1e-4
    assert rel(spec.eigenvalues, unmasked[:8]) > 1e-2  # the restriction matters here


def test_pruned_coordinates_change_nothing():
    """Whatever the weights hold at pruned entries, products and spectrum are the same."""
    model, state, mask, x, y = setup("mlp")
    noisy = {
        k: torch.where(mask[k] == 0, 10 * torch.randn_like(v), v) if k in mask else v
        for k, v in state.items()
    }
    a = top_eigenvalues(LossPoint(model, state, mask, x, y), k=10, tol=1e-8)
    b = top_eigenvalues(LossPoint(model, noisy, mask, x, y), k=10, tol=1e-8)
    assert a.eigenvalues == b.eigenvalues
    v = torch.randn(a.dim, dtype=torch.float64)
    hv = [HessianOperator(LossPoint(model, s, mask, x, y)).matvec(v) for s in (state, noisy)]
    assert torch.equal(*hv)


def test_chunks_and_modes_agree():
    model, state, mask, x, y = setup("conv")
    v = torch.randn(HessianOperator(LossPoint(model, state, mask, x, y)).dim, dtype=torch.float64)
    ref = HessianOperator(
        LossPoint(model, state, mask, x, y), chunk_size=96, mode="reverse"
    ).matvec(v)
    for chunk, mode in [(7, "forward"), (7, "reverse"), (50, "auto")]:
        op = HessianOperator(LossPoint(model, state, mask, x, y), chunk_size=chunk, mode=mode)
        with torch.no_grad():  # a caller's no_grad must not switch the products off
            out = op.matvec(v)
        assert torch.allclose(out, ref, rtol=1e-10, atol=1e-13)


def test_step_limit_is_reported_as_not_converged():
    model, state, mask, x, y = setup("conv")
    spec = top_eigenvalues(LossPoint(model, state, mask, x, y), k=20, tol=1e-12, max_steps=22)
    assert not spec.converged and spec.n_hvp == 22 and len(spec.eigenvalues) == 20


def test_pyhessian_agrees_with_lanczos_on_top_5():
    model, state, mask, x, y = setup("mlp", dtype=torch.float32)
    # Near a minimum (L-BFGS on the loss plus a little weight decay), so the five largest
    # eigenvalues are also the five of largest magnitude, the ones power iteration finds.
    opt = torch.optim.LBFGS(model.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        decay = sum((p**2).sum() for p in model.parameters())
        loss = F.cross_entropy(model(x), y) + 1e-3 * decay
        loss.backward()
        return loss

    opt.step(closure)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ours = top_eigenvalues(LossPoint(model, state, mask, x, y), k=5, tol=1e-6)
    theirs = top_eigenvalues(
        LossPoint(model, state, mask, x, y), k=5, backend="pyhessian", tol=1e-4
    )
    assert theirs.backend == "pyhessian" and theirs.n_hvp > 0
    assert rel(theirs.eigenvalues, ours.eigenvalues) < 1e-2
    as64 = [{k: v.double() for k, v in d.items()} for d in (state, mask)]
    ref = dense_eigenvalues(model.double(), *as64, x.double(), y)
    assert rel(ours.eigenvalues, ref[:5]) < 1e-4


def wide_mlp():
    """(model, state, mask, x, y): 462 parameters, 20% of weights pruned: 367 coordinates,
    enough for a top-100 that is not the whole space."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 24), nn.Tanh(), nn.Linear(24, 6)).double()
    x = torch.randn(96, 12, generator=g, dtype=torch.float64)
    y = torch.randint(0, 6, (96,), generator=g)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    mask = {
        k: (torch.rand(state[k].shape, generator=g) >= 0.2).double() for k in prunable_names(model)
    }
    return model, state, mask, x, y


@pytest.mark.parametrize("tol", [1e-6, 1e-10])
def test_top_100_agrees_with_arpack_and_dense_at_tight_tolerances(tol):
    model, state, mask, x, y = wide_mlp()
    ref = dense_eigenvalues(model, state, mask, x, y)[:100]
    ours = top_eigenvalues(LossPoint(model, state, mask, x, y), k=100, tol=tol)
    arpack = top_eigenvalues(LossPoint(model, state, mask, x, y), k=100, backend="arpack", tol=tol)
    assert ours.converged and ours.k == 100 and ours.n_hvp < ours.dim == 367
    assert rel(ours.eigenvalues, arpack.eigenvalues) < tol
    assert rel(ours.eigenvalues, ref) < tol and rel(arpack.eigenvalues, ref) < tol


def _signs(gen: torch.Generator, count: int, dim: int) -> np.ndarray:
    """The Rademacher rows `HessianOperator.random_vector` draws from `gen`, in order."""
    rows = [torch.randint(0, 2, (dim,), generator=gen).double() * 2 - 1 for _ in range(count)]
    return torch.stack(rows).numpy() if rows else np.zeros((0, dim))


@pytest.mark.parametrize("method", ["hutch++", "hutchinson"])
def test_trace_estimators_match_their_definition_on_the_dense_hessian(method):
    """Each estimate recomputed from the dense Hessian and the same random signs by numpy:
    Hutch++ is tr(QᵀHQ) for Q = orth(H S) plus Hutchinson on (I − QQᵀ) H (I − QQᵀ)."""
    model, state, mask, x, y = setup("conv")
    h = dense_hessian(model, state, mask, x, y).numpy()
    t = hutchinson_trace(LossPoint(model, state, mask, x, y), n_samples=30, seed=3, method=method)
    rank, probes = split(30, len(h)) if method == "hutch++" else (0, 30)
    gen = torch.Generator().manual_seed(3)
    sketch, g = _signs(gen, rank, len(h)), _signs(gen, probes, len(h))
    q = np.linalg.qr(h @ sketch.T)[0] if rank else np.zeros((len(h), 0))
    low = np.trace(q.T @ h @ q)
    rest = g.T - q @ (q.T @ g.T)
    z = np.einsum("ij,ik,kj->j", rest, h, rest)
    assert (t.method, t.rank, t.n_samples, len(t.samples)) == (method, rank, 30, probes)
    assert np.allclose(t.samples, z, rtol=1e-9) and t.low_rank == pytest.approx(low, rel=1e-9)
    assert t.mean == pytest.approx(low + z.mean(), rel=1e-9)
    assert t.stderr == pytest.approx(z.std(ddof=1) / np.sqrt(probes), rel=1e-9)


def test_hutchpp_trace_against_the_exact_trace():
    model, state, mask, x, y = setup("conv")
    h = dense_hessian(model, state, mask, x, y)
    exact = float(torch.trace(h))
    t = hutchinson_trace(LossPoint(model, state, mask, x, y), n_samples=60, seed=3)
    assert t.rank == 20 and 0 < t.stderr < 0.05 * abs(exact)
    assert abs(t.mean - exact) < 4 * t.stderr
    assert (
        hutchinson_trace(LossPoint(model, state, mask, x, y), n_samples=60, seed=3).samples
        == t.samples
    )
    # a sketch as wide as the space holds all of H: the estimate is the trace itself
    whole = hutchinson_trace(LossPoint(model, state, mask, x, y), n_samples=3 * len(h) + 2, seed=1)
    assert whole.rank == len(h) and whole.mean == pytest.approx(exact, rel=1e-10)
    assert whole.stderr < 1e-10 * abs(exact)


def test_density_integrates_to_one_where_the_eigenvalues_are():
    model, state, mask, x, y = setup("mlp")
    ref = dense_eigenvalues(model, state, mask, x, y)
    d = spectral_density(LossPoint(model, state, mask, x, y), n_vectors=3, steps=len(ref), seed=1)
    grid, rho = np.array(d.grid), np.array(d.density)
    assert d.steps == len(ref) and len(d.nodes) == len(d.weights) == 3
    assert np.trapezoid(rho, grid) == pytest.approx(1.0, abs=1e-3)
    for nodes, weights in zip(d.nodes, d.weights, strict=True):
        assert sum(weights) == pytest.approx(1.0)
        # with as many steps as dimensions the quadrature nodes are the eigenvalues themselves
        heavy = np.array(nodes)[np.array(weights) > 1e-10]
        gap = np.abs(heavy[:, None] - ref[None, :]).min(axis=1)
        assert gap.max() < 1e-6 * np.abs(ref).max()
    # mean of the density ≈ tr(H)/dim (exact in expectation; 3 probes, loose bound)
    assert np.trapezoid(grid * rho, grid) == pytest.approx(ref.mean(), abs=0.5 * ref.std())


def test_density_with_few_steps_keeps_mass_inside_the_spectrum():
    model, state, mask, x, y = setup("conv")
    ref = dense_eigenvalues(model, state, mask, x, y)
    d = spectral_density(
        LossPoint(model, state, mask, x, y), n_vectors=2, steps=15, sigma=0.01, seed=0
    )
    grid, rho = np.array(d.grid), np.array(d.density)
    assert d.sigma == 0.01 and d.steps == 15
    inside = (grid >= ref.min() - 0.05) & (grid <= ref.max() + 0.05)
    assert np.trapezoid(rho * inside, grid) == pytest.approx(1.0, abs=1e-3)


def test_density_in_blocks_is_block_gauss_quadrature_of_each_start():
    """Forward mode takes the start vectors as one block: each one's weights still sum to 1,
    and its quadrature gives vᵀHv/‖v‖² and vᵀH²v/‖v‖² exactly (degree < 2·steps), here
    against the dense Hessian and the same random signs."""
    model, state, mask, x, y = setup("mlp")
    h = dense_hessian(model, state, mask, x, y).numpy()
    d = spectral_density(
        LossPoint(model, state, mask, x, y), n_vectors=3, steps=2, seed=1, mode="forward"
    )
    v = _signs(torch.Generator().manual_seed(1), 3, len(h))
    assert len(d.nodes[0]) == 6 and d.nodes[0] == d.nodes[2]  # one block of 3, 2 steps
    for i, (nodes, weights) in enumerate(zip(d.nodes, d.weights, strict=True)):
        theta, w = np.array(nodes), np.array(weights)
        assert w.sum() == pytest.approx(1.0)
        for p in (1, 2, 3):
            exact = v[i] @ np.linalg.matrix_power(h, p) @ v[i] / len(h)
            assert w @ theta**p == pytest.approx(exact, rel=1e-9)


def test_log_volume_by_hand():
    v = log_volume([4.0, 1.0, 0.25, -0.5, 9.0], k=4)
    assert v.k == 4 and v.k_positive == 4 and v.n_negative == 0
    assert v.log_volume == pytest.approx(-0.5 * math.log(9 * 4 * 1 * 0.25))
    w = log_volume([4.0, 1.0, -0.5, 0.0])
    assert (w.k, w.k_positive, w.n_negative) == (4, 2, 1)
    assert w.log_volume == pytest.approx(-0.5 * math.log(4.0))
    with pytest.raises(ValueError):
        log_volume([1.0, 2.0], k=3)


def test_data_subset_is_fixed_by_its_seed():
    g = torch.Generator().manual_seed(0)
    bundle = DataBundle(
        name="t",
        train_x=torch.randn(50, 2, generator=g),
        train_y=torch.arange(50),
        test_x=torch.zeros(1, 2),
        test_y=torch.zeros(1, dtype=torch.long),
        num_classes=50,
        in_shape=(1, 1, 2),
        augment=False,
        info={},
    )
    x, y, idx = data_subset(bundle, size=20, seed=4)
    assert idx == sorted(set(idx)) and len(idx) == 20
    assert torch.equal(y, torch.tensor(idx)) and torch.equal(x, bundle.train_x[idx])
    assert data_subset(bundle, size=20, seed=4)[2] == idx != data_subset(bundle, 20, 5)[2]
    assert data_subset(bundle, size=80)[2] == list(range(50))


def test_tf32_switched_off_and_restored():
    flags = torch.backends.cuda.matmul, torch.backends.cudnn
    before = [f.allow_tf32 for f in flags]
    try:
        for on in (True, False):
            for f in flags:
                f.allow_tf32 = on
            with no_tf32("cuda") as was_on:
                assert was_on is on
                assert not any(f.allow_tf32 for f in flags)
            assert all(f.allow_tf32 is on for f in flags)
        with no_tf32("cpu") as was_on:
            assert was_on is False  # no TF32 on a CPU, whatever the flags say
        model, state, mask, x, y = setup("mlp")
        assert top_eigenvalues(LossPoint(model, state, mask, x, y), k=3).tf32 is False
    finally:
        for f, b in zip(flags, before, strict=True):
            f.allow_tf32 = b


def test_bad_requests_are_refused():
    model, state, mask, x, y = setup("mlp")
    with pytest.raises(ValueError, match="backend"):
        top_eigenvalues(LossPoint(model, state, mask, x, y), backend="magic")
    with pytest.raises(ValueError, match="params"):
        top_eigenvalues(LossPoint(model, state, mask, x, y), params="biases")
    with pytest.raises(ValueError, match="not prunable"):
        top_eigenvalues(LossPoint(model, state, {"0.bias": torch.ones(16)}, x, y))
    with pytest.raises(ValueError, match="block"):
        top_eigenvalues(LossPoint(model, state, mask, x, y), block=0)
    with pytest.raises(ValueError, match="method"):
        hutchinson_trace(LossPoint(model, state, mask, x, y), method="hutch+")
    with pytest.raises(ValueError, match="at least 2 products"):
        hutchinson_trace(LossPoint(model, state, mask, x, y), n_samples=1)
