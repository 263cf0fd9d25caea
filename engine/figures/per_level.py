"""Every per-level quantity as one tidy table against sparsity: the view lottery-ticket papers
draw (a quantity against the weights remaining, on a log axis) and no general tracker offers.

Each quantity names the stored tables it reads and how to reduce them to one value per
(run, branch, level, series); `table` joins the level's sparsity from the summary. Pure
functions of the tables `app.data` reads, so the Sparsity page and its tests share them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from engine.baselines import IMP_LABEL
from engine.figures import palette
from engine.figures.chartkit import points_named
from engine.figures.geometry_charts import with_paths

COLUMNS = ["run_id", "branch", "level", "sparsity", "series", "value"]


@dataclass(frozen=True)
class Quantity:
    title: str
    table: str  # the stored table it reads (`engine.results` or an analysis's, by name)
    rows: Callable[[pd.DataFrame], pd.DataFrame]  # -> run_id, branch, level, series, value
    rate: bool = False  # shown as a percentage


def _final(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def rows(summary: pd.DataFrame) -> pd.DataFrame:
        imp = summary[summary["branch"] == "imp"]
        return imp.assign(series=IMP_LABEL, value=imp[column])

    return rows


def _lambda_max(spectra: pd.DataFrame) -> pd.DataFrame:
    top = points_named(spectra[spectra["rank"] == 1])
    return top.assign(series=top["weights"], value=top["eigenvalue"])


def _by_point(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        named = points_named(frame)
        return named.assign(series=named["weights"], value=named[column])

    return rows


def _distances(distances: pd.DataFrame) -> pd.DataFrame:
    d = distances[(distances["norm"] == "prunable") & ~distances["normalised"].astype(bool)]
    return d.assign(series=d["to"].map(palette.DISTANCE_NAMES), value=d["distance"])


def _barrier(barriers: pd.DataFrame) -> pd.DataFrame:
    b = with_paths(barriers)
    return b.assign(branch="imp", series=b["path_name"], value=b["barrier_test_error"])


QUANTITIES: dict[str, Quantity] = {
    "test_acc": Quantity("final test accuracy", "summary", _final("test_acc"), rate=True),
    "train_loss": Quantity("final training loss", "summary", _final("train_loss")),
    "lambda_max": Quantity("largest Hessian eigenvalue λ_max", "spectra", _lambda_max),
    "trace": Quantity("Hessian trace", "trace", _by_point("trace")),
    "log_volume": Quantity("basin log-volume proxy", "volume", _by_point("log_volume")),
    "distance": Quantity("distance from start_L (prunable weights)", "distances", _distances),
    "barrier": Quantity(
        "error barrier (test) on the path to min_L", "barrier", _barrier, rate=True
    ),
}


def table(name: str, frame: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Quantity `name` from its stored `frame`, one row per (run, branch, level, series), with
    IMP-WR's sparsity at that level from `summary`."""
    if frame.empty or summary.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = QUANTITIES[name].rows(frame)
    rows = rows[rows["branch"] == "imp"][["run_id", "branch", "level", "series", "value"]]
    levels = summary[summary["branch"] == "imp"][["run_id", "level", "sparsity"]]
    out = rows.merge(levels, on=["run_id", "level"], how="inner")
    return out[COLUMNS].dropna(subset=["value"])
