"""Replicates: runs whose specs differ only in the seed form a *group*, and their stored
tables are gathered into one frame with the group and seed on every row, then aggregated
over seeds (figures) or paired by seed (claims, `engine.claims`).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from engine.config import RunSpec, content_hash
from engine.groups import band
from engine.store import Store

AGG = ["n", "mean", "sd", "low", "high"]


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
    """Per `by` cell: seeds counted, mean, sample sd (NaN with one seed), min and max (the
    report's band; `engine.groups.band` computes every band the app and the report draw)."""
    return band(df, by, value, "minmax")[[*by, *AGG]]


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
    """The level each group's baselines were trained at (Fig. 2 shows them there)."""
    return {g: s.baseline_level for g, s in group_specs(store, groups).items()}


def group_specs(store: Store, groups: dict[str, list[str]]) -> dict[str, RunSpec]:
    """Each group's spec (its first run's; replicates differ only in the seed)."""
    return {g: store.load_spec(ids[0]) for g, ids in groups.items()}


def level_sparsity(summary: pd.DataFrame, group: str) -> dict[int, float]:
    """IMP-WR's mean sparsity per level in `group` (the baselines match it)."""
    if summary.empty:
        return {}
    s = summary[(summary["group"] == group) & (summary["branch"] == "imp")]
    return {int(lv): float(v) for lv, v in s.groupby("level")["sparsity"].mean().items()}
