"""Instability analysis: copy B is the level retrained from its start on another data order
(rebuilt here by hand with `train_level`), the barrier is that of the path between the two
copies, and a stored copy is never trained again."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.analysis import geometry, instability, jobs, tables
from engine.data import load_dataset
from engine.models import build_model
from engine.store import LevelDir
from engine.train import train_level

REQ = {"what": "instability", "n": 5}


def _by_hand(store, rid, spec, level: int, data_seed: int, tmp_path) -> dict:
    """Level `level` trained again from its start with `data_seed` (fresh optimizer)."""
    data = load_dataset(spec.data.name, "unused")
    lv = store.level(rid, level)
    start = store.load_rewind(rid) if level == 0 else lv.load_checkpoint("start")
    model = build_model(spec.model.name, data.in_shape, data.num_classes)
    model.load_state_dict(start)
    ipe = -(-len(data.train_x) // spec.train.batch_size)
    out = LevelDir(tmp_path / f"hand-{level}-{data_seed}")
    k = spec.prune.rewind.iterations(ipe)
    return train_level(model, lv.load_mask(), data, spec.train, out, data_seed=data_seed,
                       start_iteration=k).state  # fmt: skip


def test_copy_b_is_the_level_trained_again_on_another_order(fresh_run, tmp_path):
    store, rid, spec = fresh_run
    req = {"run_id": rid, **REQ, "levels": "0,1"}
    summary = jobs.execute(store, req, "cpu")
    assert summary["computed"] == 2
    recs = {r["unit"]["level"]: r for r in jobs.stored_results(store, req)}
    seed_b = instability.copy_seed(spec.data_order_seed, 1)
    for level, rec in recs.items():
        r = rec["result"]
        assert r["copies"]["b"]["data_order_seed"] == seed_b != spec.data_order_seed
        copy = LevelDir(store.run_path(rid) / r["copies"]["b"]["folder"])
        final_b = copy.load_checkpoint("final")
        expect = _by_hand(store, rid, spec, level, seed_b, tmp_path)
        assert all(torch.equal(final_b[k], v) for k, v in expect.items())
        mask = store.level(rid, level).load_mask()
        assert all(torch.all(final_b[k][m == 0] == 0) for k, m in mask.items())
    # level 1's own solution is copy A: the same retraining on the run's own order gives it
    own = _by_hand(store, rid, spec, 1, spec.data_order_seed, tmp_path)
    sol = store.level(rid, 1).load_checkpoint("final")
    assert all(torch.equal(sol[k], v) for k, v in own.items())
    assert recs[1]["result"]["copies"]["a"]["point"] == "imp:1:solution"
    # level 0 rewinds to iteration 3, where min_0 already had momentum: copy A is retrained
    a0 = recs[0]["result"]["copies"]["a"]
    assert a0["point"] == "trained here" and a0["data_order_seed"] == spec.data_order_seed
    final_a0 = LevelDir(store.run_path(rid) / a0["folder"]).load_checkpoint("final")
    expect_a0 = _by_hand(store, rid, spec, 0, spec.data_order_seed, tmp_path)
    assert all(torch.equal(final_a0[k], v) for k, v in expect_a0.items())


def test_the_barrier_is_the_rise_of_test_error_above_the_chord(fresh_run):
    store, rid, spec = fresh_run
    req = {"run_id": rid, **REQ, "levels": "2"}
    jobs.execute(store, req, "cpu")
    (rec,) = jobs.stored_results(store, req)
    r = rec["result"]
    rows = r["rows"]
    alpha = np.array([row["alpha"] for row in rows])
    err = np.array([1 - row["test_acc"] for row in rows])
    chord = (1 - alpha) * err[0] + alpha * err[-1]
    assert r["barrier_test_error"] == pytest.approx(float(np.max(err - chord)))
    data = load_dataset(spec.data.name, "unused")
    model = build_model(spec.model.name, data.in_shape, data.num_classes)
    sol = store.level(rid, 2).load_checkpoint("final")
    assert rows[0]["test_acc"] == geometry.metrics(model, sol, data)["test_acc"]
    (row,) = tables.table("instability", store, rid).itertuples()
    assert row.level == 2 and row.barrier_test_error == r["barrier_test_error"]
    assert len(tables.table("instability_path", store, rid)) == 5


def test_a_stored_copy_is_not_trained_again(fresh_run, monkeypatch):
    store, rid, _ = fresh_run
    req = {"run_id": rid, **REQ, "levels": "1"}
    jobs.execute(store, req, "cpu")
    for path in (store.run_path(rid) / "analyses").glob("instability-*.json"):
        path.unlink()  # the result is gone, the copy is kept
    monkeypatch.setattr(instability, "train_level", lambda *a, **k: pytest.fail("retrained"))
    assert jobs.execute(store, req, "cpu")["computed"] == 1


def test_another_copy_number_trains_another_copy(fresh_run):
    store, rid, spec = fresh_run
    req = {"run_id": rid, **REQ, "levels": "1"}
    jobs.execute(store, req, "cpu")
    jobs.execute(store, {**req, "copy": 2}, "cpu")
    copies = sorted((store.run_path(rid) / "analyses" / "copies").iterdir())
    assert len(copies) == 2
    (rec,) = jobs.stored_results(store, {**req, "copy": 2})
    assert rec["result"]["copies"]["b"]["data_order_seed"] == instability.copy_seed(
        spec.data_order_seed, 2
    )
    assert store.branches(rid) == sorted(["imp", "one_shot", "ft", "ripn", "rpn1", "rpn2"])
