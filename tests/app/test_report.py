"""The reproduction report: files for every figure family and every claim from three
replicated tiny runs, the seed aggregation in a figure's CSV, each claim stated per level with
its figure, and the Report page."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from engine import claims as C
from engine import reproduce as R
from engine.claim_model import RULES
from engine.config import BASELINES
from engine.figures import report as RP
from engine.figures.claim_charts import effect_chart
from engine.figures.export import spec_dict
from engine.jobs.queue import JobQueue
from engine.jobs.worker import run_worker
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
    "layer-sparsity",
    "fig5-volume-vs-loss",
    "instability",
    "barriers-levels",
)
CLAIM_FIGURES = tuple(
    f"claim-{f}-0"
    for f in (
        "C1-test_acc",
        "C1-train_loss",
        "C2",
        "C3-log_volume",
        "C3-lambda_max",
        "C3-mean_top_k",
        "C3-loss-matched",
        "C3-descent",
        "C4",
    )
)
VERDICTS = {C.HOLDS, C.FAILS, C.UNSURE, C.NO_DATA, C.MIXED, C.SUPPORTING}


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
    assert {f.name for f in rep.figures} == set(FIGURES + CLAIM_FIGURES)
    for f in rep.figures:
        assert set(f.files) == {"png", "svg", "csv"}
        assert f.files["png"].read_bytes()[:4] == b"\x89PNG"
        assert f.files["svg"].read_text().lstrip().startswith("<svg")
        assert len(pd.read_csv(f.files["csv"])) > 0
    text = rep.markdown.read_text()
    claims = rep.claims_frame()
    c1 = {f"C1-{m}-{b}" for m in ("test_acc", "train_loss") for b in BASELINES}
    controls = {"C3-loss-matched", "C3-descent", "C4"}
    c3 = {"C3-log_volume", "C3-lambda_max", "C3-mean_top_k"}
    assert set(claims["id"]) == c1 | {"C2"} | c3 | controls
    assert set(claims["verdict"]) <= VERDICTS and C.NO_DATA not in set(claims["verdict"])
    assert text.count(RULES) == 1
    for i, c in enumerate(rep.claims):
        assert f"| {c.id} |" in text and c.effect in text and f"- Per level: {c.where}" in text
        assert len(c.table) > 0
        levels = pd.read_csv(rep.out_dir / "claims" / f"{c.id}-{i}-levels.csv")
        assert list(levels["level"]) == sorted(c.table["level"].unique())
    c2 = next(c for c in rep.claims if c.id == "C2")
    assert sorted(c2.table["seed"].unique()) == [0, 1, 2] and len(c2.table) == 6  # 3 seeds x 2
    ft = next(c for c in rep.claims if c.id == "C1-test_acc-ft")
    one_shot = next(c for c in rep.claims if c.id == "C1-test_acc-one_shot")
    assert list(ft.levels["level"]) == [1, 2] and list(one_shot.levels["level"]) == [2]
    assert "Training budget: FT's level-L weights continue a chain" in text
    tested = [c for c in rep.claims if c.tested]
    assert {c.family for c in tested} == {2 * len(tested)}  # one Holm family per report


@pytest.mark.slow
def test_claim_figure_csv_is_each_levels_mean_and_t_interval(built):
    """The C2 figure's rows, recomputed by hand from the seeds' distances."""
    _, _, rep = built
    c2 = next(c for c in rep.claims if c.id == "C2")
    csv = pd.read_csv(rep.out_dir / "claim-C2-0.csv")
    for level, g in c2.table.groupby("level"):
        d = (g["to_projected_prev"] - g["to_min_L"]).to_numpy()
        mean = sum(d) / 3
        sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
        row = csv[csv["level"] == level].iloc[0]
        assert row["n"] == 3 and row["mean"] == pytest.approx(mean)
        half = 4.302652729911275 * sd / math.sqrt(3)  # Student t 0.975, 2 df
        assert (row["t_low"], row["t_high"]) == pytest.approx((mean - half, mean + half))
        assert (row["sign_low"], row["sign_high"]) == pytest.approx((min(d), max(d)))


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


def test_report_page_queues_the_report_job_and_shows_what_it_stored(built, monkeypatch):
    store, ids, _ = built
    at = _open(store.root, monkeypatch, runs=ids)
    assert at.multiselect(key="runs").value == ids
    assert not at.get("image") and "No report of these runs yet" in at.info[0].value
    next(b for b in at.button if b.label == "Build report").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    jobs = [j for j in JobQueue(store.root).list() if j.kind == "report"]
    assert [j.payload["runs"] for j in jobs] == [ids] and jobs[0].status == "queued"
    assert [i.value for i in at.info if "report" in i.value.lower()] == [
        f"Report job `{jobs[0].id}` is queued; the report appears here when it is done."
    ]  # the wait alone, not also "no report yet: build one"
    assert run_worker(store.root, "cpu", max_jobs=1, worker_id="w1") == 1  # the worker builds
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    claims = at.dataframe[0].value
    assert set(claims["verdict"]) <= VERDICTS and "C2" in set(claims["id"])
    assert len(at.get("image")) == len(FIGURES) + len(CLAIM_FIGURES)
    assert not at.warning  # built from the results stored now
    assert any("BatchNorm at the spectra" in m.value for m in at.markdown)  # controls
    next(b for b in at.button if b.label == "Build report").click()
    at.run()  # the same results: the done job, nothing queued again
    assert "already built" in at.toast[0].value
    assert [j.status for j in JobQueue(store.root).list() if j.kind == "report"] == ["done"]


def test_reproduce_button_queues_one_job_per_seed(tmp_path, monkeypatch):
    at = _open(tmp_path / "store", monkeypatch)
    first = next(iter(REPRODUCE))  # the experiment the page opens with
    box = at.text_input(key=f"rp_seeds_{first}")
    assert box.value == ",".join(map(str, R.default_seeds(first)))  # the CLI's default seeds
    box.set_value("3,4")
    next(b for b in at.button if b.label == "Reproduce").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    jobs = JobQueue(tmp_path / "store").list()
    assert sorted(j.payload["seed"] for j in jobs) == [3, 4]
    name = jobs[0].payload["experiment"]
    assert {j.kind for j in jobs} == {"reproduce"} and name in REPRODUCE
    assert {j.run_id for j in jobs} == set(R.run_ids(name, (3, 4)))


def test_effect_chart_orders_levels_and_carries_its_rows():
    """Levels sorted as numbers (10 after 2), labelled with sparsity; each series dodged; the
    exported spec holds the means, intervals and seeds' dots it draws."""
    levels = pd.DataFrame(
        {
            "series": ["FT", "FT", "RIPN"],
            "level": [2, 10, 10],
            "at": ["2 · 36%", "10 · 89%", "10 · 89%"],
            "sparsity": [0.36, 0.89, 0.89],
            "n": [3, 3, 3],
            "mean": [0.1, -0.2, 0.3],
            "t_low": [0.0, -0.3, 0.1],
            "t_high": [0.2, -0.1, 0.5],
            "mark": ["unclear", "reverses", "holds"],
            "sign_low": [0.0, -0.3, 0.1],
            "sign_high": [0.2, -0.1, 0.5],
            "sign_confidence": [0.75] * 3,
        }
    )
    seeds = pd.DataFrame(
        {"series": ["FT"] * 3, "seed": [0, 1, 2], "level": [2] * 3, "at": ["2 · 36%"] * 3}
    ).assign(effect=[0.05, 0.1, 0.15])
    spec = spec_dict(effect_chart(levels, seeds, "t", "test accuracy, IMP-WR − baseline"))
    zero, bars, dots, means = spec["layer"]

    def rows(layer: dict) -> list[dict]:  # Altair gathers inline data into named datasets
        return spec["datasets"][layer["data"]["name"]]

    assert means["encoding"]["x"]["sort"] == ["2 · 36%", "10 · 89%"]
    assert means["encoding"]["xOffset"]["field"] == "series"
    assert [r["mean"] for r in rows(means)] == [0.1, -0.2, 0.3]
    assert bars["encoding"]["y"]["field"] == "t_low" and bars["encoding"]["y2"]["field"] == "t_high"
    assert [r["effect"] for r in rows(dots)] == [0.05, 0.1, 0.15]
    assert rows(zero) == [{"zero": 0.0}]
    # one series: nothing to dodge
    one = spec_dict(effect_chart(levels[levels["series"] == "FT"], seeds, "t", "e"))
    assert "xOffset" not in one["layer"][3]["encoding"]
