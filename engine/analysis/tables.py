"""Stored analyses as tidy tables (one row per observation), the form the app reads.

Each analysis registers its tables (`engine.analysis.registry.Table`: the rows of one stored
record, and fixed columns); one without its own gets a generic table of its results' scalars.
`table(name, store, run_id)` is empty, with the table's columns, when nothing is stored. When
a unit was computed more than once with different options (say k = 20, then k = 100), the
most recently computed result is the one shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from engine import paths
from engine.analysis import registry
from engine.store import Store, StoreError

POINT = ("run_id", "branch", "level", "point")
PATH_ROW = ("train_loss", "train_acc", "test_loss", "test_acc")  # a point of a path


def latest_records(store: Store, run_id: str, what: str) -> list[dict]:
    """Stored results of analysis `what`, the newest per unit, in a stable order."""
    folder = paths.analyses(store.run_path(run_id))
    newest: dict[str, dict] = {}
    for path in sorted(folder.glob(f"{what}-*.json")) if folder.is_dir() else []:
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a foreign or damaged file is not a result
        if rec.get("what") != what:
            continue
        ident = json.dumps(rec["unit"], sort_keys=True)
        if ident not in newest or rec["computed_at"] > newest[ident]["computed_at"]:
            newest[ident] = rec
    return sorted(newest.values(), key=_order)


def _order(rec: dict) -> tuple:
    u = rec["unit"]
    return (
        u.get("branch", "") != "imp",
        u.get("branch", ""),
        u.get("level", -1),
        str(u.get("point", "")),
        str(u.get("path", "")),
    )


def ident(rec: dict, *keys: str) -> dict[str, Any]:
    """A stored record's row identity: its run, then its unit's `keys` (branch, level, point,
    path: what names the unit in the tables)."""
    return {"run_id": rec["run_id"], **{k: rec["unit"][k] for k in keys}}


def point_row(rec: dict) -> dict[str, Any]:
    """The identity of a unit at one point: its run, branch, level and point."""
    return ident(rec, "branch", "level", "point")


def each_row(*keys: str) -> Callable[[dict], list[dict]]:
    """A table's rows for an analysis whose result holds `rows` (one per step along a path or
    trajectory): each with the record's identity (`ident` of `keys`) in front."""

    def rows(rec: dict) -> list[dict]:
        base = ident(rec, *keys)
        return [base | row for row in rec["result"]["rows"]]

    return rows


def columns(name: str) -> list[str]:
    """Table `name`'s columns (for a generic table, those any unit has: the run)."""
    cols = registry.table_source(name)[1].columns
    return list(cols) if cols is not None else ["run_id"]


def frame(name: str, records: Iterable[dict], cols: Iterable[str] | None = None) -> pd.DataFrame:
    """Table `name` built from stored records of its analysis (any subset of them)."""
    spec = registry.table_source(name)[1]
    rows = [row for rec in records for row in spec.rows(rec)]
    chosen = list(cols) if cols is not None else spec.columns
    if chosen is None:  # a generic table: the rows' own columns, the run first
        df = pd.DataFrame(rows)
        return df if len(df) else pd.DataFrame(columns=columns(name))
    return pd.DataFrame(rows, columns=list(chosen))


def table(name: str, store: Store, run_id: str) -> pd.DataFrame:
    """Table `name` of one run: the newest record of each unit, those its spec keeps."""
    analysis, spec = registry.table_source(name)
    try:
        records = latest_records(store, run_id, analysis.name)
    except StoreError:
        records = []
    if spec.keep is not None:
        records = [r for r in records if spec.keep(r)]
    return frame(name, records)
