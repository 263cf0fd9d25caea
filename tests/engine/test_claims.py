"""The claims' statistics against independent references (statsmodels, scipy, closed forms,
exact enumeration) on hand-made data with known answers, and each claim's per-level statement
and verdict rules on hand-made tables."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import DescrStatsW

from engine import claims as C
from engine.claim_effects import per_level, per_seed, where
from engine.claim_model import RULES
from engine.config import BaselineSpec, PruneSpec, RunSpec, TrainSpec
from engine.replicates import aggregate
from engine.stats import holm, interval, seed_test, sign_interval


# --- statistics against references ----------------------------------------------------------
def test_aggregate_by_hand():
    df = pd.DataFrame({"level": [1, 1, 1, 2], "x": [1.0, 2.0, 6.0, 5.0]})
    out = aggregate(df, ["level"], "x").set_index("level")
    assert out.loc[1, "n"] == 3 and out.loc[1, "mean"] == 3.0
    assert out.loc[1, "sd"] == pytest.approx(math.sqrt(7))  # deviations -2, -1, 3 over n-1 = 2
    assert (out.loc[1, "low"], out.loc[1, "high"]) == (1.0, 6.0)
    assert out.loc[2, "n"] == 1 and math.isnan(out.loc[2, "sd"])


def test_t_interval_and_t_tests_against_statsmodels_and_closed_form():
    d = np.array([1.0, 2.0, 3.0])  # mean 2, sd 1, 2 degrees of freedom
    iv = interval(d)
    half = 4.302652729911275 / math.sqrt(3)  # Student t 0.975 quantile, 2 df, times sd/√n
    assert (iv.t_low, iv.t_high) == pytest.approx((2 - half, 2 + half))
    t = seed_test(d)
    tt = 2 / (1 / math.sqrt(3))
    assert t.t_p_for == pytest.approx(0.5 * (1 - tt / math.sqrt(tt * tt + 2)))  # t cdf, 2 df
    rng = np.random.default_rng(3)
    for n in (2, 3, 5, 12):
        x = rng.normal(0.3, 1.0, n)
        ref = DescrStatsW(x)
        iv, t = interval(x), seed_test(x)
        assert (iv.t_low, iv.t_high) == pytest.approx(ref.tconfint_mean(0.05))
        assert t.t_p_for == pytest.approx(ref.ttest_mean(0, alternative="larger")[1])
        assert t.t_p_against == pytest.approx(ref.ttest_mean(0, alternative="smaller")[1])
    one = interval([4.0])
    assert one.n == 1 and math.isnan(one.t_low) and math.isnan(one.sign_low)
    assert math.isnan(seed_test([4.0]).t_p_for)


def test_sign_interval_against_scipy_where_95_percent_is_reachable():
    rng = np.random.default_rng(0)
    for n in range(6, 26):
        x = rng.normal(size=n)
        ci = stats.quantile_test(x, q=0, p=0.5).confidence_interval(0.95)
        low, high, coverage = sign_interval(x)
        assert (low, high) == (ci.low, ci.high)
        k = int(np.searchsorted(np.sort(x), low)) + 1  # low is the k-th order statistic
        assert coverage == pytest.approx(1 - 2 * stats.binom.cdf(k - 1, n, 0.5))
        assert coverage >= 0.95
    # below 6 seeds 95% cannot be reached: [min, max] with the coverage it has, 1 - 2/2^n
    assert sign_interval([3.0, 1.0, 2.0]) == (1.0, 3.0, pytest.approx(0.75))
    assert sign_interval([5.0, 1, 2, 3, 4])[2] == pytest.approx(1 - 2 / 32)
    assert math.isnan(stats.quantile_test([3.0, 1.0, 2.0]).confidence_interval(0.95).low)


def _wilcoxon_exact(x: np.ndarray, greater: bool) -> float:
    """P(W+ >= observed) (or <=) over all 2^n sign flips of the ranks: the exact null."""
    ranks = stats.rankdata(np.abs(x))
    observed = ranks[x > 0].sum()
    sums = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in
            itertools.product([0, 1], repeat=len(x))]  # fmt: skip
    hits = [s >= observed if greater else s <= observed for s in sums]
    return sum(hits) / len(sums)


def test_wilcoxon_against_exact_enumeration():
    for x in ([0.3, 1.2, 2.5], [0.3, -1.2, 2.5, 0.7], [-0.1, -0.4, 0.2, -0.9, -1.5]):
        x = np.array(x)
        t = seed_test(x)
        assert t.w_p_for == pytest.approx(_wilcoxon_exact(x, greater=True))
        assert t.w_p_against == pytest.approx(_wilcoxon_exact(x, greater=False))
    assert seed_test([0.3, 1.2, 2.5]).w_p_for == pytest.approx(1 / 8)  # its floor at 3 seeds


def test_holm_by_hand_and_against_statsmodels():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    with_nan = holm([0.01, math.nan, 0.04])  # NaN is no test: a family of two
    assert with_nan[[0, 2]] == pytest.approx(multipletests([0.01, 0.04], method="holm")[1])
    assert math.isnan(with_nan[1])


def test_per_seed_test_is_the_balanced_mixed_model_with_seed_as_random_effect():
    """Each seed's mean over its levels, then a t test over seeds, has the estimate and
    standard error of MixedLM's intercept (seed a random intercept, REML) on balanced data."""
    rng = np.random.default_rng(1)
    rows = [
        {"seed": s, "level": lv, "effect": 0.5 + u + rng.normal(0, 0.3)}
        for s, u in enumerate(rng.normal(0, 1, 4))
        for lv in range(1, 6)
    ]
    df = pd.DataFrame(rows)
    seeds, levels = per_seed(df)
    assert levels == [1, 2, 3, 4, 5]
    fit = smf.mixedlm("effect ~ 1", df, groups=df["seed"]).fit(reml=True)
    s = seed_test(seeds.to_numpy()).summary
    assert s.mean == pytest.approx(fit.params["Intercept"])
    assert s.sd / math.sqrt(s.n) == pytest.approx(fit.bse["Intercept"], rel=1e-3)


