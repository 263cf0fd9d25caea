"""Comparison: smoothing as TensorBoard does it, groups drawn like runs with their n and band,
the runs table with differing fields and outcomes, its filter language, per-level quantities
against sparsity, and the controls kept in the URL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app import compare
from engine.annotations import Annotations
from engine.figures import curves, export, per_level, sparsity_charts
from tests.app import tables as T
from tests.app.test_charts import RUN_A, RUN_B
from tests.app.test_pages import charts, open_app


def tensorboard_ema(values, weight):
    """TensorBoard's smoothing, written out as its frontend does it (debiased EMA)."""
    last, out = 0.0, []
    for i, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**i))
    return out


def test_smoothing_is_tensorboards_debiased_ema_per_series_with_the_raw_kept():
    m = T.metrics(levels=1, epochs=6)
    imp = m[m["branch"] == "imp"].sample(frac=1, random_state=0)  # order must not matter
    out = curves.smooth(imp, "train_loss", 0.6, ["run_id", "branch", "level"], "epoch")
    for _, rows in out.groupby("level"):
        rows = rows.sort_values("epoch")
        assert rows["train_loss"].tolist() == pytest.approx(
            tensorboard_ema(rows["train_loss_raw"].tolist(), 0.6)
        )
        assert rows["train_loss"].iloc[0] == rows["train_loss_raw"].iloc[0]  # debiased start
    assert curves.smooth(imp, "train_loss", 0.0, ["run_id"], "epoch") is imp


def test_grouping_averages_runs_into_labelled_groups_with_a_band():
    a, b = T.summary(RUN_A), T.summary(RUN_B)
    b = b.assign(test_acc=b["test_acc"] + 0.02)
    specs = {RUN_A: {"seed": 0, "lr": 0.1}, RUN_B: {"seed": 1, "lr": 0.1}}
    keys = ["branch", "level", "sparsity"]
    out = curves.grouped(pd.concat([a, b]), specs, (), keys, "test_acc", "minmax")
    assert set(out["run"]) == {"all runs (n=2)"}
    row = out[(out["branch"] == "imp") & (out["level"] == 1)].iloc[0]
    both = [a[(a.branch == "imp") & (a.level == 1)].test_acc.iloc[0], row["band_high"]]
    assert row["test_acc"] == pytest.approx(np.mean(both))
    assert row["band_high"] - row["band_low"] == pytest.approx(0.02)
    spec = export.spec_dict(chartkit_chart(out))
    assert "band_low" in str(spec) and "all runs (n=2)" in str(spec)  # band drawn, n named


def chartkit_chart(grouped):
    from engine.figures import charts

    return charts.final_vs_sparsity(grouped)


def test_runs_table_shows_differing_fields_outcomes_tags_and_filters():
    runs = pd.DataFrame(
        {
            "run_id": [RUN_A, RUN_B],
            "spec": [{"seed": 0, "prune": {"rate": 0.2}}, {"seed": 1, "prune": {"rate": 0.3}}],
            "status": ["finished", "training"],
            "levels_done": [4, 2],
        }
    )
    summary = pd.concat([T.summary(RUN_A), T.summary(RUN_B)])
    notes = {RUN_A: Annotations(("baseline",), "first")}
    frame = compare.table(runs, summary, notes)
    assert list(frame.columns[:7]) == [*compare.FIXED, "prune.rate", "seed"]
    assert frame.loc[0, "tags"] == "baseline" and frame.loc[0, "note"] == "first"
    assert {"IMP-WR final acc", "one-shot best acc", "sparsity"} <= set(frame.columns)
    assert frame.loc[0, "IMP-WR final acc"] == pytest.approx(0.87)  # level 3 of T.metrics
    every = compare.table(runs, summary, notes, all_fields=True)
    assert "prune.rate" in every.columns and len(every.columns) >= len(frame.columns)

    def where(text):
        return compare.apply_filter(frame, compare.parse_filter(text, list(frame.columns)))

    assert where("prune.rate = 0.2")["run_id"].tolist() == [RUN_A]
    assert where("seed >= 1 and status ~ train")["run_id"].tolist() == [RUN_B]
    assert where("tags ~ BASE")["run_id"].tolist() == [RUN_A]
    assert len(where("")) == 2
    with pytest.raises(ValueError, match="no column `lr`"):
        where("lr < 3")
    with pytest.raises(ValueError, match="cannot read `seed`"):
        where("seed")


def test_per_level_quantities_join_the_levels_sparsity():
    summary = T.summary()
    lam = per_level.table("lambda_max", T.spectra(), summary)
    assert set(lam["series"]) == {"min_L (solution)", "Pr_L(min_(L−1))"}
    level2 = lam[(lam["level"] == 2) & (lam["series"] == "min_L (solution)")].iloc[0]
    assert level2["value"] == 20.0 and level2["sparsity"] == pytest.approx(0.36)
    acc = per_level.table("test_acc", summary, summary)
    chart = sparsity_charts.against_remaining(acc, "final test accuracy", rate=True)
    spec = export.spec_dict(chart)
    assert "remaining" in str(spec["layer"][1]["encoding"]["x"])
    assert spec["layer"][1]["encoding"]["x"]["scale"]["type"] == "log"
    assert per_level.table("trace", T.trace().iloc[0:0], summary).empty


def test_controls_live_in_the_url_and_change_the_charts(demo_store, monkeypatch):
    at = open_app(
        demo_store, monkeypatch, "levels", group="1", smooth="0.6", band="se", x="iteration"
    )
    assert at.toggle(key="group").value is True
    assert at.select_slider(key="smooth").value == 0.6
    assert at.selectbox(key="x").value == "iteration"
    specs = [c.proto.spec for c in charts(at)]
    assert all("band_low" in s for s in specs[:2])  # groups drawn with their band
    assert all('"iteration"' in s for s in specs[:2])
    assert at.query_params["smooth"] == "0.6" and at.query_params["band"] == "se"


def test_compare_page_lists_runs_and_reports_a_bad_filter(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, "compare")
    [table] = at.dataframe
    assert len(table.value) == 1
    bad = open_app(demo_store, monkeypatch, "compare", where="nonsense")
    assert "cannot read `nonsense`" in bad.error[0].value


def test_sparsity_page_draws_a_quantity_and_per_layer_sparsity(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, "sparsity", quantity="lambda_max")
    assert len(charts(at)) == 2
    assert "weights remaining" in charts(at)[0].proto.spec


@pytest.mark.parametrize("page", ["levels", "baselines", "geometry", "spectra", "sparsity"])
def test_every_results_page_draws_grouped_and_smoothed(page, demo_store, monkeypatch):
    from tests.app.test_pages import CHARTS

    at = open_app(demo_store, monkeypatch, page, group="1", smooth="0.6", band="minmax")
    drawn = charts(at)
    assert len(drawn) == CHARTS[page]
    grouped = [c for c in drawn if "band_low" in c.proto.spec and '"n"' in c.proto.spec]
    assert grouped, page
