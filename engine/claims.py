"""The paper's claims tested on stored runs: each claim with the measured numbers, the
criterion and a verdict (holds / does not hold / inconclusive).

Runs whose specs differ only in the seed are replicates of one experiment (a *group*) and claims
are tested across seeds. Verdicts follow fixed criteria stated next to them (`ALPHA`, the tests
named in each claim); nothing is tuned toward an outcome, and missing data makes a claim
inconclusive. Pure pandas and scipy, so the app's Report page and the CLI share it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from engine.config import METHOD_LABELS, content_hash
from engine.store import Store

ALPHA = 0.05  # significance level of every test below
HOLDS, FAILS, UNSURE = "holds", "does not hold", "inconclusive"
NO_DATA = "inconclusive (no data)"
AGG = ["n", "mean", "sd", "low", "high"]
CLAIM_COLUMNS = ["id", "group", "statement", "numbers", "criterion", "verdict"]


@dataclass
class Claim:
    id: str
    statement: str
    group: str
    numbers: str
    criterion: str
    verdict: str
    table: pd.DataFrame = field(default_factory=pd.DataFrame)  # the numbers, per seed / level


# --- replicates and aggregation -------------------------------------------------------------
def replicate_groups(store: Store, run_ids: list[str]) -> dict[str, list[str]]:
    """Runs grouped by their spec without the seed (baselines included), in the order given."""
    out: dict[str, list[str]] = {}
    for run_id in run_ids:
        spec = store.load_spec(run_id)
        key = content_hash(spec.replace(seed=0).identity() | {"b": spec.baselines.to_dict()})
        label = f"{spec.model.name} · {spec.data.name} · {key[:6]}"
        out.setdefault(label, []).append(run_id)
    return out


def aggregate(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Per `by` cell: seeds counted, mean, sample sd (NaN with one seed), min and max."""
    cols = [*by, *AGG]
    d = df.dropna(subset=[value])
    if d.empty:
        return pd.DataFrame(columns=cols)
    g = d.groupby(by, sort=True)[value]
    out = pd.DataFrame(
        {"n": g.count(), "mean": g.mean(), "sd": g.std(ddof=1), "low": g.min(), "high": g.max()}
    )
    return out.reset_index()[cols]


# --- verdicts -------------------------------------------------------------------------------
def paired_stats(diffs: np.ndarray) -> dict[str, float]:
    """Paired differences (positive = the claim's direction) over seeds: one-sided one-sample
    t test of mean > 0 (= paired t test) and sign test of more positives than negatives."""
    d = np.asarray(diffs, dtype=float)
    n, mean = len(d), float(d.mean()) if len(d) else math.nan
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    if n < 2:
        t_p = math.nan
    elif sd == 0:
        t_p = 0.0 if mean > 0 else 1.0  # identical differences: no spread to test against
    else:
        t_p = float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    sign_p = (
        float(stats.binomtest(wins, wins + losses, 0.5, "greater").pvalue)
        if wins + losses
        else math.nan
    )
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "t_p": t_p,
        "wins": wins,
        "losses": losses,
        "sign_p": sign_p,
    }


def paired_verdict(rows: list[dict[str, float]]) -> str:
    """`rows`: `paired_stats` of IMP against each baseline. Holds when IMP is better on the mean
    against every baseline and each one-sided paired t test has p < ALPHA (an intersection-union
    test, so no multiplicity correction is needed); does not hold when some baseline is better
    on the mean by more than the seed-to-seed sd of the differences (needs >= 2 seeds)."""
    if not rows:
        return NO_DATA
    if any(r["n"] >= 2 and r["mean"] < 0 and -r["mean"] > r["sd"] for r in rows):
        return FAILS
    if all(r["mean"] > 0 and r["t_p"] < ALPHA for r in rows):
        return HOLDS
    return UNSURE


def count_verdict(agree: int, disagree: int) -> tuple[str, float, float]:
    """Sign test over paired observations (ties dropped): holds when more agree than chance
    allows (one-sided binomial p < ALPHA), does not hold when more disagree."""
    n = agree + disagree
    if n == 0:
        return NO_DATA, math.nan, math.nan
    p_for = float(stats.binomtest(agree, n, 0.5, "greater").pvalue)
    p_against = float(stats.binomtest(disagree, n, 0.5, "greater").pvalue)
    verdict = HOLDS if p_for < ALPHA else FAILS if p_against < ALPHA else UNSURE
    return verdict, p_for, p_against


