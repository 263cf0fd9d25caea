"""The reproduction report: files for every figure family from three replicated tiny runs,
seed aggregation checked by hand, and each verdict rule on hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from app import report as RP
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
VERDICTS = {RP.HOLDS, RP.FAILS, RP.UNSURE, RP.NO_DATA}


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
    assert set(claims["verdict"]) <= VERDICTS and RP.NO_DATA not in set(claims["verdict"])
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


def test_aggregate_by_hand():
    df = pd.DataFrame({"level": [1, 1, 1, 2], "x": [1.0, 2.0, 6.0, 5.0]})
    out = RP.aggregate(df, ["level"], "x").set_index("level")
    assert out.loc[1, "n"] == 3 and out.loc[1, "mean"] == 3.0
    assert out.loc[1, "sd"] == pytest.approx(math.sqrt(7))  # deviations -2, -1, 3 over n-1 = 2
    assert (out.loc[1, "low"], out.loc[1, "high"]) == (1.0, 6.0)
    assert out.loc[2, "n"] == 1 and math.isnan(out.loc[2, "sd"])


def test_paired_stats_against_closed_forms():
    s = RP.paired_stats(np.array([1.0, 2.0, 3.0]))
    t = 2.0 / (1.0 / math.sqrt(3))  # mean 2, sd 1
    assert s["t_p"] == pytest.approx(0.5 * (1 - t / math.sqrt(t * t + 2)))  # Student t, 2 df
    assert s["sign_p"] == pytest.approx(1 / 8) and (s["wins"], s["losses"]) == (3, 0)
    assert RP.count_verdict(6, 0) == (RP.HOLDS, pytest.approx(1 / 64), 1.0)


def _summary(imp: list[float], others: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"group": "g", "level": 2, "seed": s, "branch": b, "test_acc": v, "train_loss": 1 - v}
        for b, vals in {"imp": imp, **others}.items()
        for s, v in enumerate(vals)
    ]
    return pd.DataFrame(rows)


def _c1(summary: pd.DataFrame) -> str:
    return RP.claim_c1(summary, {"g": 2})[0].verdict  # the test-accuracy claim


def test_c1_verdicts():
    imp = [0.90, 0.91, 0.92]
    base = ("one_shot", "ft", "ripn", "rpn1", "rpn2")
    holds = _summary(imp, {b: [0.80, 0.805, 0.81] for b in base})
    assert _c1(holds) == RP.HOLDS
    # one baseline clearly better (mean 0.05 over a spread of 0.005): does not hold
    fails = _summary(imp, {**{b: [0.80, 0.805, 0.81] for b in base}, "ft": [0.95, 0.955, 0.97]})
    assert _c1(fails) == RP.FAILS
    # IMP better on the mean but the seeds disagree: inconclusive
    mixed = _summary(imp, {b: [0.95, 0.80, 0.80] for b in base})
    assert _c1(mixed) == RP.UNSURE
    # one seed: nothing can be tested
    assert _c1(_summary(imp[:1], {b: [0.5] for b in base})) == RP.UNSURE
    assert _c1(pd.DataFrame()) == RP.NO_DATA


def _distances(pairs: list[tuple[float, float]]) -> pd.DataFrame:
    rows = []
    for i, (to_sol, to_prev) in enumerate(pairs):
        for to, d in (("solution", to_sol), ("projected_prev", to_prev)):
            base = {"group": "g", "branch": "imp", "norm": "prunable", "normalised": False}
            rows.append(base | {"seed": i // 2, "level": 1 + i % 2, "to": to, "distance": d})
    return pd.DataFrame(rows)


def test_c2_verdicts():
    assert RP.claim_c2(_distances([(1.0, 2.0)] * 6), ["g"])[0].verdict == RP.HOLDS
    assert RP.claim_c2(_distances([(2.0, 1.0)] * 6), ["g"])[0].verdict == RP.FAILS
    half = [(1.0, 2.0)] * 3 + [(2.0, 1.0)] * 3
    assert RP.claim_c2(_distances(half), ["g"])[0].verdict == RP.UNSURE
    assert RP.claim_c2(pd.DataFrame(), ["g"])[0].verdict == RP.NO_DATA


def test_c3_compares_the_same_ranks_at_both_points():
    rows, vol = [], []
    for seed in range(3):
        for level in (1, 2):
            # min_L: 3 eigenvalues stored, Pr_L: only 2; the mean covers ranks 1-2 at both
            for point, eig, lv in (
                ("solution", [5.0, 3.0, 0.1], -1.0),
                ("projected_prev", [6.0, 1.5], -2.0),
            ):
                key = {"group": "g", "branch": "imp", "seed": seed, "level": level, "point": point}
                rows += [key | {"rank": r + 1, "eigenvalue": e} for r, e in enumerate(eig)]
                vol.append(key | {"log_volume": lv})
    claims = {c.id: c for c in RP.claim_c3(pd.DataFrame(rows), pd.DataFrame(vol), ["g"])}
    assert claims["C3-lambda_max"].verdict == RP.HOLDS  # 5 < 6 in all 6 pairs
    # ranks 1-2: (5+3)/2 = 4 > (6+1.5)/2 = 3.75 (all three ranks at min_L would give 2.7)
    assert claims["C3-mean_top_k"].verdict == RP.FAILS
    assert claims["C3-mean_top_k"].table["mean_top_k_min_L"].iloc[0] == 4.0
    assert claims["C3-log_volume"].verdict == RP.HOLDS  # -1 > -2


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