# --- per level ------------------------------------------------------------------------------
def _effects(by_level: dict[int, list[float]]) -> pd.DataFrame:
    rows = [
        {"seed": s, "level": lv, "effect": e}
        for lv, es in by_level.items()
        for s, e in enumerate(es)
    ]
    return pd.DataFrame(rows)


def test_per_level_marks_and_where_it_holds():
    e = _effects(
        {
            1: [1.0, 1.1, 0.9],
            2: [0.5, 0.6, 0.4],
            3: [0.5, -0.5, 0.1],
            4: [-1.0, -1.2, -0.8],
            5: [-2.0, -2.1, -1.9],
        }
    )
    sparsity = {1: 0.2, 2: 0.36, 3: 0.488, 4: 0.59, 5: 0.672}
    lv = per_level(e, sparsity)
    assert list(lv["mark"]) == ["holds", "holds", "unclear", "reverses", "reverses"]
    assert lv.loc[0, "mean"] == pytest.approx(1.0) and lv.loc[0, "n"] == 3
    assert where(lv) == (
        "holds at levels 1–2 (20.0%–36.0% sparse); unclear at level 3 (48.8% sparse); "
        "reverses at levels 4–5 (59.0%–67.2% sparse)"
    )
    assert where(per_level(_effects({10: [0.4]}), {})) == "one seed at level 10"


def test_per_seed_averages_only_the_levels_every_seed_has():
    e = _effects({1: [1.0, 2.0, 3.0], 2: [3.0, 4.0, 5.0], 3: [10.0, 20.0]})  # seed 2 lacks 3
    seeds, levels = per_seed(e)
    assert levels == [1, 2]
    assert seeds.to_dict() == {0: 2.0, 1: 3.0, 2: 4.0}


# --- claims and verdicts --------------------------------------------------------------------
def _distances(by_level: dict[int, list[tuple[float, float]]]) -> pd.DataFrame:
    rows = []
    base = {"group": "g", "branch": "imp", "norm": "prunable", "normalised": False}
    for level, pairs in by_level.items():
        for seed, (to_sol, to_prev) in enumerate(pairs):
            for to, d in (("solution", to_sol), ("projected_prev", to_prev)):
                rows.append(base | {"seed": seed, "level": level, "to": to, "distance": d})
    return pd.DataFrame(rows)


