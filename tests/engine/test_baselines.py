"""Baselines are registered plugins and `plan(spec)` is every training a run does: a throwaway
baseline registered here reaches the plan, the spec's validation and the CLI; the runner
trains exactly the plan (starts, lengths, stored levels); the limits and the estimate count it."""

from __future__ import annotations

import argparse
import pkgutil

import pandas as pd
import pytest

import engine.baselines as registry
from engine.baselines import Baseline, Training, get, method_labels, register
from engine.claims import claim_c1, claims_frame, judge
from engine.config import BASELINES, BaselineSpec, SpecError
from engine.data import load_dataset
from engine.data.batches import num_batches
from engine.figures import palette
from engine.figures.chartkit import with_method
from engine.imp import run_imp
from engine.limits import epoch_levels
from engine.plan import plan
from engine.run_index import rebuild
from engine.run_progress import planned_levels
from engine.store import Store
from tests.engine.conftest import tiny_spec


class Twin(Baseline):
    """IMP-WR's level again: its mask, from the rewind point. Trained by the runner like any
    baseline, it must give exactly IMP's results at that level."""

    name, label = "twin", "IMP-WR again"
    help = "IMP's mask and rewind point again (a test plugin)."

    def trainings(self, spec):
        return [self.at_level(spec, spec.baseline_level, False, "rewind point", "IMP's mask")]

    def mask(self, ctx, t, names, rates):
        return ctx.level(t.level).load_mask()

    def weights(self, ctx, t):
        return ctx.rewind()


@pytest.fixture
def twin():
    register(Twin)
    try:
        yield Twin
    finally:
        del registry.BASELINES[Twin.name]


def test_every_module_of_the_package_registers_its_baseline():
    modules = {m.name for m in pkgutil.iter_modules(registry.__path__)} - {"base"}
    by_module = {
        cls.__module__.rsplit(".", 1)[-1]: name for name, cls in registry.BASELINES.items()
    }
    assert set(by_module) == modules  # nothing to import by hand: each file is found
    assert set(BASELINES) <= set(registry.baseline_names())  # the paper's five are among them
    for name in registry.baseline_names():
        assert get(name).name == name and get(name).help and get(name).label


def test_a_baseline_is_registered_once(twin):
    with pytest.raises(ValueError, match="'twin' is registered twice"):
        register(twin)
    with pytest.raises(ValueError, match=r"unknown baseline 'nope'; choose one of: .*ft"):
        get("nope")
    unnamed = type("Unnamed", (Twin,), {"name": "unnamed", "label": ""})
    with pytest.raises(ValueError, match=r"^baseline Unnamed sets no label$"):
        register(unnamed)
    assert "unnamed" not in registry.BASELINES


def test_a_registered_baseline_reaches_the_plan_the_spec_and_the_cli(twin):
    from engine.cli.specargs import add_spec_arguments

    spec = tiny_spec().replace(baselines=BaselineSpec(kinds=("rpn1", "twin"), level=1))
    assert [(t.branch, t.level) for t in plan(spec)][-2:] == [("rpn1", 1), ("twin", 1)]
    assert "twin" in BaselineSpec.__dataclass_fields__["kinds"].metadata["choices"]
    parser = argparse.ArgumentParser()
    add_spec_arguments(parser)
    assert "twin" in " ".join(parser.format_help().split())
    with pytest.raises(SpecError, match=r"^baselines.kinds: 'twins' is not allowed.*twin"):
        BaselineSpec(kinds=("twins",))


def test_a_registered_baseline_is_shown_by_its_label(twin):
    """Claims, charts and tables name a baseline by the label its plugin gives (IMP-WR keeps
    its own), not by its branch name, and a new one needs no table to be edited."""
    assert method_labels()["imp"] == "IMP-WR" and method_labels()["twin"] == "IMP-WR again"
    spec = tiny_spec().replace(baselines=BaselineSpec(kinds=("twin",), level=1))
    rows = [
        {"group": "g", "branch": b, "level": 1, "seed": s, "test_acc": a, "train_loss": 1 - a}
        for s in range(3)
        for b, a in (("imp", 0.9 + s / 100), ("twin", 0.8 + s / 50))
    ]
    table = claims_frame(judge(claim_c1(pd.DataFrame(rows), "g", spec, {})))
    assert list(table["id"]) == ["C1-test_acc-twin", "C1-train_loss-twin"]
    assert all("than IMP-WR again's" in s for s in table["statement"])
    assert palette.point_series("twin", "solution") == "IMP-WR again"
    assert palette.point_series("twin", "start") == "IMP-WR again · start_L"
    methods = with_method(pd.DataFrame({"branch": ["imp", "twin", "other"]}))["method"]
    assert list(methods) == ["IMP-WR", "IMP-WR again", "other"]


