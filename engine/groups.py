"""Groups of runs and the band drawn around each group's mean.

Researchers compare settings, not seeds: runs whose specs agree on the fields that matter
form a group, and a chart shows the group's mean with a band and its number of runs. Which
fields matter is the user's choice; by default every field that differs among the runs
shown except the seed, so seeds are aggregated away. The band is the user's choice too:
±1 standard deviation, ±1 standard error of the mean, or the min–max range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

BANDS = {"sd": "± 1 s.d.", "se": "± 1 s.e.", "minmax": "min–max"}
SEED = "seed"
STATS = ["n", "mean", "sd", "se", "low", "high"]


def flatten(spec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"train": {"lr": 1e-3}}` -> `{"train.lr": 1e-3}`; lists become tuples (hashable)."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = tuple(value) if isinstance(value, list) else value
    return out


def differing(specs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The spec fields (dotted paths) whose values are not the same for every run."""
    flat = [flatten(s) for s in specs.values()]
    fields = sorted({k for f in flat for k in f})
    return [k for k in fields if len({repr(f.get(k)) for f in flat}) > 1]


def group_labels(
    specs: Mapping[str, Mapping[str, Any]], fields: Sequence[str] | None = None
) -> dict[str, str]:
    """run id -> its group's label, from the values of `fields` (default: every differing
    field but the seed). Runs that agree on all of them share a label; with nothing to tell
    them apart every run is in one group named "all runs"."""
    chosen = [f for f in differing(specs) if f != SEED] if fields is None else list(fields)
    out = {}
    for run_id, spec in specs.items():
        flat = flatten(spec)
        parts = [f"{f}={_text(flat.get(f))}" for f in chosen]
        out[run_id] = " · ".join(parts) if parts else "all runs"
    return out


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def band(df: pd.DataFrame, by: list[str], value: str, kind: str = "sd") -> pd.DataFrame:
    """Per `by` cell: runs counted, mean, sample s.d. (NaN with one run), standard error,
    and the band's `low`/`high` edges for `kind` (see BANDS). A single run's band is its
    value: no spread is invented."""
    if kind not in BANDS:
        raise ValueError(f"band: {kind!r} is not one of {', '.join(BANDS)}")
    d = df.dropna(subset=[value])
    if d.empty:
        return pd.DataFrame(columns=[*by, *STATS])
    g = d.groupby(by, sort=True, dropna=False)[value]
    out = pd.DataFrame({"n": g.count(), "mean": g.mean(), "sd": g.std(ddof=1)})
    out["se"] = out["sd"] / out["n"].map(math.sqrt)
    if kind == "minmax":
        out["low"], out["high"] = g.min(), g.max()
    else:
        half = out[kind].fillna(0.0)
        out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    return out.reset_index()[[*by, *STATS]]
