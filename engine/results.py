"""Stored results as tidy tables (one row per observation), the form the app and reports read."""

from __future__ import annotations

from typing import Any

import pandas as pd

from engine.masks import sparsity
from engine.store import LevelDir, Store

METRIC_COLUMNS = [
    "run_id",
    "branch",
    "level",
    "sparsity",
    "epoch",
    "iteration",
    "lr",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "seconds",
]
LAYER_COLUMNS = ["run_id", "branch", "level", "layer", "kept", "total", "sparsity"]
SUMMARY_COLUMNS = [
    "run_id",
    "branch",
    "level",
    "sparsity",
    "kept",
    "total",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "best_test_acc",
    "epochs",
    "seconds",
]


def level_summaries(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Every finished level of every branch, IMP first, as stored in its done.json."""
    out = []
    for branch in sorted(store.branches(run_id), key=lambda b: (b != "imp", b)):
        for lv in store.levels(run_id, branch):
            s = store.level(run_id, lv, branch).summary()
            if s is not None:
                out.append(s)
    return out


def summary_table(store: Store, run_id: str) -> pd.DataFrame:
    rows = [{"run_id": run_id, **s} for s in level_summaries(store, run_id)]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def layers_table(store: Store, run_id: str) -> pd.DataFrame:
    """Per-layer counts of every finished level (its done.json's `layers`): where IMP prunes."""
    rows = [
        {"run_id": run_id, "branch": s["branch"], "level": s["level"], **layer}
        for s in level_summaries(store, run_id)
        for layer in s.get("layers", [])
    ]
    return pd.DataFrame(rows, columns=LAYER_COLUMNS)


def metrics_table(store: Store, run_id: str) -> pd.DataFrame:
    """Per-epoch metrics of every level of every branch, finished or still training."""
    levels = [(b, lv) for b in store.branches(run_id) for lv in store.levels(run_id, b)]
    return stack_metrics([level_metrics(store, run_id, b, lv) for b, lv in levels])


def level_metrics(store: Store, run_id: str, branch: str, level: int) -> pd.DataFrame:
    """One level's per-epoch metrics (no rows before its first epoch ends): what changes
    while a run trains, so the app re-reads only this."""
    lv = store.level(run_id, level, branch)
    rows = lv.read_metrics()
    if not rows:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    frame = pd.DataFrame(rows).assign(
        run_id=run_id, branch=branch, level=level, sparsity=_sparsity(lv)
    )
    return frame[METRIC_COLUMNS]


def stack_metrics(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Levels' metric frames as one table (empty, with its columns, when none has rows)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def _sparsity(lv: LevelDir) -> float:
    done = lv.summary()
    if done is not None:
        return float(done["sparsity"])
    if not lv.has_mask():
        return float("nan")
    return sparsity(lv.load_mask())
