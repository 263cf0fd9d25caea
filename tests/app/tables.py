"""Synthetic tables with the exact columns of `engine.results` and `engine.analysis.tables`.

The chart builders and the page tests use these so they do not depend on training or on the
analyses; the column lists are the contract the app reads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BRANCHES = ("imp", "one_shot", "ft", "ripn", "rpn1", "rpn2")


def metrics(run_id: str = "run-a", levels: int = 3, epochs: int = 4) -> pd.DataFrame:
    rows = []
    for branch in BRANCHES:
        lvls = range(levels + 1) if branch == "imp" else [levels]
        for level in lvls:
            sparsity = 1 - 0.8**level
            for epoch in range(1, epochs + 1):
                loss = 2.0 / epoch * (1 + level / 10) * (1 + BRANCHES.index(branch) / 5)
                rows.append(
                    {
                        "run_id": run_id,
                        "branch": branch,
                        "level": level,
                        "sparsity": sparsity,
                        "epoch": float(epoch),
                        "iteration": float(epoch * 67),
                        "lr": 1.2e-3,
                        "train_loss": loss,
                        "train_acc": 1 - loss / 4,
                        "test_loss": loss * 1.1,
                        "test_acc": 0.9 - level / 100 - BRANCHES.index(branch) / 50,
                        "seconds": epoch * 0.1,
                    }
                )
    return pd.DataFrame(rows)


def summary(run_id: str = "run-a", levels: int = 3) -> pd.DataFrame:
    m = metrics(run_id, levels)
    last = m.sort_values("epoch").groupby(["branch", "level"], as_index=False).last()
    return last.assign(kept=100, total=1000, best_test_acc=last["test_acc"], epochs=4)


def _levels(levels: int):
    return range(1, levels + 1)


def distances(run_id: str = "run-a", levels: int = 3) -> pd.DataFrame:
    rows = [
        {
            "run_id": run_id,
            "branch": "imp",
            "level": L,
            "norm": "prunable",
            "normalised": norm,
            "to": to,
            "distance": (L + (to == "solution")) * (0.1 if norm else 1.0),
        }
        for L in _levels(levels)
        for to in ("projected_prev", "solution")
        for norm in (False, True)
    ]
    return pd.DataFrame(rows)


def trajectory(run_id: str = "run-a", levels: int = 3, epochs: int = 4) -> pd.DataFrame:
    rows = [
        {
            "run_id": run_id,
            "level": L,
            "epoch": e,
            "series": series,
            "train_loss": (2.0 if series == "level L-1 projected" else 1.0) / e,
        }
        for L in _levels(levels)
        for e in range(1, epochs + 1)
        for series in ("level L", "level L-1 projected")
    ]
    return pd.DataFrame(rows)


def pruned_start(run_id: str = "run-a", levels: int = 3) -> pd.DataFrame:
    rows = [
        {
            "run_id": run_id,
            "branch": "imp",
            "level": L,
            "point": point,
            "train_loss": 0.1 * L + (point == "projected_prev"),
            "train_acc": 0.99 - 0.01 * L,
            "test_loss": 0.2 * L,
            "test_acc": 0.97 - 0.01 * L,
        }
        for L in _levels(levels)
        for point in ("projected_prev", "solution")
    ]
    return pd.DataFrame(rows)


def spectra(run_id: str = "run-a", levels: int = 3, k: int = 10) -> pd.DataFrame:
    rows = [
        {
            "run_id": run_id,
            "branch": "imp",
            "level": L,
            "point": point,
            "rank": r,
            "eigenvalue": (50.0 if point == "projected_prev" else 20.0) / r - (r == k) * 3,
        }
        for L in _levels(levels)
        for point in ("solution", "projected_prev")
        for r in range(1, k + 1)
    ]
    return pd.DataFrame(rows)


def volume(run_id: str = "run-a", levels: int = 3) -> pd.DataFrame:
    rows = [
        {
            "run_id": run_id,
            "branch": "imp",
            "level": L,
            "point": point,
            "k": 10,
            "k_positive": 9,
            "n_negative": 1,
            "log_volume": -L - (point == "projected_prev"),
        }
        for L in _levels(levels)
        for point in ("solution", "projected_prev")
    ]
    return pd.DataFrame(rows)


def trace(run_id: str = "run-a", levels: int = 3) -> pd.DataFrame:
    rows = [
        {
            "run_id": run_id,
            "branch": "imp",
            "level": L,
            "point": point,
            "trace": 100.0 * L,
            "stderr": 5.0,
        }
        for L in _levels(levels)
        for point in ("solution", "projected_prev")
    ]
    return pd.DataFrame(rows)


def density(run_id: str = "run-a", levels: int = 3) -> pd.DataFrame:
    grid = np.linspace(-1, 10, 12)
    rows = [
        {
            "run_id": run_id,
            "branch": "imp",
            "level": L,
            "point": point,
            "eigenvalue": float(x),
            "density": float(np.exp(-abs(x))),
        }
        for L in _levels(levels)
        for point in ("solution", "projected_prev")
        for x in grid
    ]
    return pd.DataFrame(rows)


# The analysis's default paths at levels 1 and 2 (`engine.analysis.requests._default_paths`).
PATHS = (
    "imp:1:projected_prev->imp:1:solution",
    "imp:0:solution->imp:1:solution",
    "imp:2:projected_prev->imp:2:solution",
    "imp:1:solution->imp:2:solution",
)


def interpolation(run_id: str = "run-a") -> pd.DataFrame:
    rows = [
        {
            "run_id": run_id,
            "path": path,
            "alpha": a,
            "train_loss": 0.1 + a * (1 - a),
            "train_acc": 0.99 - a * (1 - a) / 10,
            "test_loss": 0.2 + a * (1 - a),
            "test_acc": 0.97 - a * (1 - a) / 10,
        }
        for path in PATHS
        for a in np.linspace(0, 1, 11)
    ]
    return pd.DataFrame(rows)


def barrier(run_id: str = "run-a") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "run_id": run_id,
                "path": path,
                "barrier_train_loss": 0.25,
                "barrier_test_error": 0.025,
            }
            for path in PATHS
        ]
    )


def instability(run_id: str = "run-a", levels: int = 3) -> pd.DataFrame:
    """The instability table: each level's barrier between min_L and its second copy."""
    return pd.DataFrame(
        [
            {
                "run_id": run_id,
                "level": level,
                "barrier_test_error": 0.004 / (level + 1),
                "barrier_train_loss": 0.01 / (level + 1),
                "copy_seed": 7,
            }
            for level in range(levels + 1)
        ]
    )


def landscape(run_id: str = "run-a", level: int = 2, n: int = 7) -> pd.DataFrame:
    grid = np.linspace(-1, 1, n)
    rows = [
        {
            "run_id": run_id,
            "branch": "imp",
            "level": level,
            "x": float(x),
            "y": float(y),
            "train_loss": 0.05 + x * x + 2 * y * y,
        }
        for x in grid
        for y in grid
    ]
    return pd.DataFrame(rows)


ANALYSES = {
    "distances": distances,
    "trajectory": trajectory,
    "pruned_start": pruned_start,
    "spectra": spectra,
    "volume": volume,
    "trace": trace,
    "density": density,
    "interpolation": interpolation,
    "barrier": barrier,
    "landscape": landscape,
}
