"""The "run" job: train (or resume) an IMP-WR run and its baselines.

Thin on purpose: validation is the spec's, execution is `engine.imp`'s and its progress is
`engine.run_progress`'s, so a job computes exactly what `python -m engine run` would.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from engine.config import RunSpec
from engine.jobs.records import Job, JobKind, Prepared, register_kind
from engine.run_progress import RunProgress, is_trained
from engine.store import Store


def _prepare_run(store: Store, payload: dict[str, Any]) -> Prepared:
    spec = RunSpec.from_dict(payload)
    # A relative data folder means "relative to where I submitted", not to the worker's cwd.
    spec = spec.replace(data=spec.data.replace(root=str(Path(spec.data.root).resolve())))
    identity = spec.identity() | {"baselines": spec.baselines.to_dict()}
    return Prepared(spec.to_dict(), identity, spec.run_id)


def _run_is_stored(store: Store, job: Job) -> bool:
    return is_trained(store, RunSpec.from_dict(job.payload))


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
