"""The reproduction report: files for every figure family and every claim from three
replicated tiny runs, the seed aggregation in a figure's CSV, and the Report page."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from app import report as RP
from engine import claims as C
from engine import reproduce as R
from engine.jobs import JobQueue
from engine.presets import REPRODUCE
from engine.results import metrics_table
from engine.store import Store
from tests.app import apptest
from tests.engine.conftest import tiny_spec

FIGURES = (
    "fig1-train_loss",
    "fig1-test_acc",
    "fig1-acc-vs-sparsity",
    "fig2-test_acc",
    "fig2-train_loss",
    "fig3-distances",
    "fig4-trajectory",
    "fig5-spectra",
    "fig5-volume",
)
VERDICTS = {C.HOLDS, C.FAILS, C.UNSURE, C.NO_DATA}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Three seeds of a 2-level tiny experiment with every baseline and analysis, reported."""
    store = Store(tmp_path_factory.mktemp("report-store"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(REPRODUCE, "tiny", ("two levels on synthetic_tiny", tiny_spec()))
        ids = []
        for seed in (0, 1, 2):
            ids.append(
                R.reproduce(
                    store, {"experiment": "tiny", "seed": seed, "k": 3, "subset": 64}, "cpu"
                )["run_id"]
            )
    out = tmp_path_factory.mktemp("report")
    return store, ids, RP.build_report(store, ids, out)


@pytest.mark.slow
def test_report_writes_every_figure_and_claim(built):
    _, ids, rep = built
    assert list(rep.groups.values()) == [ids]  # replicates: specs differ only in seed
    assert {f.name for f in rep.figures} == set(FIGURES)
    for f in rep.figures:
        assert set(f.files) == {"png", "svg", "csv"}
        assert f.files["png"].read_bytes()[:4] == b"\x89PNG"
        assert f.files["svg"].read_text().lstrip().startswith("<svg")
        assert len(pd.read_csv(f.files["csv"])) > 0
    text = rep.markdown.read_text()
    claims = rep.claims_frame()
    assert set(claims["id"]) == {
        "C1-test_acc",
        "C1-train_loss",
        "C2",
        "C3-lambda_max",
        "C3-mean_top_k",
        "C3-log_volume",
    }
    assert set(claims["verdict"]) <= VERDICTS and C.NO_DATA not in set(claims["verdict"])
    for c in rep.claims:
        assert f"| {c.id} |" in text and c.criterion in text
        assert len(c.table) > 0
    c2 = next(c for c in rep.claims if c.id == "C2")
    assert sorted(c2.table["seed"].unique()) == [0, 1, 2] and len(c2.table) == 6  # 3 seeds x 2


def test_figure_csv_is_the_mean_and_range_over_seeds(built):
    store, ids, rep = built
    csv = pd.read_csv(rep.out_dir / "fig1-train_loss.csv")
    metrics = pd.concat([metrics_table(store, r) for r in ids])
    cell = metrics[(metrics["branch"] == "imp") & (metrics["level"] == 1) & (metrics["epoch"] == 2)]
    values = cell["train_loss"].to_numpy()
    assert len(values) == 3
    row = csv[(csv["level"] == 1) & (csv["epoch"] == 2)].iloc[0]
    assert row["n"] == 3
    assert row["mean"] == pytest.approx(sum(values) / 3)
    assert row["low"] == pytest.approx(min(values)) and row["high"] == pytest.approx(max(values))
    var = sum((v - sum(values) / 3) ** 2 for v in values) / 2
    assert row["sd"] == pytest.approx(math.sqrt(var))


def _open(store_root, monkeypatch, **query):
    monkeypatch.setenv("IMP_LAB_STORE", str(store_root))
    monkeypatch.setenv("IMP_LAB_EMBEDDED_WORKER", "0")
    at = apptest.run(apptest.session("report", timeout=180, **query))
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_report_page_builds_the_report_of_the_chosen_runs(built, monkeypatch):
    store, ids, _ = built
    at = _open(store.root, monkeypatch, runs=ids)
    assert at.multiselect(key="runs").value == ids
    next(b for b in at.button if b.label == "Build report").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    claims = at.dataframe[0].value
    assert set(claims["verdict"]) <= VERDICTS and "C2" in set(claims["id"])
    assert len(at.get("image")) == len(FIGURES)


def test_reproduce_button_queues_one_job_per_seed(tmp_path, monkeypatch):
    at = _open(tmp_path / "store", monkeypatch)
    at.text_input(key="rp_seeds").set_value("3,4")
    next(b for b in at.button if b.label == "Reproduce").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    jobs = JobQueue(tmp_path / "store").list()
    assert sorted(j.payload["seed"] for j in jobs) == [3, 4]
    name = jobs[0].payload["experiment"]
    assert {j.kind for j in jobs} == {"reproduce"} and name in REPRODUCE
    assert {j.run_id for j in jobs} == set(R.run_ids(name, (3, 4)))
