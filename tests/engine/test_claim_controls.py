"""C3's loss-matched control, C3-descent and C4 on hand-made tables: effects by hand, per-level
intervals and overall tests against scipy, and their place in the report's Holm family."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from engine import claims as C
from engine.claim_controls import c4_effects, claim_c3_matched, claim_c4

RNG = np.random.default_rng(7)
SEEDS, LEVELS = range(4), (1, 2, 3)


def _frames(k_matched: int = 20):
    """Volume rows at min_L and Pr_L(min_(L−1)) and loss-matched rows, per (seed, level)."""
    vol, lm = [], []
    for s in SEEDS:
        for lv in LEVELS:
            pr, matched, sol = RNG.normal(-10, 1), RNG.normal(-9, 1), RNG.normal(-8, 1)
            for point, v in (("projected_prev", pr), ("solution", sol)):
                vol.append(dict(group="g", branch="imp", seed=s, level=lv, point=point, k=20,
                                log_volume=v))  # fmt: skip
            lm.append(dict(group="g", seed=s, level=lv, matched=lv != 3 or s != 0,
                           k=k_matched, log_volume=matched))  # fmt: skip
    return pd.DataFrame(vol), pd.DataFrame(lm)


def _value(df, s, lv, point=None):
    rows = df[(df["seed"] == s) & (df["level"] == lv)]
    rows = rows if point is None else rows[rows["point"] == point]
    return float(rows["log_volume"].iloc[0])


def test_the_control_and_the_descent_add_up_to_c3_and_match_scipy():
    vol, lm = _frames()
    control, descent = claim_c3_matched(vol, lm, "g", {1: 0.2, 2: 0.36, 3: 0.49})
    assert control.tested and not descent.tested
    t = control.table.set_index(["seed", "level"])
    assert (0, 3) not in t.index  # unmatched there: no pair
    for (s, lv), row in t.iterrows():
        matched = float(lm[(lm["seed"] == s) & (lm["level"] == lv)]["log_volume"].iloc[0])
        assert row["effect"] == pytest.approx(matched - _value(vol, s, lv, "projected_prev"))
    d = descent.table.set_index(["seed", "level"])
    assert list(d.index) == list(t.index)
    for (s, lv), row in d.iterrows():  # C3's log-volume effect, min_L − Pr_L(min_(L−1))
        c3 = _value(vol, s, lv, "solution") - _value(vol, s, lv, "projected_prev")
        assert row["effect"] + t.loc[(s, lv), "effect"] == pytest.approx(c3)
    for lv, row in control.levels.set_index("level").iterrows():
        x = t.xs(lv, level="level")["effect"].to_numpy()
        ci = stats.ttest_1samp(x, 0).confidence_interval(0.95)
        assert (row["t_low"], row["t_high"]) == pytest.approx((ci.low, ci.high))
    per_seed = t[t.index.get_level_values("level").isin([1, 2])].groupby("seed")["effect"].mean()
    assert control.covered == [1, 2]  # level 3 lacks seed 0
    ref = stats.ttest_1samp(per_seed.to_numpy(), 0, alternative="greater").pvalue
    assert control.test.t_p_for == pytest.approx(ref)


def test_spectra_of_another_k_are_not_compared():
    vol, lm = _frames(k_matched=100)
    control, descent = claim_c3_matched(vol, lm, "g", {})
    assert control.table.empty and descent.table.empty
    assert C.judge([control])[0].verdict == C.NO_DATA


def _trajectory(gap: dict[int, float]) -> pd.DataFrame:
    rows = []
    for s in SEEDS:
        for lv, g in gap.items():
            for e in (0.0, 1.0, 2.0, 3.0):
                own = float(np.exp(-e) + 0.1)
                start = e == 0 and lv > 1  # level 1 with k > 0 has no stored pair at k
                proj = own if start else own * float(np.exp(g + RNG.normal(0, 0.05)))
                for name, v in (("level L", own), ("level L-1 projected", proj)):
                    rows.append(
                        {"group": "g", "seed": s, "level": lv, "epoch": e, "series": name,
                         "train_loss": v}
                    )  # fmt: skip
    return pd.DataFrame(rows)


def test_c4_is_the_mean_log_gap_after_the_start():
    traj = _trajectory({1: 0.5, 2: -0.4})
    table = c4_effects(traj, "g").set_index(["seed", "level"])
    for (s, lv), row in table.iterrows():
        t = traj[(traj["seed"] == s) & (traj["level"] == lv)]
        wide = t.pivot(index="epoch", columns="series", values="train_loss")
        wide = wide[wide.index > 0] if lv > 1 else wide  # the start coincides, from level 2
        expect = np.mean(np.log(wide["level L-1 projected"]) - np.log(wide["level L"]))
        assert row["effect"] == pytest.approx(expect)
    c4 = C.judge([claim_c4(traj, "g", {1: 0.2, 2: 0.36})])[0]
    assert list(c4.levels["mark"]) == ["holds", "reverses"]
    assert c4.verdict == C.MIXED
    held = C.judge([claim_c4(_trajectory({1: 0.5, 2: 0.3}), "g", {})])[0]
    assert held.verdict == C.HOLDS


def test_the_controls_join_the_reports_holm_family():
    vol, lm = _frames()
    data = {
        "summary": pd.DataFrame(columns=["group", "branch", "level", "sparsity"]),
        "distances": pd.DataFrame(),
        "spectra": pd.DataFrame(),
        "volume": vol,
        "loss_matched": lm,
        "trajectory": _trajectory({1: 0.5, 2: 0.3}),
    }
    spec = C.RunSpec()
    claims = {c.id: c for c in C.evaluate_claims(data, {"g": spec})}
    assert {"C3-loss-matched", "C3-descent", "C4", "C3-log_volume"} <= set(claims)
    tested = [c for c in claims.values() if c.test is not None and c.test.summary.n >= 2]
    raw = [p for c in tested for p in (c.test.t_p_for, c.test.t_p_against)]
    adjusted = multipletests(raw, method="holm")[1]
    i = tested.index(claims["C4"])
    assert claims["C4"].family == len(raw)
    assert claims["C4"].holm_for == pytest.approx(adjusted[2 * i])
