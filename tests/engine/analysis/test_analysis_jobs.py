"""Analysis requests: validation, defaults, the cache (counted calls), cancel, and the tables."""

import dataclasses

import pandas as pd
import pytest

from engine.analysis import jobs, registry, tables
from engine.config import SpecError
from engine.train import Cancelled, NullReporter


class Recorder(NullReporter):
    def __init__(self, cancel_after: int | None = None):
        self.calls: list[dict] = []
        self.cancel_after = cancel_after

    def progress(self, **fields):
        self.calls.append(fields)

    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.calls) >= self.cancel_after


@pytest.fixture
def counted(monkeypatch):
    """Wrap every compute function so a test can count how often it ran."""
    calls: list[str] = []
    for analysis in registry.all():

        def wrapper(ctx, unit, fn=analysis.compute, what=analysis.name):
            calls.append(what)
            return fn(ctx, unit)

        counting = dataclasses.replace(analysis, compute=wrapper)
        monkeypatch.setitem(registry._REGISTRY, analysis.name, counting)
    return calls


def test_defaults_are_filled_explicitly_and_normalising_is_idempotent(run):
    store, rid, _ = run
    req = jobs.normalize_request(store, {"run_id": rid, "what": "distances"})
    assert req == {
        "run_id": rid,
        "what": "distances",
        "branches": ["imp"],
        "levels": {"imp": [1, 2]},  # level 0 was not pruned from anything
        "norm": "prunable",
        "normalised": False,
    }
    assert jobs.normalize_request(store, req) == req
    spec = jobs.normalize_request(store, {"run_id": rid, "what": "spectrum", "branches": "all"})
    assert spec["k"] == 100 and spec["subset"] == 2048 and spec["seed"] == 0
    assert spec["points"] == ["solution", "projected_prev"]
    assert spec["levels"] == {
        "ft": [1, 2],
        "imp": [0, 1, 2],
        "one_shot": [2],
        "ripn": [2],
        "rpn1": [2],
        "rpn2": [2],
    }
    assert jobs.normalize_request(store, spec) == spec
    interp = jobs.normalize_request(store, {"run_id": rid, "what": "interpolation", "levels": "2"})
    assert interp["paths"] == [
        "imp:2:projected_prev->imp:2:solution",
        "imp:1:solution->imp:2:solution",
    ]
    assert jobs.normalize_request(store, interp) == interp
    # the same computation asked in other words is the same request
    other = {
        "run_id": rid,
        "what": "spectrum",
        "branches": ["imp"],
        "levels": [2, 1, 0],
        "k": "100",
        "points": "solution,projected_prev",
    }
    assert jobs.normalize_request(store, other) == jobs.normalize_request(
        store, {"run_id": rid, "what": "spectrum"}
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"what": "hessian"}, "what", "choose one of: distances, pruned_start"),
        ({"run_id": "no-such-run"}, "run_id", "no run 'no-such-run'"),
        ({"run_id": "../x"}, "run_id", "not allowed"),
        ({"k": 20}, "k", "does not apply to distances"),
        ({"kk": 20}, "kk", "unknown option"),
        ({"levels": [5]}, "levels", "branch imp has no level 5; it has: 0, 1, 2"),
        ({"levels": [0]}, "levels", "level 0 has no previous level"),
        ({"branches": "rpn3"}, "branches", "choose from: ft, imp, one_shot"),
        ({"normalised": "maybe"}, "normalised", "not true/false"),
        ({"norm": "l1"}, "norm", "choose one of: prunable, all"),
    ],
)
def test_bad_requests_name_the_field_and_the_choices(run, change, field, message):
    store, rid, _ = run
    with pytest.raises(SpecError, match=message) as e:
        jobs.normalize_request(store, {"run_id": rid, "what": "distances", **change})
    assert e.value.field_path == field


