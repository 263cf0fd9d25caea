"""The claims' statistics and verdict rules on hand-made tables: aggregation over seeds by
hand, p values against closed forms, and each verdict of C1, C2 and C3."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine import claims as C


def test_aggregate_by_hand():
    df = pd.DataFrame({"level": [1, 1, 1, 2], "x": [1.0, 2.0, 6.0, 5.0]})
    out = C.aggregate(df, ["level"], "x").set_index("level")
    assert out.loc[1, "n"] == 3 and out.loc[1, "mean"] == 3.0
    assert out.loc[1, "sd"] == pytest.approx(math.sqrt(7))  # deviations -2, -1, 3 over n-1 = 2
    assert (out.loc[1, "low"], out.loc[1, "high"]) == (1.0, 6.0)
    assert out.loc[2, "n"] == 1 and math.isnan(out.loc[2, "sd"])


def test_paired_stats_against_closed_forms():
    s = C.paired_stats(np.array([1.0, 2.0, 3.0]))
    t = 2.0 / (1.0 / math.sqrt(3))  # mean 2, sd 1
    assert s["t_p"] == pytest.approx(0.5 * (1 - t / math.sqrt(t * t + 2)))  # Student t, 2 df
    assert s["sign_p"] == pytest.approx(1 / 8) and (s["wins"], s["losses"]) == (3, 0)
    assert C.count_verdict(6, 0) == (C.HOLDS, pytest.approx(1 / 64), 1.0)


def _summary(imp: list[float], others: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"group": "g", "level": 2, "seed": s, "branch": b, "test_acc": v, "train_loss": 1 - v}
        for b, vals in {"imp": imp, **others}.items()
        for s, v in enumerate(vals)
    ]
    return pd.DataFrame(rows)


def _c1(summary: pd.DataFrame) -> str:
    return C.claim_c1(summary, {"g": 2})[0].verdict  # the test-accuracy claim


def test_c1_verdicts():
    imp = [0.90, 0.91, 0.92]
    base = ("one_shot", "ft", "ripn", "rpn1", "rpn2")
    holds = _summary(imp, {b: [0.80, 0.805, 0.81] for b in base})
    assert _c1(holds) == C.HOLDS
    # one baseline clearly better (mean 0.05 over a spread of 0.005): does not hold
    fails = _summary(imp, {**{b: [0.80, 0.805, 0.81] for b in base}, "ft": [0.95, 0.955, 0.97]})
    assert _c1(fails) == C.FAILS
    # IMP better on the mean but the seeds disagree: inconclusive
    mixed = _summary(imp, {b: [0.95, 0.80, 0.80] for b in base})
    assert _c1(mixed) == C.UNSURE
    # one seed: nothing can be tested
    assert _c1(_summary(imp[:1], {b: [0.5] for b in base})) == C.UNSURE
    assert _c1(pd.DataFrame()) == C.NO_DATA


def _distances(pairs: list[tuple[float, float]]) -> pd.DataFrame:
    rows = []
    for i, (to_sol, to_prev) in enumerate(pairs):
        for to, d in (("solution", to_sol), ("projected_prev", to_prev)):
            base = {"group": "g", "branch": "imp", "norm": "prunable", "normalised": False}
            rows.append(base | {"seed": i // 2, "level": 1 + i % 2, "to": to, "distance": d})
    return pd.DataFrame(rows)


def test_c2_verdicts():
    assert C.claim_c2(_distances([(1.0, 2.0)] * 6), ["g"])[0].verdict == C.HOLDS
    assert C.claim_c2(_distances([(2.0, 1.0)] * 6), ["g"])[0].verdict == C.FAILS
    half = [(1.0, 2.0)] * 3 + [(2.0, 1.0)] * 3
    assert C.claim_c2(_distances(half), ["g"])[0].verdict == C.UNSURE
    assert C.claim_c2(pd.DataFrame(), ["g"])[0].verdict == C.NO_DATA


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
    claims = {c.id: c for c in C.claim_c3(pd.DataFrame(rows), pd.DataFrame(vol), ["g"])}
    assert claims["C3-lambda_max"].verdict == C.HOLDS  # 5 < 6 in all 6 pairs
    # ranks 1-2: (5+3)/2 = 4 > (6+1.5)/2 = 3.75 (all three ranks at min_L would give 2.7)
    assert claims["C3-mean_top_k"].verdict == C.FAILS
    assert claims["C3-mean_top_k"].table["mean_top_k_min_L"].iloc[0] == 4.0
    assert claims["C3-log_volume"].verdict == C.HOLDS  # -1 > -2
