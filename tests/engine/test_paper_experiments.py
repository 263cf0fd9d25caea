"""The paper-scale experiments on a CPU: one short level of each on synthetic CIFAR-shaped
data (`reproduce --smoke`) runs the whole pipeline; BatchNorm is recalibrated where it must be."""

from __future__ import annotations

import pytest

from engine import reproduce as R
from engine.analysis import jobs, tables
from engine.imp import run_imp
from engine.store import Store


@pytest.mark.slow
def test_resnet20_smoke_runs_every_training_and_analysis(tmp_path):
    store = Store(tmp_path)
    payload = {"experiment": "paper-resnet20-cifar10", "seed": 0, "smoke": True}
    result = R.reproduce(store, payload, "cpu")
    run_id = result["run_id"]
    spec = store.load_spec(run_id)
    assert (spec.model.name, spec.data.name) == ("resnet20", "synthetic_cifar10_small")
    assert R.is_reproduced(store, payload)
    done = {a["what"] for a in result["analyses"] if a["units"] > 0}
    assert done == {"distances", "trajectory", "pruned_start", "spectrum", "loss_matched",
                    "interpolation", "instability"}  # fmt: skip
    bn = tables.table("batchnorm", store, run_id)
    assert bn["model_has_batchnorm"].all()
    imp = bn[bn["branch"] == "imp"].set_index(["level", "point"])["recalibrated"]
    assert imp[(1, "projected_prev")] and not imp[(1, "solution")]
    assert list(tables.table("instability", store, run_id)["level"]) == [0, 1]


@pytest.mark.slow
def test_vgg16_smoke_trains_a_level_and_takes_a_spectrum_at_its_projected_point(tmp_path):
    store = Store(tmp_path)
    spec = R.experiment_spec("paper-vgg16-cifar10", 0, smoke=True)
    spec = spec.replace(baselines=spec.baselines.replace(kinds=()))  # the levels suffice here
    run_imp(spec, store, "cpu")
    req = {"run_id": spec.run_id, "what": "spectrum", "levels": "1", "k": 1, "subset": 8}
    req |= {"points": "projected_prev", "bn_subset": 16}
    jobs.execute(store, req, "cpu")
    (rec,) = jobs.stored_results(store, req)
    assert rec["batchnorm"]["recalibrated"] == ["imp:1:projected_prev"]
    assert len(rec["result"]["eigenvalues"]) == 1 and rec["result"]["loss"] > 0