@pytest.mark.parametrize(
    ("request_", "field", "message"),
    [
        ({"what": "spectrum", "k": 0}, "k", r"out of range; it must lie in \[1, 100000\]"),
        ({"what": "spectrum", "points": "best"}, "points", "not a point"),
        ({"what": "spectrum", "points": "ep009", "levels": [1]}, "levels", "imp:1:ep009 is not"),
        ({"what": "spectrum", "backend": "eigsh"}, "backend", "lanczos, arpack, pyhessian"),
        ({"what": "landscape", "span": -1}, "span", "out of range"),
        ({"what": "interpolation", "paths": "imp:1->imp:9"}, "paths", "imp:9:solution is not"),
        ({"what": "interpolation", "paths": "imp:1"}, "paths", "write A->B"),
        ({"what": "interpolation", "paths": "imp:1->imp:2", "levels": [1]}, "paths", "not both"),
        ({"what": "interpolation", "n": 1}, "n", "out of range"),
    ],
)
def test_bad_options_of_other_analyses(run, request_, field, message):
    store, rid, _ = run
    with pytest.raises(SpecError, match=message) as e:
        jobs.normalize_request(store, {"run_id": rid, **request_})
    assert e.value.field_path == field


def test_a_repeated_request_is_answered_from_the_cache(fresh_run, counted):
    store, rid, _ = fresh_run
    req = {"run_id": rid, "what": "pruned_start", "branches": "imp,one_shot"}
    first = jobs.execute(store, req, "cpu", Recorder())
    assert counted == ["pruned_start"] * 6  # imp 1, 2 and one_shot 2, two points each
    assert (first["computed"], first["cached"]) == (6, 0)
    rep = Recorder()
    second = jobs.execute(store, req, "cpu", rep)
    assert counted == ["pruned_start"] * 6  # not one more call
    assert (second["computed"], second["cached"]) == (0, 6)
    assert [c["iteration"] for c in rep.calls] == [1, 2, 3, 4, 5, 6]
    assert rep.calls[-1]["fraction"] == 1.0 and rep.calls[0]["unit"] == "imp:1:projected_prev"
    # a partial result resumes: only the missing unit is computed again
    store.analysis_path(rid, "pruned_start", _keys(store, req)[2]).unlink()
    third = jobs.execute(store, req, "cpu")
    assert (third["computed"], third["cached"]) == (1, 5) and len(counted) == 7
    # other options are another computation
    jobs.execute(store, {"run_id": rid, "what": "interpolation", "levels": [1], "n": 3}, "cpu")
    jobs.execute(store, {"run_id": rid, "what": "interpolation", "levels": [1], "n": 3}, "cpu")
    assert counted.count("interpolation") == 2  # two paths, once each
    assert jobs.is_stored(store, {"run_id": rid, "what": "interpolation", "levels": [1], "n": 3})
    assert not jobs.is_stored(store, {"run_id": rid, "what": "interpolation", "levels": [1]})


def _keys(store, req):
    units, _ = jobs.plan(store, jobs.normalize_request(store, req))
    return [u.key(store, req["run_id"]) for u in units]


def test_a_changed_checkpoint_is_recomputed(fresh_run, counted):
    store, rid, _ = fresh_run
    req = {"run_id": rid, "what": "distances", "branches": "one_shot"}
    before = _keys(store, req)
    lv = store.level(rid, 2, "one_shot")
    path = lv.ckpt_dir / "final.pt"
    original = path.read_bytes()
    try:
        state = lv.load_checkpoint("final")
        lv.save_checkpoint("final", {k: 2 * v for k, v in state.items()}, iteration=0)
        assert _keys(store, req) != before
    finally:
        path.write_bytes(original)
    assert _keys(store, req) == before


def test_cancel_stops_between_units(fresh_run, counted):
    store, rid, _ = fresh_run
    req = {"run_id": rid, "what": "distances", "branches": "ft"}
    with pytest.raises(Cancelled):
        jobs.execute(store, req, "cpu", Recorder(cancel_after=1))
    assert counted == ["distances"]  # one unit done and stored, the second never started
    assert jobs.execute(store, req, "cpu")["cached"] == 1