# --- gathering stored tables ----------------------------------------------------------------
def gather(
    store: Store, groups: dict[str, list[str]], read: Callable[[Store, str], pd.DataFrame]
) -> pd.DataFrame:
    """`read`'s table of every run, stacked, with its group label and seed added."""
    frames = []
    for label, run_ids in groups.items():
        for run_id in run_ids:
            df = read(store, run_id)
            if len(df):
                frames.append(df.assign(group=label, seed=store.load_spec(run_id).seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def baseline_levels(store: Store, groups: dict[str, list[str]]) -> dict[str, int]:
    """The level each group's baselines were trained at (C1 compares there)."""
    return {g: store.load_spec(ids[0]).baseline_level for g, ids in groups.items()}


# --- claims ---------------------------------------------------------------------------------
C1_TEXT = (
    "IMP-WR's solutions keep training loss and test accuracy better than the one-shot, FT, "
    "RIPN and random-pruning (RPN_1, RPN_2) comparisons at the same sparsity"
)
C2_TEXT = "Level L's start is closer to its own solution min_L than to Pr_L(min_(L−1)) (Fig. 3)"
C3_TEXT = {
    "lambda_max": "The largest Hessian eigenvalue is smaller at min_L than at Pr_L(min_(L−1)) "
    "(Fig. 5)",
    "mean_top_k": "The mean of the top-k Hessian eigenvalues is smaller at min_L than at "
    "Pr_L(min_(L−1)) (Fig. 5)",
    "log_volume": "The basin log-volume proxy is larger at min_L than at Pr_L(min_(L−1)) "
    "(flatter, larger basin)",
}
SIGN_CRITERION = (
    "one observation per (seed, IMP level ≥ 1) with both points; ties dropped; one-sided sign "
    f"(binomial) test, p < {ALPHA}: holds; the opposite one-sided test p < {ALPHA}: does not "
    "hold; otherwise inconclusive. Levels of one seed are not independent, so p is optimistic."
)


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def claim_c1(summary: pd.DataFrame, at: dict[str, int]) -> list[Claim]:
    """C1 at each group's baseline level, for test accuracy and for training loss."""
    out = []
    metrics = {"test_acc": ("test accuracy", 1), "train_loss": ("training loss", -1)}
    criterion = (
        "paired over seeds at the baseline level, difference oriented so > 0 favours IMP-WR; "
        f"holds: mean > 0 against every baseline and each one-sided paired t test p < {ALPHA}; "
        "does not hold: some baseline better on the mean by more than the sd of the paired "
        "differences over seeds; otherwise inconclusive (a sign test is shown beside; with 3 "
        "seeds its smallest p is 0.125)"
    )
    for group, level in at.items():
        s = (
            summary[(summary["group"] == group) & (summary["level"] == level)]
            if len(summary)
            else summary
        )
        for metric, (name, sign) in metrics.items():
            rows, detail = [], []
            if len(s) and "imp" in set(s["branch"]):
                wide = s.pivot_table(index="seed", columns="branch", values=metric)
                for b in [b for b in METHOD_LABELS if b != "imp" and b in wide.columns]:
                    pair = wide[["imp", b]].dropna()
                    if pair.empty:
                        continue
                    d = sign * (pair["imp"] - pair[b]).to_numpy()
                    r = paired_stats(d) | {"baseline": b}
                    rows.append(r)
                    detail += [
                        {
                            "seed": seed,
                            "baseline": b,
                            f"imp_{metric}": i,
                            f"baseline_{metric}": v,
                            "difference_favouring_imp": dd,
                        }
                        for seed, i, v, dd in zip(pair.index, pair["imp"], pair[b], d, strict=True)
                    ]
            numbers = "; ".join(
                f"{METHOD_LABELS[r['baseline']]}: {r['mean']:+.4g} ± {_fmt(r['sd'])} over "
                f"{r['n']} seed(s), IMP better in {r['wins']}/{r['n']}, t p={_fmt(r['t_p'])}, "
                f"sign p={_fmt(r['sign_p'])}"
                for r in rows
            )
            out.append(
                Claim(
                    f"C1-{metric}",
                    f"{C1_TEXT} — {name} at level {level}",
                    group,
                    numbers or "no IMP-WR and baseline pair at this level",
                    criterion,
                    paired_verdict(rows),
                    pd.DataFrame(detail),
                )
            )
    return out


def _sign_claim(cid: str, text: str, group: str, detail: pd.DataFrame, what: str) -> Claim:
    agree = int(detail["agrees"].sum()) if len(detail) else 0
    ties = int(detail["tie"].sum()) if len(detail) else 0
    disagree = len(detail) - agree - ties
    verdict, p_for, p_against = count_verdict(agree, disagree)
    numbers = (
        f"{agree} of {agree + disagree} (seed, level) pairs agree ({ties} ties) over "
        f"{detail['seed'].nunique() if len(detail) else 0} seed(s); {what}; sign test "
        f"p={_fmt(p_for)} (opposite p={_fmt(p_against)})"
    )
    return Claim(cid, text, group, numbers, SIGN_CRITERION, verdict, detail)


def _mark(detail: pd.DataFrame, a: str, b: str, smaller: bool) -> pd.DataFrame:
    """`agrees`: a < b (or a > b); `tie`: a == b."""
    agrees = detail[a] < detail[b] if smaller else detail[a] > detail[b]
    return detail.assign(agrees=agrees, tie=detail[a] == detail[b])


def claim_c2(distances: pd.DataFrame, groups: list[str]) -> list[Claim]:
    out = []
    for group in groups:
        d = distances
        if len(d):
            d = d[
                (d["group"] == group)
                & (d["branch"] == "imp")
                & (d["norm"] == "prunable")
                & (~d["normalised"].astype(bool))
            ]
        detail = pd.DataFrame()
        if len(d):
            wide = d.pivot_table(index=["seed", "level"], columns="to", values="distance")
            if {"solution", "projected_prev"} <= set(wide.columns):
                wide = (
                    wide.dropna()
                    .reset_index()
                    .rename(columns={"solution": "to_min_L", "projected_prev": "to_projected_prev"})
                )
                detail = _mark(wide, "to_min_L", "to_projected_prev", smaller=True)
        what = "‖start_L − min_L‖ < ‖start_L − Pr_L(min_(L−1))‖ over prunable weights"
        if len(detail):
            ratio = (detail["to_min_L"] / detail["to_projected_prev"]).mean()
            what += f", mean ratio {ratio:.3g}"
        out.append(_sign_claim("C2", C2_TEXT, group, detail, what))
    return out


def claim_c3(spectra: pd.DataFrame, volume: pd.DataFrame, groups: list[str]) -> list[Claim]:
    out = []
    for group in groups:
        per_point = _spectrum_summary(spectra, volume, group)
        for key, text in C3_TEXT.items():
            detail = pd.DataFrame()
            if len(per_point):
                wide = per_point.pivot_table(index=["seed", "level"], columns="point", values=key)
                if {"solution", "projected_prev"} <= set(wide.columns):
                    wide = wide.dropna().reset_index()
                    wide = wide.rename(
                        columns={"solution": f"{key}_min_L", "projected_prev": f"{key}_projected"}
                    )
                    smaller = key != "log_volume"
                    detail = _mark(wide, f"{key}_min_L", f"{key}_projected", smaller)
            rel = "smaller" if key != "log_volume" else "larger"
            out.append(_sign_claim(f"C3-{key}", text, group, detail, f"{key} at min_L {rel}"))
    return out


def _spectrum_summary(spectra: pd.DataFrame, volume: pd.DataFrame, group: str) -> pd.DataFrame:
    """Per (seed, level, point) of IMP: λ_max, the mean of the top-m eigenvalues (m = the
    fewest stored at either point of that level, so both means cover the same ranks) and the
    log-volume."""
    if spectra.empty:
        return pd.DataFrame()
    s = spectra[(spectra["group"] == group) & (spectra["branch"] == "imp")]
    if s.empty:
        return pd.DataFrame()
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


# --- all claims -----------------------------------------------------------------------------
def evaluate_claims(data: Mapping[str, pd.DataFrame], at: dict[str, int]) -> list[Claim]:
    """C1 (both metrics), C2 and C3 (three spectral summaries) for every group of `at` (group
    -> its baseline level), from the `gather`ed tables "summary", "distances", "spectra" and
    "volume"."""
    names = list(at)
    return [
        *claim_c1(data["summary"], at),
        *claim_c2(data["distances"], names),
        *claim_c3(data["spectra"], data["volume"], names),
    ]


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    """One row per claim: what it says, for which group, the numbers and the verdict."""
    return pd.DataFrame(
        [{c: getattr(cl, c) for c in CLAIM_COLUMNS} for cl in claims], columns=CLAIM_COLUMNS
    )
