"""The comparison table: one row per run with what tells runs apart and how they ended.

Pure functions of the tables the app reads (no Streamlit), so the Compare page and its tests
share them: `table` lays out the spec fields that differ among the runs shown (or all of
them), each branch's final and best test accuracy at the run's last level, tags and note;
`parse_filter`/`apply_filter` read a small filter language, clauses joined by `and`:

    prune.rate = 0.2 and seed < 3 and tags ~ baseline

with the operators = != < <= > >= and ~ (contains, for text). A bad clause is refused with
one line that names it and shows the form.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine.annotations import Annotations
from engine.baselines import method_labels
from engine.figures.chartkit import run_label
from engine.figures.palette import METHODS
from engine.groups import differing, flatten

FIXED = ["run", "status", "tags", "note", "levels done"]
OPS = {  # comparisons; `~` (contains) is text matching, in `apply_filter`
    "<=": operator.le,
    ">=": operator.ge,
    "!=": operator.ne,
    "=": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}
CLAUSE = re.compile(r"\s*(?P<field>[^=!<>~]+?)\s*(?P<op><=|>=|!=|=|<|>|~)\s*(?P<value>.*?)\s*")
FORM = "field op value, joined by `and`, e.g. `prune.rate = 0.2 and seed < 3`"


def _text(value: Any) -> Any:
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return value


def outcomes(summary: pd.DataFrame) -> pd.DataFrame:
    """run_id -> per-branch final and best test accuracy at the run's last level of that
    branch, and IMP-WR's sparsity there."""
    if summary.empty:
        return pd.DataFrame(columns=["run_id"])
    last = summary.sort_values("level").groupby(["run_id", "branch"], as_index=False).last()
    wide, labels = {}, method_labels()
    for branch, rows in last.groupby("branch"):
        name = labels.get(str(branch), str(branch))
        frame = rows.set_index("run_id")
        wide[f"{name} final acc"] = frame["test_acc"]
        wide[f"{name} best acc"] = frame["best_test_acc"]
        if branch == "imp":
            wide["sparsity"] = frame["sparsity"]
    order = [f"{m} {k}" for m in METHODS for k in ("final acc", "best acc")]  # the paper's order
    out = pd.DataFrame(wide)
    cols = [c for c in ["sparsity", *order] if c in out.columns]
    return out[cols].reset_index()


def table(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    notes: Mapping[str, Annotations],
    all_fields: bool = False,
) -> pd.DataFrame:
    """One row per run of `runs` (`app.data.runs()`), newest first as given."""
    specs = dict(zip(runs["run_id"], runs["spec"], strict=True))
    fields = sorted({k for s in specs.values() for k in flatten(s)}) if all_fields else None
    shown = fields if fields is not None else differing(specs)
    rows = []
    for rec in runs.itertuples():
        flat = flatten(rec.spec)
        ann = notes.get(rec.run_id, Annotations())
        rows.append(
            {
                "run": run_label(rec.run_id),
                "status": rec.status,
                "tags": ", ".join(ann.tags),
                "note": ann.note,
                "levels done": rec.levels_done,
                **{f: _text(flat.get(f)) for f in shown},
                "run_id": rec.run_id,
            }
        )
    frame = pd.DataFrame(rows, columns=[*FIXED, *shown, "run_id"])
    return frame.merge(outcomes(summary), on="run_id", how="left")


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    value: Any


def _value(text: str) -> Any:
    """A number where the text is one (compared as numbers), else the text unquoted."""
    text = text.strip().strip("\"'")
    return float(text) if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?", text) else text


def parse_filter(text: str, columns: list[str]) -> list[Clause]:
    """Clauses of `text` (empty: no filter); a ValueError names the bad clause."""
    out = []
    for part in filter(None, (p.strip() for p in re.split(r"\s+and\s+", text.strip()))):
        m = CLAUSE.fullmatch(part)
        if m is None or not m["value"]:
            raise ValueError(f"filter: cannot read `{part}`; write {FORM}")
        if m["field"] not in columns:
            known = ", ".join(c for c in columns if c != "run_id")
            raise ValueError(f"filter: no column `{m['field']}` in `{part}`; columns: {known}")
        out.append(Clause(m["field"], m["op"], _value(m["value"])))
    return out


def apply_filter(frame: pd.DataFrame, clauses: list[Clause]) -> pd.DataFrame:
    """The rows for which every clause holds; numbers compare as numbers, the rest as text."""
    keep = pd.Series(True, index=frame.index)
    for c in clauses:
        col = frame[c.field]
        if c.op == "~":
            keep &= col.astype(str).str.contains(str(c.value), case=False, regex=False)
        elif isinstance(c.value, float):
            keep &= OPS[c.op](pd.to_numeric(col, errors="coerce"), c.value).fillna(False)
        else:
            keep &= OPS[c.op](col.astype(str), c.value)
    return frame[keep]