def test_tables_have_the_agreed_columns_and_read_what_is_stored(fresh_run, tmp_path):
    from engine.store import Store

    store, rid, _ = fresh_run
    empty = Store(tmp_path / "empty")
    for name in [t.name for a in registry.all() for t in a.table_specs]:
        df = tables.table(name, empty, rid)
        assert df.empty and list(df.columns) == tables.columns(name)
    jobs.execute(store, {"run_id": rid, "what": "distances", "branches": "all"}, "cpu")
    df = tables.table("distances", store, rid)
    assert list(df.columns) == tables.columns("distances")
    assert set(df["branch"]) == {"imp", "ft", "one_shot", "ripn", "rpn1", "rpn2"}
    assert len(df) == 8 * (2 + 2 + 4)  # 8 rows per level: imp 1-2, ft 1-2, four baselines
    assert set(df["to"]) == {"projected_prev", "solution"}
    assert df["normalised"].dtype == bool
    jobs.execute(store, {"run_id": rid, "what": "interpolation", "levels": [2], "n": 3}, "cpu")
    interp, barrier = tables.table("interpolation", store, rid), tables.table("barrier", store, rid)
    assert len(interp[interp["path"].str.startswith("imp:2:projected_prev")]) == 3
    assert (barrier["barrier_train_loss"] >= 0).all() and (barrier["barrier_test_error"] >= 0).all()


@pytest.mark.parametrize("eval_set", ["train", "subset"])
def test_trajectory_pairs_the_same_iterations_of_two_levels(fresh_run, eval_set):
    store, rid, _ = fresh_run
    req = {"run_id": rid, "what": "trajectory", "levels": [2], "eval_set": eval_set}
    jobs.execute(store, req, "cpu")
    (rec,) = jobs.stored_results(store, req)
    assert rec["result"]["data"]["eval_set"] == eval_set
    df = tables.table("trajectory", store, rid)
    assert list(df.columns) == tables.columns("trajectory")
    wide = df.pivot_table(index="epoch", columns="series", values="train_loss")
    assert list(wide.index) == [3 / 8, 1.0, 2.0, 3.0]  # the rewind point, two epochs, the end
    # both levels start from the rewind point, so the two series meet there
    assert wide.loc[3 / 8, "level L"] == wide.loc[3 / 8, "level L-1 projected"]
    assert not pd.isna(wide).any().any()


def test_hessian_units_are_cached_per_point_and_match_a_direct_call(fresh_run, counted):
    from engine import masks as M
    from engine.analysis.hessian import data_subset, top_eigenvalues
    from engine.analysis.point import LossPoint
    from engine.data import load_dataset
    from engine.models import build_model

    store, rid, spec = fresh_run
    req = {"run_id": rid, "what": "spectrum", "levels": [2], "k": 3, "subset": 64, "seed": 5}
    jobs.execute(store, req, "cpu")
    jobs.execute(store, req, "cpu")
    assert counted == ["spectrum", "spectrum"]  # two points, each computed once
    spectra, volume = tables.table("spectra", store, rid), tables.table("volume", store, rid)
    assert list(volume.columns) == tables.columns("volume")
    assert set(volume["point"]) == {"solution", "projected_prev"} and set(volume["k"]) == {3}
    got = spectra[spectra["point"] == "projected_prev"].sort_values("rank")["eigenvalue"].tolist()
    assert got == sorted(got, reverse=True) and len(got) == 3
    # the same point and subset handed to the Hessian module directly give the same values
    data = load_dataset(spec.data.name, "data")
    x, y, idx = data_subset(data, size=64, seed=5)
    lv = store.level(rid, 2)
    state = M.project(store.level(rid, 1).load_checkpoint("final"), lv.load_mask())
    model = build_model(spec.model.name, data.in_shape, data.num_classes)
    direct = top_eigenvalues(LossPoint(model, state, lv.load_mask(), x, y), k=3, seed=5)
    assert got == pytest.approx(direct.eigenvalues, rel=1e-6)
    (rec,) = [r for r in jobs.stored_results(store, req) if r["unit"]["point"] == "projected_prev"]
    assert rec["result"]["data"]["indices"] == idx
    for what, extra in (("trace", {"samples": 3}), ("density", {"vectors": 1, "steps": 4})):
        jobs.execute(store, {"run_id": rid, "what": what, "levels": [1], "subset": 32, **extra})
    assert len(tables.table("trace", store, rid)) == 2
    density = tables.table("density", store, rid)
    assert list(density.columns) == tables.columns("density") and len(density) > 0
