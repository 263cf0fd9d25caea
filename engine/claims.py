"""The paper's claims tested on stored runs: each stated per level (and so per sparsity), and
where a test can give one, with an overall verdict (holds / does not hold / inconclusive).

Claims are tested across the seeds of a group of replicates (`engine.replicates`). Every
claim is a paired effect per (seed, level), oriented so that > 0 is the claim's direction:
stated per level with intervals over seeds (`engine.claim_effects`), tested overall on one
number per seed (`engine.stats`), with Holm's correction across every test of the report.
The rules are fixed (`engine.claim_model.RULES`), nothing is tuned toward an outcome, and
missing data makes a claim inconclusive. Pandas, scipy and statsmodels (and the baselines'
registry for their names), so the report job and the CLI share it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import pandas as pd

from engine import claim_controls as controls
from engine.baselines import method_labels
from engine.claim_effects import HOLDS_AT, REVERSES_AT
from engine.claim_model import MIXED, Claim, make_claim, paired
from engine.config import RunSpec
from engine.replicates import level_sparsity
from engine.stats import ALPHA, holm

HOLDS, FAILS, UNSURE = "holds", "does not hold", "inconclusive"
NO_DATA = "inconclusive (no data)"
SUPPORTING = "supporting (no verdict)"
CLAIM_COLUMNS = ["id", "group", "statement", "verdict", "where", "numbers", "criterion"]


def ft_budget(spec: RunSpec) -> str:
    """FT's extra training, from the spec. Every level L ≥ 1 trains from the rewind point k to
    the end of the recipe T, so IMP-WR's level-L weights have had T (k of level 0, then T − k),
    as have one-shot's, RIPN's and RPN's; FT's continue a chain: T + L·(T − k)."""
    t, k, top = spec.train.length, spec.prune.rewind, spec.baseline_level
    chain = f"{t} + L × ({t} − {k})"
    if k.value == 0 or k.unit == t.unit:
        total = t.value + top * (t.value - k.value)
        chain += f" = {total}{t.unit} at level {top}, {total / t.value:.3g}× IMP-WR's {t}"
    return (
        f"Training budget: FT's level-L weights continue a chain of L + 1 trainings, {chain}; "
        f"IMP-WR's level-L weights (like one-shot's, RIPN's and RPN's) are trained for {t} in "
        "all. Both chains cost the same to compute (IMP-WR too trains levels 0 to L to find "
        "its masks); what differs is how long the solution compared has been trained."
    )


# --- claims ---------------------------------------------------------------------------------
def claim_c1(summary: pd.DataFrame, group: str, spec: RunSpec, sparsity) -> list[Claim]:
    """C1 against each baseline in the spec, for test accuracy and for training loss, at
    every level where both were trained (the baseline level; FT's chain at every level)."""
    s = summary[summary["group"] == group] if len(summary) else summary
    out, labels = [], method_labels()
    for metric, name, better, sign in (
        ("test_acc", "test accuracy", "higher", 1),
        ("train_loss", "training loss", "lower", -1),
    ):
        for b in spec.baselines.kinds:
            label = labels[b]
            d = s.rename(columns={"branch": "what"}) if len(s) else s
            table = paired(d, metric, "imp", b, (f"imp_{metric}", f"{b}_{metric}"), sign)
            diff = f"{name}, IMP-WR − {{}}" if sign > 0 else f"{name}, {{}} − IMP-WR"
            out.append(
                make_claim(
                    f"C1-{metric}-{b}",
                    group,
                    f"IMP-WR's solutions have {better} {name} than {label}'s at the same "
                    "sparsity (C1: IMP-WR beats one-shot, FT, RIPN and random pruning)",
                    f"{diff.format(label)}, at each level where both were trained",
                    table,
                    sparsity,
                    figure=f"C1-{metric}",
                    series=label,
                    axis=diff.format("baseline"),
                    note=ft_budget(spec) if b == "ft" else "",
                )
            )
    return out


C2_TEXT = "Level L's start is closer to its own solution min_L than to Pr_L(min_(L−1)) (Fig. 3)"
C2_AXIS = "‖start_L − Pr_L(min_(L−1))‖ − ‖start_L − min_L‖"
C2_EFFECT = f"{C2_AXIS} over prunable weights (L2, not normalised), at IMP levels L ≥ 1"


def claim_c2(distances: pd.DataFrame, group: str, sparsity) -> Claim:
    d = distances
    if len(d):
        d = d[
            (d["group"] == group)
            & (d["branch"] == "imp")
            & (d["norm"] == "prunable")
            & (~d["normalised"].astype(bool))
        ].rename(columns={"to": "what"})
    names = ("to_projected_prev", "to_min_L")
    table = paired(d, "distance", "projected_prev", "solution", names, 1)
    return make_claim("C2", group, C2_TEXT, C2_EFFECT, table, sparsity, axis=C2_AXIS)


# key -> (statement, +1 if larger at min_L is the claim's direction, tested). The three are
# near-duplicates (29 of 30 pairs agreed on all three in the LeNet reproduction), so only the
# log-volume, which covers the whole top-k, is tested; the other two are stated per level.
C3 = {
    "log_volume": (
        "The basin log-volume proxy is larger at min_L than at Pr_L(min_(L−1)) (a flatter, "
        "larger basin; Fig. 5)",
        1,
        True,
    ),
    "lambda_max": (
        "The largest Hessian eigenvalue is smaller at min_L than at Pr_L(min_(L−1)) (Fig. 5)",
        -1,
        False,
    ),
    "mean_top_k": (
        "The mean of the top-k Hessian eigenvalues is smaller at min_L than at Pr_L(min_(L−1))",
        -1,
        False,
    ),
}


def claim_c3(spectra: pd.DataFrame, volume: pd.DataFrame, group: str, sparsity) -> list[Claim]:
    per_point = _spectrum_summary(spectra, volume, group).rename(columns={"point": "what"})
    out = []
    for key, (text, sign, tested) in C3.items():
        names = (f"{key}_min_L", f"{key}_projected")
        table = paired(per_point, key, "solution", "projected_prev", names, sign)
        pair = "min_L − Pr_L(min_(L−1))" if sign > 0 else "Pr_L(min_(L−1)) − min_L"
        out.append(
            make_claim(f"C3-{key}", group, text, f"{key}, {pair}", table, sparsity, tested=tested)
        )
    return out


def _spectrum_summary(spectra: pd.DataFrame, volume: pd.DataFrame, group: str) -> pd.DataFrame:
    """Per (seed, level, point) of IMP: λ_max, the mean of the top-m eigenvalues (m = the
    fewest stored at either point of that level, so both means cover the same ranks) and the
    log-volume."""
    empty = pd.DataFrame(columns=["seed", "level", "point"])
    if spectra.empty:
        return empty
    s = spectra[(spectra["group"] == group) & (spectra["branch"] == "imp")]
    if s.empty:
        return empty
    keys = ["seed", "level", "point"]
    m = s.groupby(keys)["rank"].max().groupby(["seed", "level"]).min().rename("m")
    s = s.merge(m.reset_index(), on=["seed", "level"])
    top = s[s["rank"] <= s["m"]].groupby(keys)["eigenvalue"]
    out = pd.DataFrame({"lambda_max": top.max(), "mean_top_k": top.mean(), "k": top.count()})
    out = out.reset_index()
    if len(volume):
        v = volume[(volume["group"] == group) & (volume["branch"] == "imp")]
        out = out.merge(v[[*keys, "log_volume"]], on=keys, how="left")
    else:
        out["log_volume"] = math.nan
    return out


# --- verdicts -------------------------------------------------------------------------------
def _verdict(c: Claim) -> str:
    if not c.tested:
        return SUPPORTING
    if c.table.empty:
        return NO_DATA
    if {HOLDS_AT, REVERSES_AT} <= set(c.levels["mark"]):
        return MIXED  # an average over levels would only say which levels were run
    if c.holm_for < ALPHA:
        return HOLDS
    if c.holm_against < ALPHA:
        return FAILS
    return UNSURE  # one seed, or neither direction significant after Holm


def judge(claims: list[Claim]) -> list[Claim]:
    """The claims with Holm's correction over the two one-sided t tests of every tested claim
    (those with two or more seeds), and each verdict from its corrected p values."""
    tests = [i for i, c in enumerate(claims) if c.test is not None and c.test.summary.n >= 2]
    p = holm([q for i in tests for q in (claims[i].test.t_p_for, claims[i].test.t_p_against)])
    out = list(claims)
    for j, i in enumerate(tests):
        out[i] = dataclasses.replace(
            out[i], holm_for=float(p[2 * j]), holm_against=float(p[2 * j + 1]), family=len(p)
        )
    return [dataclasses.replace(c, verdict=_verdict(c)) for c in out]


def evaluate_claims(data: Mapping[str, pd.DataFrame], specs: Mapping[str, RunSpec]) -> list[Claim]:
    """C1 (per baseline and metric), C2, C3 and the claims of `engine.claim_controls` (C3's
    loss-matched control, C4, the barriers) for every group of `specs` (`group_specs`), from
    the `gather`ed tables ("summary", "distances", "spectra", "volume", and those the
    controls read where present), judged together (one Holm family per report)."""
    claims: list[Claim] = []
    for group, spec in specs.items():
        sparsity = level_sparsity(data["summary"], group)
        claims += claim_c1(data["summary"], group, spec, sparsity)
        claims.append(claim_c2(data["distances"], group, sparsity))
        claims += claim_c3(data["spectra"], data["volume"], group, sparsity)
        claims += controls.control_claims(data, group, sparsity)
    return judge(claims)


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    """One row per claim: what it says, for which group, where it holds, the numbers and the
    verdict."""
    return pd.DataFrame(
        [{c: getattr(cl, c) for c in CLAIM_COLUMNS} for cl in claims], columns=CLAIM_COLUMNS
    )
