"""The "run" job: train (or resume) an IMP-WR run and its baselines.

Thin on purpose: validation is the spec's and execution is `engine.imp`'s, so a job computes
exactly what `python -m engine run` would.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from engine.config import RunSpec
from engine.jobs.records import Job, JobKind, Prepared, register_kind
from engine.plan import plan
from engine.store import Store


def _prepare_run(store: Store, payload: dict[str, Any]) -> Prepared:
    spec = RunSpec.from_dict(payload)
    # A relative data folder means "relative to where I submitted", not to the worker's cwd.
    spec = spec.replace(data=spec.data.replace(root=str(Path(spec.data.root).resolve())))
    identity = spec.identity() | {"baselines": spec.baselines.to_dict()}
    return Prepared(spec.to_dict(), identity, spec.run_id)


def planned_levels(spec: RunSpec) -> list[tuple[str, int]]:
    """Every (branch, level) `run_imp` trains for `spec`, in its order (for progress and ETA)."""
    return [(t.branch, t.level) for t in plan(spec)]


def _run_is_stored(store: Store, job: Job) -> bool:
    spec = RunSpec.from_dict(job.payload)
    return store.has_run(spec.run_id) and all(
        store.level(spec.run_id, level, branch).done for branch, level in planned_levels(spec)
    )


_LABEL = re.compile(r"^(\w+) level (\d+)$")


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
        extra: dict[str, Any] = {}
        m = _LABEL.match(label)
        if m:
            extra = {"branch": m.group(1), "level": int(m.group(2))}
        level_part = fields["iteration"] / max(fields["total"], 1)
        extra["fraction"] = min((self.done + level_part) / len(self.plan), 1.0)
        self.inner.progress(**fields, **extra)

    def epoch_done(self, row: dict[str, float]) -> None:
        self.inner.epoch_done(row)

    def log(self, line: str) -> None:
        if hasattr(self.inner, "log"):
            self.inner.log(line)

    def cancelled(self) -> bool:
        return self.inner.cancelled()


def _execute_run(job: Job, store: Store, device: Any, reporter: Any) -> dict[str, Any]:
    from engine.imp import open_run, train_run
    from engine.summaries import summary_text
    from engine.train import Cancelled

    spec = RunSpec.from_dict(job.payload)
    # Checks the data and the rewind point, then registers the run whose folder holds the log.
    ctx = open_run(spec, store, device, RunProgress(reporter, spec, store))
    reporter.log(f"run {spec.run_id} in {store.root}")
    t0 = time.perf_counter()
    try:
        summaries = train_run(ctx)
    except Cancelled:
        store.touch(spec.run_id, status="cancelled")
        raise
    except Exception:
        store.touch(spec.run_id, status="failed")
        raise
    except BaseException:  # the worker is stopping: the job goes back to the queue
        store.touch(spec.run_id, status="queued")
        raise
    reporter.log(summary_text(summaries, title=spec.run_id))
    reporter.log(f"finished in {time.perf_counter() - t0:.1f} s")
    return {"run_id": spec.run_id, "trained": len(summaries)}


register_kind(JobKind("run", _prepare_run, _execute_run, _run_is_stored))
