"""Distances, projected-point metrics and interpolation against hand computations."""

import pytest
import torch
from torch import nn

from engine import masks as M
from engine.analysis import geometry
from engine.analysis.jobs import execute, stored_results
from engine.data import load_dataset
from engine.models import build_model
from engine.train import evaluate


@pytest.fixture(scope="module")
def data_model(run):
    _, _, spec = run
    data = load_dataset(spec.data.name, "data")
    return data, build_model(spec.model.name, data.in_shape, data.num_classes)


def _metrics(model, state, data):
    model.load_state_dict(state)
    train = evaluate(model, data.train_x, data.train_y)
    test = evaluate(model, data.test_x, data.test_y)
    return {
        "train_loss": train[0],
        "train_acc": train[1],
        "test_loss": test[0],
        "test_acc": test[1],
    }


def test_distances_match_a_hand_computation(run, data_model):
    store, rid, _ = run
    _, model = data_model
    execute(store, {"run_id": rid, "what": "distances", "branches": "imp,ft", "levels": [2]}, "cpu")
    recs = stored_results(
        store, {"run_id": rid, "what": "distances", "branches": "imp,ft", "levels": [2]}
    )
    assert [r["unit"] for r in recs] == [
        {"branch": "imp", "level": 2},
        {"branch": "ft", "level": 2},
    ]
    for rec in recs:
        branch = rec["unit"]["branch"]
        lv = store.level(rid, 2, branch)
        start, final, mask = (
            lv.load_checkpoint("start"),
            lv.load_checkpoint("final"),
            lv.load_mask(),
        )
        parent = store.level(rid, 1, branch).load_checkpoint("final")
        targets = {"projected_prev": M.project(parent, mask), "solution": final}
        params = [n for n, _ in model.named_parameters()]
        for row in rec["result"]["rows"]:
            names = list(mask) if row["norm"] == "prunable" else params
            flat = lambda s, names=names: torch.cat([s[k].flatten().double() for k in names])  # noqa: E731
            expect = torch.linalg.vector_norm(flat(start) - flat(targets[row["to"]])).item()
            if row["normalised"]:
                expect /= torch.linalg.vector_norm(flat(start)).item()
            assert row["distance"] == pytest.approx(expect, rel=1e-12)
        if branch == "ft":  # FT starts from the pruned previous solution itself
            assert {
                r["distance"] for r in rec["result"]["rows"] if r["to"] == "projected_prev"
            } == {0}
    assert len(recs[0]["result"]["rows"]) == 8  # 2 norms x plain/normalised x 2 targets


def test_pruned_start_and_interpolation_endpoints_reproduce_direct_evaluation(run, data_model):
    store, rid, _ = run
    data, model = data_model
    lv, parent = store.level(rid, 2), store.level(rid, 1)
    projected = M.project(parent.load_checkpoint("final"), lv.load_mask())
    expect = {
        "projected_prev": _metrics(model, projected, data),
        "solution": _metrics(model, lv.load_checkpoint("final"), data),
    }
    req = {"run_id": rid, "what": "pruned_start", "levels": [2]}
    execute(store, req, "cpu")
    got = {r["unit"]["point"]: r["result"] for r in stored_results(store, req)}
    assert got == expect  # exactly: the same weights through the same evaluation

    path = "imp:2:projected_prev->imp:2:solution"
    req = {"run_id": rid, "what": "interpolation", "paths": [path], "n": 5}
    execute(store, req, "cpu")
    (rec,) = stored_results(store, req)
    rows = rec["result"]["rows"]
    assert [r["alpha"] for r in rows] == [0.0, 0.25, 0.5, 0.75, 1.0]
    metrics = ("train_loss", "train_acc", "test_loss", "test_acc")
    assert {k: rows[0][k] for k in metrics} == expect["projected_prev"]
    assert {k: rows[-1][k] for k in metrics} == expect["solution"]
    assert rec["result"] == {"rows": rows, **geometry.barrier(rows)}


def test_barrier_is_the_rise_above_the_straight_line():
    rows = [
        {"alpha": 0.0, "train_loss": 1.0, "test_acc": 0.9},
        {"alpha": 0.5, "train_loss": 3.0, "test_acc": 0.5},
        {"alpha": 1.0, "train_loss": 2.0, "test_acc": 0.8},
    ]
    b = geometry.barrier(rows)
    assert b["barrier_train_loss"] == pytest.approx(3.0 - 1.5)
    assert b["barrier_test_error"] == pytest.approx(0.5 - 0.15)
    flat = [dict(r, train_loss=1.0, test_acc=0.9) for r in rows]
    assert geometry.barrier(flat) == {"barrier_train_loss": 0.0, "barrier_test_error": 0.0}


def test_lerp_hits_both_ends_exactly():
    g = torch.Generator().manual_seed(0)
    a = {"w": torch.randn(5, generator=g), "n": torch.tensor(3)}
    b = {"w": torch.randn(5, generator=g), "n": torch.tensor(7)}
    assert torch.equal(geometry.lerp_state(a, b, 0.0)["w"], a["w"])
    assert torch.equal(geometry.lerp_state(a, b, 1.0)["w"], b["w"])
    mid = geometry.lerp_state(a, b, 0.25)
    assert torch.allclose(mid["w"], 0.75 * a["w"] + 0.25 * b["w"])
    assert mid["n"] == 3


def test_batchnorm_statistics_are_recomputed_from_the_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten())
    model.eval()
    bn = model[1]
    bn.running_mean.fill_(5.0)
    x = torch.randn(64, 1, 6, 6) * 2 + 1
    with torch.no_grad():
        h = model[0](x).transpose(0, 1).reshape(3, -1)
    assert geometry.recompute_batchnorm(model, x, batch_size=64)
    assert torch.allclose(bn.running_mean, h.mean(1), atol=1e-6)
    assert torch.allclose(bn.running_var, h.var(1, unbiased=True), rtol=1e-5)
    assert bn.momentum == 0.1 and not model.training
    geometry.recompute_batchnorm(model, x, batch_size=16)  # equal batches: the same mean
    assert torch.allclose(bn.running_mean, h.mean(1), atol=1e-6)
    assert not geometry.recompute_batchnorm(nn.Linear(2, 2), x, 16)  # nothing to do
