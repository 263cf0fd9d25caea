"""How far a run is: the (branch, level) of every training `engine.plan.plan(spec)` lists,
whether all of them are stored, and a `Reporter` wrapper that adds the branch, the level and
the run's done fraction to each progress line.

Below the jobs: the run job and the reproduce job (`engine.jobs.kinds`, `engine.reproduce`)
both report and check a run's training with these, so neither imports the other.
"""

from __future__ import annotations

import re
from typing import Any

from engine.config import RunSpec
from engine.plan import plan
from engine.store import Store

_LABEL = re.compile(r"^(\w+) level (\d+)$")


def planned_levels(spec: RunSpec) -> list[tuple[str, int]]:
    """Every (branch, level) `run_imp` trains for `spec`, in its order (for progress and ETA)."""
    return [(t.branch, t.level) for t in plan(spec)]


def is_trained(store: Store, spec: RunSpec) -> bool:
    """Whether the run is stored with every level of its plan finished."""
    return store.has_run(spec.run_id) and all(
        store.level(spec.run_id, level, branch).done for branch, level in planned_levels(spec)
    )


class RunProgress:
    """A `Reporter` wrapper that adds the branch, level and the run's done fraction."""

    def __init__(self, inner: Any, spec: RunSpec, store: Store):
        self.inner, self.store, self.run_id = inner, store, spec.run_id
        self.plan = planned_levels(spec)
        self.label, self.done = "", 0

    def progress(self, **fields: Any) -> None:
        label = fields.get("label", "")
        if label != self.label:  # a new level: count what is finished (skipped levels too)
            self.label = label
            self.done = sum(self.store.level(self.run_id, lv, br).done for br, lv in self.plan)
        # A stack of trainings reports under its members' labels joined by ", "; each member
        # is one training of the plan, all at the same iteration.
        members = [m for m in map(_LABEL.match, label.split(", ")) if m]
        extra: dict[str, Any] = {}
        if len(members) == 1:
            extra = {"branch": members[0].group(1), "level": int(members[0].group(2))}
        part = max(len(members), 1) * fields["iteration"] / max(fields["total"], 1)
        extra["fraction"] = min((self.done + part) / len(self.plan), 1.0)
        self.inner.progress(**fields, **extra)

    def epoch_done(self, row: dict[str, float], label: str) -> None:
        self.inner.epoch_done(row, label)

    def log(self, line: str) -> None:
        if hasattr(self.inner, "log"):
            self.inner.log(line)

    def cancelled(self) -> bool:
        return self.inner.cancelled()
