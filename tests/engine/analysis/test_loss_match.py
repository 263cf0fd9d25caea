"""The loss-matched control: the bracket and α on hand-made losses with known answers, and on
a stored run the matched point rebuilt by hand from its two checkpoints."""

from __future__ import annotations

import math

import pytest

from engine.analysis import geometry, jobs, loss_match, tables
from engine.analysis.hessian import data_subset, top_eigenvalues
from engine.analysis.loss_match import Checkpoint, bracket, match_alpha, no_bracket_reason
from engine.analysis.point import LossPoint
from engine.config import SpecError
from engine.data import load_dataset
from engine.models import build_model

LOSSES = [2.0, 1.5, 0.9, 1.2, 0.5]
CKPTS = [Checkpoint(f"imp:1:ep{i:03d}", 10 * i, v) for i, v in enumerate(LOSSES)]


def test_the_first_pair_in_training_order_that_brackets_the_target_is_taken():
    assert bracket(CKPTS, 1.0) == 1  # 1.5 >= 1.0 >= 0.9 comes before 1.2 -> 0.5
    assert bracket(CKPTS, 0.9) == 1  # an endpoint that equals the target brackets it
    assert bracket(CKPTS, 0.7) == 3  # only the last pair reaches that low
    assert bracket(CKPTS, 0.4) is None and bracket(CKPTS, 2.5) is None
    assert "lowest stored loss is 0.5 at imp:1:ep004" in no_bracket_reason(CKPTS, 0.4)
    assert "starts at 2, already below it" in no_bracket_reason(CKPTS, 2.5)


@pytest.mark.parametrize(
    ("loss", "target", "alpha"),
    [
        (lambda a: 2 - a * a, 1.36, 0.8),
        (lambda a: math.exp(-3 * a), math.exp(-1.2), 0.4),
        (lambda a: 1 - a, 1.0, 0.0),
        (lambda a: 1 - a, 0.0, 1.0),
    ],
)
def test_alpha_solves_loss_equals_target_on_the_segment(loss, target, alpha):
    got = match_alpha(loss, target, loss(0.0), loss(1.0))
    assert got == pytest.approx(alpha, abs=1e-4)


REQ = {"what": "loss_matched", "k": 3, "subset": 128}


def test_the_matched_point_is_the_interpolation_of_its_two_checkpoints(fresh_run):
    store, rid, spec = fresh_run
    req = {"run_id": rid, **REQ}
    summary = jobs.execute(store, req, "cpu")
    assert (summary["units"], summary["computed"]) == (2, 2)  # levels 1 and 2
    assert jobs.execute(store, req, "cpu")["cached"] == 2
    data = load_dataset(spec.data.name, "unused")
    x, y, _ = data_subset(data, 128, 0)
    model = build_model(spec.model.name, data.in_shape, data.num_classes)
    for rec in jobs.stored_results(store, req):
        r, level = rec["result"], rec["unit"]["level"]
        assert r["matched"] and r["target"]["point"] == f"imp:{level}:projected_prev"
        a, b = r["bracket"]["a"], r["bracket"]["b"]
        assert a["loss"] >= r["target"]["loss"] >= b["loss"]
        points = [c["point"] for c in r["checkpoints"]]
        assert points[0] == f"imp:{level}:start" and points[-1] == f"imp:{level}:solution"
        assert points.index(b["point"]) == points.index(a["point"]) + 1
        lv = store.level(rid, level)
        tag = {"solution": "final"}
        sa, sb = (lv.load_checkpoint(tag.get(p.split(":")[2], p.split(":")[2])) for p in
                  (a["point"], b["point"]))  # fmt: skip
        state = geometry.lerp_state(sa, sb, r["alpha"])
        loss = geometry.loss(model, state, x, y)
        assert r["loss"] == pytest.approx(loss, rel=1e-6)
        assert r["loss"] == pytest.approx(r["target"]["loss"], rel=1e-3)
        assert a["iteration"] <= r["iteration"] <= b["iteration"]
        ref = top_eigenvalues(LossPoint(model, state, lv.load_mask(), x, y), k=3, seed=0)
        assert r["eigenvalues"] == pytest.approx(ref.eigenvalues, rel=1e-5)
        assert r["volume"]["log_volume"] == pytest.approx(
            -0.5 * sum(math.log(v) for v in ref.eigenvalues), rel=1e-5
        )
    t = tables.table("loss_matched", store, rid)
    assert list(t["level"]) == [1, 2] and t["matched"].all()
    assert len(tables.table("loss_matched_spectra", store, rid)) == 6


def test_a_level_without_a_bracket_is_stored_with_its_reason(fresh_run, monkeypatch):
    store, rid, _ = fresh_run
    monkeypatch.setattr(loss_match, "bracket", lambda checkpoints, target: None)
    req = {"run_id": rid, **REQ, "levels": "1"}
    jobs.execute(store, req, "cpu")
    (rec,) = jobs.stored_results(store, req)
    r = rec["result"]
    assert not r["matched"] and "eigenvalues" not in r
    assert r["reason"] == loss_match.no_bracket_reason(
        [loss_match.Checkpoint(**c) for c in r["checkpoints"]], r["target"]["loss"]
    )
    (row,) = tables.table("loss_matched", store, rid).itertuples()
    assert not row.matched and math.isnan(row.log_volume) and row.reason == r["reason"]


def test_requests_are_for_imp_levels_with_a_previous_level(fresh_run):
    store, rid, _ = fresh_run
    with pytest.raises(SpecError, match="branches"):
        jobs.normalize_request(store, {"run_id": rid, **REQ, "branches": "ft"})
    with pytest.raises(SpecError, match="level 0"):
        jobs.normalize_request(store, {"run_id": rid, **REQ, "levels": "0"})
    req = jobs.normalize_request(store, {"run_id": rid, **REQ})
    assert req["levels"] == {"imp": [1, 2]} and req["bn_recalibrate"] == "projected"
