"""BatchNorm recalibration at projected points: the statistics it leaves are those of a fresh
pass over the fixed subset (computed here from the BatchNorm inputs themselves), it is applied
where `bn_recalibrate` says, and every result records what was done."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import update_bn

from engine.analysis import batchnorm as bn
from engine.analysis import jobs
from engine.analysis.context import Context
from engine.analysis.hessian import data_subset
from engine.analysis.points import Point
from engine.config import DataSpec, ModelSpec, PruneSpec, RunSpec, TrainSpec
from engine.imp import run_imp
from engine.models import build_model
from engine.store import Store


def reference_stats(model: nn.Module, x: torch.Tensor, batch_size: int) -> dict[str, tuple]:
    """Per BatchNorm: the average over batches of each batch's per-channel mean and unbiased
    variance of its input, from a train-mode pass (what momentum=None accumulates)."""
    bns = {n: m for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    seen: dict[str, list] = {n: [] for n in bns}
    hooks = [
        m.register_forward_pre_hook(lambda _m, args, n=n: seen[n].append(args[0].detach()))
        for n, m in bns.items()
    ]
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])
    for h in hooks:
        h.remove()
    out = {}
    for n, inputs in seen.items():
        means = torch.stack([a.double().mean((0, 2, 3)) for a in inputs])
        varis = torch.stack([a.double().transpose(0, 1).flatten(1).var(1) for a in inputs])
        out[n] = (means.mean(0), varis.mean(0), len(inputs))
    return out


def _stale(model: nn.Module) -> dict[str, torch.Tensor]:
    """A state whose running statistics belong to other weights."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-3, 3)
            m.running_var.uniform_(2, 5)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("batch_size", [40, 16])
def test_recalibrated_statistics_equal_a_fresh_pass_over_the_subset(batch_size):
    torch.manual_seed(0)
    model = build_model("resnet20", (3, 8, 8), 10)
    state = _stale(model)
    x = torch.randn(40, 3, 8, 8)
    out = bn.recalibrated(model, state, x, batch_size)
    fresh = build_model("resnet20", (3, 8, 8), 10)
    fresh.load_state_dict(state)
    ref = reference_stats(fresh, x, batch_size)
    for name, (mean, var, batches) in ref.items():
        torch.testing.assert_close(out[f"{name}.running_mean"].double(), mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out[f"{name}.running_var"].double(), var, rtol=1e-5, atol=1e-6)
        assert int(out[f"{name}.num_batches_tracked"]) == batches
    for k, v in state.items():  # weights untouched, and the caller's state not modified
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(out[k], v), k
    assert not torch.equal(out["bn.running_mean"], state["bn.running_mean"])
    # the same as torch's own SWA helper over the same batches
    fresh.load_state_dict(state)
    update_bn([x[i : i + batch_size] for i in range(0, 40, batch_size)], fresh)
    for k, v in fresh.state_dict().items():
        if "running" in k:
            torch.testing.assert_close(out[k], v, rtol=1e-5, atol=1e-6)


def test_one_batch_gives_the_exact_mean_and_variance_of_the_subset():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    x = torch.randn(30, 3, 6, 6)
    out = bn.recalibrated(model, _stale(model), x, 30)
    acts = model[0](x).detach().double()
    torch.testing.assert_close(out["1.running_mean"].double(), acts.mean((0, 2, 3)))
    flat = acts.transpose(0, 1).flatten(1)
    exact = ((flat - flat.mean(1, keepdim=True)) ** 2).sum(1) / (flat.shape[1] - 1)
    torch.testing.assert_close(out["1.running_var"].double(), exact)


def test_modes_say_where_to_recalibrate():
    assert bn.applies("projected", True) and not bn.applies("projected", False)
    assert bn.applies("all", False) and not bn.applies("off", True)
    with pytest.raises(ValueError, match="bn_recalibrate"):
        bn.applies("sometimes", True)


@pytest.fixture(scope="module")
def bn_run(tmp_path_factory):
    """A ResNet-20 (BatchNorm) run of one pruned level on the 8x8 synthetic set."""
    store = Store(tmp_path_factory.mktemp("bn-store"))
    spec = RunSpec(
        data=DataSpec("synthetic_tiny"),
        model=ModelSpec("resnet20"),
        train=TrainSpec(lr=0.05, batch_size=64, length="2ep", schedule="constant", milestones=()),
        prune=PruneSpec(levels=1, rewind="2it"),
        seed=3,
    )
    run_imp(spec, store, "cpu")
    return store, spec.run_id, spec