def _c2(by_level) -> C.Claim:
    return C.judge([C.claim_c2(_distances(by_level), "g", {})])[0]


def test_c2_verdicts_and_where():
    closer = {1: [(1.0, 2.0), (1.1, 2.0), (0.9, 2.1)], 2: [(1.0, 1.6), (1.2, 1.7), (1.0, 1.5)]}
    c = _c2(closer)
    assert c.verdict == C.HOLDS and c.where.startswith("holds at levels 1–2")
    assert list(c.table.columns) == ["seed", "level", "to_projected_prev", "to_min_L", "effect"]
    assert c.table["effect"].iloc[0] == pytest.approx(1.0) and c.covered == [1, 2]
    farther = {lv: [(b, a) for a, b in pairs] for lv, pairs in closer.items()}
    assert _c2(farther).verdict == C.FAILS
    # holds at level 1 and reverses at level 2: no overall verdict, whatever the average says
    flips = {1: closer[1], 2: farther[2]}
    assert _c2(flips).verdict == C.MIXED
    noisy = {1: [(1.0, 2.0), (2.0, 1.0), (1.0, 1.1)]}
    assert _c2(noisy).verdict == C.UNSURE
    assert _c2({1: [(1.0, 2.0)]}).verdict == C.UNSURE  # one seed: no test
    empty = C.judge([C.claim_c2(pd.DataFrame(), "g", {})])[0]
    assert empty.verdict == C.NO_DATA and empty.overall == "no pair measured"


def test_levels_of_one_seed_are_not_counted_as_replicates():
    """Ten levels that agree in one seed and two seeds that disagree: a sign test over the 30
    (seed, level) pairs would find 20 of 30; the per-seed test finds nothing."""
    pairs = {lv: [(1.0, 2.0), (1.0, 2.0), (2.0, 1.0)] for lv in range(1, 11)}
    pairs[1] = [(1.0, 2.0), (1.0, 2.5), (2.0, 1.0)]  # some spread, so the t test is defined
    c = _c2(pairs)
    assert c.test.summary.n == 3 and c.verdict == C.UNSURE


def _spec(kinds=("one_shot", "ft"), length="10ep", rewind="0it", levels=2) -> RunSpec:
    return RunSpec(
        train=TrainSpec(length=length),
        prune=PruneSpec(levels=levels, rewind=rewind),
        baselines=BaselineSpec(kinds=kinds),
    )


def _summary(by_branch: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"group": "g", "branch": b, "level": lv, "seed": s, "test_acc": v, "train_loss": 1 - v}
            for (b, lv), vals in by_branch.items()
            for s, v in enumerate(vals)
        ]
    )


def test_c1_one_claim_per_baseline_ft_at_every_level():
    imp = [0.90, 0.91, 0.92]
    summary = _summary(
        {
            ("imp", 1): [0.95, 0.95, 0.96],
            ("imp", 2): imp,
            ("ft", 1): [0.96, 0.965, 0.975],
            ("ft", 2): [0.95, 0.955, 0.97],
            ("one_shot", 2): [0.80, 0.805, 0.81],
        }
    )
    claims = {c.id: c for c in C.judge(C.claim_c1(summary, "g", _spec(), {}))}
    assert set(claims) == {
        f"C1-{m}-{b}" for m in ("test_acc", "train_loss") for b in ("ft", "one_shot")
    }
    ft, one_shot = claims["C1-test_acc-ft"], claims["C1-test_acc-one_shot"]
    assert list(ft.levels["level"]) == [1, 2] and list(one_shot.levels["level"]) == [2]
    assert ft.verdict == C.FAILS and one_shot.verdict == C.HOLDS
    # training loss is 1 - accuracy here, oriented so > 0 favours IMP-WR as for accuracy
    assert claims["C1-train_loss-ft"].table["effect"].to_list() == pytest.approx(
        ft.table["effect"].to_list()
    )
    assert ft.figure == one_shot.figure == "C1-test_acc" and ft.series == "FT"
    assert "Training budget" in ft.note and one_shot.note == ""