def test_without_the_plugin_its_name_is_refused():
    with pytest.raises(SpecError, match=r"^baselines.kinds: 'twin' is not allowed"):
        BaselineSpec(kinds=("twin",))


def test_the_plan_of_the_tiny_spec_by_hand():
    spec = tiny_spec()  # 2 levels of 3ep, rewind 3it, all five baselines at level 2
    got = [(t.branch, t.level, str(t.start), t.units) for t in plan(spec)]
    rewound, whole = ("3it", 3), ("0it", 3)  # a rewind in iterations: an upper bound of 3ep
    assert got == [
        ("imp", 0, *whole),
        ("imp", 1, *rewound),
        ("imp", 2, *rewound),
        ("one_shot", 2, *rewound),
        ("ft", 1, *rewound),
        ("ft", 2, *rewound),
        ("ripn", 2, *whole),
        ("rpn1", 2, *rewound),
        ("rpn2", 2, *whole),
    ]
    two = spec.replace(
        train=spec.train.replace(length="8ep"), prune=spec.prune.replace(rewind="2ep")
    )
    assert [t.units for t in plan(two)] == [8, 6, 6, 6, 6, 6, 8, 6, 8]


def _per_epoch(spec) -> int:
    data = load_dataset(spec.data.name, spec.data.root)
    return num_batches(len(data.train_x), spec.train.batch_size, drop_last=False)


def test_the_runner_trains_exactly_the_plan(tiny_run):
    store, spec, _ = tiny_run
    rid, ipe = spec.run_id, _per_epoch(spec)
    planned = plan(spec)
    stored = {(b, lv) for b in store.branches(rid) for lv in store.levels(rid, b)}
    assert stored == {(t.branch, t.level) for t in planned}
    for t in planned:
        lv = store.level(rid, t.level, t.branch)
        start = lv.checkpoint_meta("start")["iteration"]
        assert start == t.start.iterations(ipe)
        assert lv.summary()["iterations"] - start == t.iterations(ipe)


def test_a_plugin_is_trained_as_imp_is_and_finishes_the_run(tmp_path, twin):
    spec = tiny_spec().replace(baselines=BaselineSpec(kinds=("twin",)))
    store = Store(tmp_path)
    summaries = run_imp(spec, store, "cpu")
    assert [(s["branch"], s["level"]) for s in summaries][-1] == ("twin", 2)
    rid = spec.run_id
    imp, again = store.level(rid, 2), store.level(rid, 2, "twin")
    drop = lambda rows: [{k: v for k, v in r.items() if "second" not in k} for r in rows]  # noqa: E731
    assert drop(again.read_metrics()) == drop(imp.read_metrics())
    assert rebuild(store, rid, {"status": "running"})["status"] == "done"
    assert planned_levels(spec)[-1] == ("twin", 2)  # the run's progress counts it too


def test_the_limits_count_every_planned_training(twin):
    spec = tiny_spec().replace(train=tiny_spec().train.replace(length="8ep"))
    for kinds in ((), ("ft",), (*BASELINES, "twin")):
        s = spec.replace(baselines=BaselineSpec(kinds=kinds))
        assert epoch_levels(s) == 8 * len(plan(s))
    assert epoch_levels(spec.replace(baselines=BaselineSpec(kinds=("twin",)))) == 8 * (3 + 1)
    assert epoch_levels(spec.replace(train=spec.train.replace(length="80it"))) is None


def test_a_training_counts_its_length_from_its_start():
    from engine.steps import Step

    t = Training("x", 1, Step(2, "ep"), Step(8, "ep"), "", "")
    assert (t.units, t.unit, t.iterations(10)) == (6, "epochs", 60)
    mixed = Training("x", 1, Step(5, "it"), Step(8, "ep"), "", "")
    assert (mixed.units, mixed.iterations(10)) == (8, 75)  # units: the whole recipe, at most