def _opts(mode: str, size: int = 100) -> dict:
    return {"bn_recalibrate": mode, "bn_subset": size}


def test_a_projected_point_gets_the_statistics_of_a_pass_over_the_subset(bn_run):
    store, run_id, spec = bn_run
    ctx = Context(store, run_id, "cpu")
    point = Point("imp", 1, "projected_prev")
    stale = ctx.resolve(point).state
    got = ctx.at(point, _opts("projected")).state
    assert ctx.recalibrated == [str(point)]
    x, _, _ = data_subset(ctx.data, 100, bn.SUBSET_SEED)
    model = build_model("resnet20", ctx.data.in_shape, ctx.data.num_classes)
    model.load_state_dict(stale)
    ref = reference_stats(model, x, spec.train.batch_size)  # 64 + 36: two batches
    for name, (mean, var, _) in ref.items():
        torch.testing.assert_close(got[f"{name}.running_mean"].double(), mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got[f"{name}.running_var"].double(), var, rtol=1e-5, atol=1e-6)
    off = ctx.at(point, _opts("off")).state
    assert all(torch.equal(off[k], v) for k, v in stale.items())  # min_0's statistics
    solution = Point("imp", 1, "solution")
    kept = ctx.at(solution, _opts("projected")).state
    assert all(torch.equal(kept[k], v) for k, v in ctx.resolve(solution).state.items())
    redone = ctx.at(solution, _opts("all")).state
    assert not torch.equal(redone["bn.running_var"], kept["bn.running_var"])


def test_results_record_the_recalibration_and_differ_from_stale_statistics(bn_run):
    store, run_id, _ = bn_run
    base = {"run_id": run_id, "what": "pruned_start", "levels": "1", "bn_subset": 100}
    jobs.execute(store, base)
    jobs.execute(store, base | {"bn_recalibrate": "off"})
    records = {r["unit"]["point"]: r for r in jobs.stored_results(store, base)}
    projected = {p: r["result"] for p, r in records.items()}
    off = jobs.stored_results(store, base | {"bn_recalibrate": "off"})
    off = {r["unit"]["point"]: r["result"] for r in off}
    record = records["projected_prev"]["batchnorm"]
    assert record["mode"] == "projected" and record["model_has_batchnorm"]
    assert record["recalibrated"] == ["imp:1:projected_prev"]
    assert record["subset"] == {"size": 100, "seed": 0, "batch_size": 64}
    assert records["solution"]["batchnorm"]["recalibrated"] == []
    assert projected["solution"]["train_loss"] == off["solution"]["train_loss"]
    assert projected["projected_prev"]["train_loss"] != off["projected_prev"]["train_loss"]


def test_a_model_without_batchnorm_is_measured_as_before(run):
    store, run_id, _ = run  # LeNet-300-100: no BatchNorm
    base = {"run_id": run_id, "what": "pruned_start", "levels": "1"}
    jobs.execute(store, base)
    jobs.execute(store, base | {"bn_recalibrate": "off"})
    a = jobs.stored_results(store, base)
    b = jobs.stored_results(store, base | {"bn_recalibrate": "off"})
    assert [r["result"]["train_loss"] for r in a] == [r["result"]["train_loss"] for r in b]
    record = a[0]["batchnorm"]
    assert record == {"mode": "projected", "model_has_batchnorm": False, "recalibrated": []}


def test_the_loss_matched_search_recalibrates_every_point_it_measures(bn_run):
    store, run_id, _ = bn_run
    req = {"run_id": run_id, "what": "loss_matched", "k": 2, "subset": 64, "bn_subset": 64}
    jobs.execute(store, req)
    (rec,) = jobs.stored_results(store, req)
    r, done = rec["result"], rec["batchnorm"]["recalibrated"]
    measured = [r["target"]["point"], *(c["point"] for c in r["checkpoints"])]
    assert done[: len(measured)] == measured
    assert r["matched"]  # and the matched point itself, named by its bracket and alpha
    assert done[-1].startswith(f"{r['bracket']['a']['point']}->{r['bracket']['b']['point']}@")
    assert r["loss"] == pytest.approx(r["target"]["loss"], rel=1e-3)
    assert "search" not in done
