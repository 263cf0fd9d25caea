"""What a claim is and how one is made: the `Claim` record (its per-level statement, its
overall test and verdict, in words), the rules every claim is judged by, the paired effect
per (seed, level) and `make_claim`.

Below both `engine.claims` (the paper's C1–C3, the verdicts) and `engine.claim_controls` (the
controls, C4), which build their claims with it, so neither imports the other."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from engine.baselines.base import IMP_LABEL
from engine.claim_effects import per_level, per_seed, where
from engine.stats import ALPHA, CONFIDENCE, SeedTest, seed_test

MIXED = "depends on the level"
RULES = (
    f"Per level: the paired difference over seeds, with a pointwise {CONFIDENCE:.0%} Student t "
    "interval for its mean and the exact sign interval for its median (order statistics; "
    "below 6 seeds that cannot reach 95%, so it is [min, max] with its coverage stated, 75% at "
    "3 seeds); a level holds where the t interval lies above 0 and reverses where it lies "
    "below (not corrected across levels). Overall: each seed's mean effect over the levels "
    "every seed has (the seed is the unit of replication; the levels of one seed form a "
    "chain), then a one-sample t test over seeds, one-sided each way, with an exact Wilcoxon "
    "signed-rank test beside it (its smallest p is 1/2^n). Holm's correction over every "
    f"one-sided t test of the report: holds when the claim's direction has Holm p < {ALPHA}, "
    f"does not hold when the opposite direction has Holm p < {ALPHA}, otherwise "
    "inconclusive; one seed is inconclusive. The overall effect averages the levels measured, "
    "so a claim that holds at some levels and reverses at others gets no overall verdict "
    f"('{MIXED}'): an average over its levels would only say which levels were run."
)


@dataclass(frozen=True)
class Claim:
    id: str
    figure: str  # the figure it is drawn in (C1's baselines of one metric share one)
    series: str  # its series there: the baseline's method for C1, IMP-WR otherwise
    axis: str  # that figure's y axis: the effect its claims share
    statement: str
    group: str
    effect: str  # the paired effect in words, oriented so > 0 is the claim's direction
    table: pd.DataFrame  # per (seed, level): the two values compared and `effect`
    levels: pd.DataFrame  # per level: `engine.claim_effects.LEVEL_COLUMNS`
    tested: bool = True  # False: a supporting statistic, stated per level, no verdict
    test: SeedTest | None = None
    covered: list[int] = field(default_factory=list)  # the levels the overall test averages
    note: str = ""
    holm_for: float = math.nan
    holm_against: float = math.nan
    family: int = 0  # how many one-sided tests Holm corrected over
    verdict: str = ""

    @property
    def where(self) -> str:
        return where(self.levels)

    @property
    def overall(self) -> str:
        """The overall test in words (or why there is none)."""
        if self.table.empty:
            return "no pair measured"
        if not self.tested:
            return "a supporting statistic: stated per level, not tested"
        t = self.test
        if t is None or t.summary.n < 2:
            return "one seed: no test (it needs two or more)"
        s = t.summary
        return (
            f"each seed's mean effect over {_levels(self.covered)}: {s.mean:+.3g} "
            f"({CONFIDENCE:.0%} t interval [{s.t_low:.3g}, {s.t_high:.3g}]) over {s.n} seeds; "
            f"one-sided t p = {_fmt(t.t_p_for)} for, {_fmt(t.t_p_against)} against; "
            f"Holm-adjusted over the report's {self.family} tests: {_fmt(self.holm_for)} for, "
            f"{_fmt(self.holm_against)} against; Wilcoxon p = {_fmt(t.w_p_for)} for, "
            f"{_fmt(t.w_p_against)} against"
        )

    @property
    def numbers(self) -> str:
        return f"per level: {self.where}. Overall: {self.overall}"

    @property
    def criterion(self) -> str:
        return f"Effect: {self.effect}, per seed and level (> 0: the claim's direction). {RULES}"


def _fmt(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3g}"


def _levels(levels: list[int]) -> str:
    if not levels:
        return "no level"
    if levels == list(range(levels[0], levels[-1] + 1)) and len(levels) > 1:
        return f"levels {levels[0]}–{levels[-1]}"
    return ("level " if len(levels) == 1 else "levels ") + ", ".join(map(str, levels))


def paired(df: pd.DataFrame, values: str, a: str, b: str, names: tuple[str, str], sign: int):
    """Per (seed, level) of `df` (columns seed, level, `values`, and `what` naming the
    point): the values at `a` and `b`, renamed to `names`, and effect = sign · (a − b)."""
    cols = ["seed", "level", *names, "effect"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    wide = df.pivot_table(index=["seed", "level"], columns="what", values=values)
    if not {a, b} <= set(wide.columns):
        return pd.DataFrame(columns=cols)
    out = wide[[a, b]].dropna().reset_index().rename(columns={a: names[0], b: names[1]})
    out["level"] = out["level"].astype(int)
    return out.assign(effect=sign * (out[names[0]] - out[names[1]]))[cols]


def make_claim(
    cid: str,
    group: str,
    statement: str,
    effect: str,
    table: pd.DataFrame,
    sparsity: Mapping[int, float],
    figure: str | None = None,
    series: str = IMP_LABEL,
    axis: str | None = None,
    tested: bool = True,
    note: str = "",
) -> Claim:
    """A claim from its per-(seed, level) effects: stated per level, and tested overall on
    each seed's mean unless it is a supporting statistic."""
    seeds, covered = per_seed(table)
    return Claim(
        cid,
        figure or cid,
        series,
        axis or effect,
        statement,
        group,
        effect,
        table,
        per_level(table, sparsity),
        tested,
        seed_test(seeds.to_numpy()) if tested and len(seeds) else None,
        covered,
        note,
    )
