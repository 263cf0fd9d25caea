"""The reproduce job and CLI: one seed of a tiny experiment is trained and analysed, a second
request computes nothing, jobs dedup, and `report` renders from the store."""

from __future__ import annotations

import pytest

from engine import reproduce as R
from engine.analysis.jobs import stored_results
from engine.cli import main
from engine.config import SpecError
from engine.jobs.queue import JobQueue
from engine.presets import REPRODUCE
from engine.store import Store
from tests.engine.conftest import tiny_spec

TINY = tiny_spec().replace(baselines=tiny_spec().baselines.replace(kinds=("one_shot", "rpn1")))


@pytest.fixture(scope="module")
def tiny_experiment():
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(REPRODUCE, "tiny", ("two levels on synthetic_tiny", TINY))
        mp.setitem(R.HESSIAN_DEFAULTS, "tiny", {"k": 3, "subset": 64})
        yield "tiny"


@pytest.fixture(scope="module")
def reproduced(tiny_experiment, tmp_path_factory):
    root = tmp_path_factory.mktemp("repro-store")
    rc = main(["reproduce", "tiny", "--seeds", "0", "--store", str(root), "--device", "cpu"])
    assert rc == 0
    return Store(root)


def test_reproduce_trains_and_runs_every_figure_analysis(reproduced):
    store = reproduced
    run_id = R.run_ids("tiny", (0,))[0]
    assert run_id == TINY.replace(seed=0).run_id  # the preset's run id, whatever the data root
    assert R.is_reproduced(store, {"experiment": "tiny", "seed": 0})
    requests = R.analysis_requests(store, run_id, 3, 64)
    assert [r["what"] for r in requests] == [
        "distances",
        "trajectory",
        "pruned_start",
        "spectrum",
        "loss_matched",
        "interpolation",
        "instability",
        "spectrum",
    ]
    imp_spectra = stored_results(store, requests[3])
    points = {(r["unit"]["level"], r["unit"]["point"]) for r in imp_spectra}
    assert points == {(0, "solution"), (1, "solution"), (1, "projected_prev")} | {
        (2, "solution"),
        (2, "projected_prev"),
    }
    assert all(r["options"]["k"] == 3 and r["options"]["subset"] == 64 for r in imp_spectra)
    base = stored_results(store, requests[7])
    assert {(r["unit"]["branch"], r["unit"]["level"]) for r in base} == {
        ("one_shot", 2),
        ("rpn1", 2),
    }
    matched = stored_results(store, requests[4])
    assert [r["unit"]["level"] for r in matched] == [1, 2] and matched[0]["options"]["k"] == 3
    paths = {r["unit"]["path"] for r in stored_results(store, requests[5])}
    assert {"imp:0:solution->imp:1:solution", "imp:1:solution->imp:2:solution"} <= paths
    assert [r["unit"]["level"] for r in stored_results(store, requests[6])] == [0, 1, 2]
    # everything is cached: asking again trains and computes nothing
    again = R.reproduce(store, {"experiment": "tiny", "seed": 0}, "cpu")
    assert all(a["computed"] == 0 and a["cached"] == a["units"] for a in again["analyses"])


def test_reproduce_jobs_validate_and_dedup(tiny_experiment, tmp_path):
    queue = JobQueue(tmp_path)
    job = queue.submit("reproduce", {"experiment": "tiny", "seed": 2})
    assert job.payload == {"experiment": "tiny", "seed": 2, "k": 3, "subset": 64}
    assert job.run_id == TINY.replace(seed=2).run_id
    assert queue.submit("reproduce", {"experiment": "tiny", "seed": 2, "k": 3}).id == job.id
    assert queue.submit("reproduce", {"experiment": "tiny", "seed": 2, "k": 4}).id != job.id
    for bad, name in (
        ({"experiment": "nope"}, "experiment"),
        ({"experiment": "tiny", "seed": -1}, "seed"),
        ({"experiment": "tiny", "k": 0}, "k"),
        ({"experiment": "tiny", "colour": 1}, "colour"),
    ):
        with pytest.raises(SpecError) as e:
            queue.submit("reproduce", bad)
        assert e.value.field_path == name
    queue.close()


def test_parse_seeds():
    assert R.parse_seeds("2, 0,2") == (2, 0)
    with pytest.raises(SpecError):
        R.parse_seeds("0,x")
    with pytest.raises(SpecError):
        R.parse_seeds(" , ")


@pytest.mark.slow
def test_report_command_writes_every_figure_and_claim(reproduced, tmp_path, capsys):
    out = tmp_path / "report"
    args = ["report", "--experiment", "tiny", "--seeds", "0", "--store", str(reproduced.root)]
    assert main([*args, "--out", str(out)]) == 0
    for fig in ("fig1-train_loss", "fig2-test_acc", "fig3-distances", "fig4-trajectory"):
        for ext in ("png", "svg", "csv"):
            assert (out / f"{fig}.{ext}").stat().st_size > 0
    text = (out / "report.md").read_text()
    # one seed: no test is possible, so no claim can hold or fail
    for cid in ("C1-test_acc-", "C1-train_loss-", "C2 ", "C3-lambda_max ", "C3-log_volume "):
        assert f"| {cid}" in text  # C1 has one claim per baseline
    assert "**holds**" not in text and "**does not hold**" not in text
    assert main(["report", "nope", "--store", str(reproduced.root), "--out", str(out)]) == 2
    assert "nope" in capsys.readouterr().err


def test_reproduce_prints_the_planned_work_before_queueing(tiny_experiment, tmp_path, capsys):
    args = ["reproduce", "tiny", "--seeds", "0,1", "--store", str(tmp_path)]
    assert main([*args, "--plan"]) == 0
    out = capsys.readouterr().out
    assert "per seed: 5 trainings (3 IMP levels and the baselines: one_shot, rpn1)" in out
    assert "4 instability copies" in out and "GPU hours per seed" in out  # + level 0 copy A
    assert JobQueue(tmp_path).list() == []  # --plan queues and trains nothing
    assert main([*args, "--submit"]) == 0
    out = capsys.readouterr().out
    assert out.index("GPU hours") < out.index("job ")  # the plan comes first
    assert sorted(j.payload["seed"] for j in JobQueue(tmp_path).list()) == [0, 1]


def test_default_seeds_and_smoke_payloads(tiny_experiment, tmp_path):
    assert R.default_seeds("lenet-mnist5k") == (0, 1, 2, 3, 4) == R.default_seeds("conv2-mnist5k")
    assert R.default_seeds("tiny") == (0, 1, 2)
    assert R.HESSIAN_DEFAULTS["lenet-mnist5k"]["k"] == 100
    smoke = R.normalize_payload({"experiment": "paper-resnet20-cifar10", "smoke": True})
    assert smoke == {"experiment": "paper-resnet20-cifar10", "seed": 0, "smoke": True,
                     "k": 2, "subset": 16}  # fmt: skip
    plain = R.normalize_payload({"experiment": "paper-resnet20-cifar10", "smoke": False})
    assert "smoke" not in plain and plain["k"] == 100  # the job key of an ordinary payload
    with pytest.raises(SpecError, match="true/false"):
        R.normalize_payload({"experiment": "tiny", "smoke": "yes please"})
    spec = R.experiment_spec("paper-vgg16-cifar10", 3, smoke=True)
    paper = R.experiment_spec("paper-vgg16-cifar10", 3)
    assert (spec.model, spec.train.optimizer) == (paper.model, "sgd")
    assert spec.data.name == "synthetic_cifar10_small" and spec.prune.levels == 1
    assert spec.baselines == paper.baselines and spec.run_id != paper.run_id