def test_does_not_hold_needs_the_same_evidence_as_holds():
    """FT better on the mean by more than the sd of the differences (the old rule's 'does not
    hold'), but the opposite one-sided t test has p ≈ 0.1: inconclusive."""
    summary = _summary({("imp", 2): [0.90, 0.91, 0.92], ("ft", 2): [0.93, 0.93, 0.92]})
    c = C.judge(C.claim_c1(summary, "g", _spec(kinds=("ft",)), {}))[0]
    s = c.test.summary
    assert -s.mean > s.sd and 0.05 < c.test.t_p_against < 0.2
    assert c.verdict == C.UNSURE


def test_holm_over_every_test_of_the_report():
    """A claim alone holds (Holm over its own two directions: 2 × p < 0.05), but not after
    Holm over the two directions of four claims; the family spans groups."""
    pairs = {1: [(1.0, 1.3), (1.0, 1.5), (1.0, 1.35)]}  # effect 0.3, 0.5, 0.35: p ≈ 0.012
    one = C.claim_c2(_distances(pairs), "g", {})
    alone = C.judge([one])[0]
    assert alone.family == 2 and alone.holm_for == pytest.approx(2 * alone.test.t_p_for)
    assert alone.holm_for < 0.05 and alone.verdict == C.HOLDS
    others = [C.claim_c2(_distances(pairs).assign(group=g), g, {}) for g in ("h", "i", "j")]
    judged = C.judge([one, *others])
    assert {c.family for c in judged} == {8}
    assert judged[0].holm_for == pytest.approx(min(1.0, 8 * alone.test.t_p_for))
    assert {c.verdict for c in judged} == {C.UNSURE}


def test_c3_tests_the_log_volume_and_states_the_others_over_the_same_ranks():
    rows, vol = [], []
    for seed in range(3):
        for level in (1, 2):
            # min_L: 3 eigenvalues stored, Pr_L: only 2; the mean covers ranks 1-2 at both
            for point, eig, lv in (
                ("solution", [5.0, 3.0, 0.1], -1.0 + 0.1 * seed),
                ("projected_prev", [6.0, 1.5], -2.0),
            ):
                key = {"group": "g", "branch": "imp", "seed": seed, "level": level, "point": point}
                rows += [key | {"rank": r + 1, "eigenvalue": e} for r, e in enumerate(eig)]
                vol.append(key | {"log_volume": lv})
    judged = C.judge(C.claim_c3(pd.DataFrame(rows), pd.DataFrame(vol), "g", {}))
    claims = {c.id: c for c in judged}
    assert claims["C3-log_volume"].verdict == C.HOLDS  # larger at min_L by 1.0-1.2
    assert claims["C3-lambda_max"].verdict == C.SUPPORTING  # stated, not tested
    assert claims["C3-lambda_max"].levels["mean"].to_list() == pytest.approx([1.0, 1.0])
    # ranks 1-2: (5+3)/2 = 4 against (6+1.5)/2 = 3.75 (all three ranks at min_L would give 2.7)
    assert claims["C3-mean_top_k"].table["mean_top_k_min_L"].iloc[0] == 4.0
    assert claims["C3-mean_top_k"].levels["mean"].iloc[0] == pytest.approx(-0.25)
    assert [c.family for c in judged] == [2, 0, 0]  # only the log-volume's two directions


def test_ft_budget_from_the_spec():
    text = C.ft_budget(_spec(levels=10))
    assert "10ep + L × (10ep − 0it) = 110ep at level 10, 11× IMP-WR's 10ep" in text
    assert "= 34ep at level 3" in C.ft_budget(_spec(rewind="2ep", levels=3))  # 10 + 3 × 8
    mixed = C.ft_budget(_spec(rewind="3it"))  # iterations per epoch are not in the spec
    assert "10ep + L × (10ep − 3it);" in mixed and "=" not in mixed.split(";")[0]


def test_claims_frame_has_where_and_numbers():
    c = _c2({1: [(1.0, 2.0), (1.1, 2.0), (0.9, 2.1)]})
    frame = C.claims_frame([c])
    assert list(frame.columns) == C.CLAIM_COLUMNS
    row = frame.iloc[0]
    assert row["where"] == c.where and row["numbers"].startswith("per level: holds at level 1")
    assert RULES in row["criterion"] and "over the report's 2 tests" in row["numbers"]
