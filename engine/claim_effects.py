"""A claim's paired effect per level and its per-seed summary, from one table of effects.

Every claim reduces to `effect` per (seed, level), oriented so that > 0 is the claim's
direction. A claim can hold at some levels and reverse at others, so it is stated per level
first (`per_level`, `where`), with the sparsity of each level; the overall test then takes
one number per seed (`per_seed`), because the levels of one seed are a chain, not replicates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, fields

import pandas as pd

from engine.stats import Interval, interval

HOLDS_AT, REVERSES_AT, UNCLEAR_AT, ONE_SEED = "holds", "reverses", "unclear", "one seed"
LEVEL_COLUMNS = ["level", "sparsity", *(f.name for f in fields(Interval)), "mark"]


def mark(iv: Interval) -> str:
    """A level's reading of its pointwise 95% t interval: above 0 holds, below 0 reverses."""
    if iv.n < 2:
        return ONE_SEED
    if iv.t_low > 0:
        return HOLDS_AT
    if iv.t_high < 0:
        return REVERSES_AT
    return UNCLEAR_AT


def per_level(effects: pd.DataFrame, sparsity: Mapping[int, float]) -> pd.DataFrame:
    """One row per level of `effects` (columns seed, level, effect): the level's sparsity
    (IMP-WR's, NaN where unknown), the `Interval` of its effects over seeds and its `mark`."""
    rows = []
    for level, g in effects.dropna(subset=["effect"]).groupby("level", sort=True):
        iv = interval(g["effect"].to_numpy())
        sp = sparsity.get(int(level), math.nan)
        rows.append({"level": int(level), "sparsity": sp, **asdict(iv), "mark": mark(iv)})
    return pd.DataFrame(rows, columns=LEVEL_COLUMNS)


def _levels_text(levels: list[int]) -> str:
    return f"level {levels[0]}" if len(levels) == 1 else f"levels {levels[0]}–{levels[-1]}"


def _sparsity_text(values: list[float]) -> str:
    known = [v for v in values if not math.isnan(v)]
    if not known:
        return ""
    lo, hi = min(known), max(known)
    return f" ({lo:.1%} sparse)" if lo == hi else f" ({lo:.1%}–{hi:.1%} sparse)"


def where(levels: pd.DataFrame) -> str:
    """Where the claim holds, in words: runs of consecutive levels (of those measured) with
    the same mark, e.g. "holds at levels 1–3 (20.0%–48.8% sparse); reverses at levels 4–10
    (59.0%–89.3% sparse)". Marks are pointwise (not corrected across levels)."""
    if levels.empty:
        return "no level measured"
    parts: list[tuple[str, list[int], list[float]]] = []
    for lv, sp, mk in zip(levels["level"], levels["sparsity"], levels["mark"], strict=True):
        if parts and parts[-1][0] == mk:
            parts[-1][1].append(int(lv))
            parts[-1][2].append(float(sp))
        else:
            parts.append((mk, [int(lv)], [float(sp)]))
    return "; ".join(f"{mk} at {_levels_text(lvs)}{_sparsity_text(sps)}" for mk, lvs, sps in parts)


def per_seed(effects: pd.DataFrame) -> tuple[pd.Series, list[int]]:
    """Each seed's mean effect over the levels that every seed has (so every summary covers
    the same levels, and the test is that of a balanced mixed model), and those levels."""
    d = effects.dropna(subset=["effect"])
    if d.empty:
        return pd.Series(dtype=float), []
    seeds = d["seed"].nunique()
    counts = d.groupby("level")["seed"].nunique()
    complete = sorted(int(lv) for lv in counts[counts == seeds].index)
    kept = d[d["level"].isin(complete)]
    return kept.groupby("seed")["effect"].mean(), complete
