"""Follow-ups: the requests a job carries in `then`, which the queue submits when it is done.

`first_look(spec)` is the one list of analyses the app asks for after a launched run (read from
the analysis registry), so a run submitted with `then=first_look(spec)` is analysed by the
worker that trains it, with no browser open.

Before follow-ups, the app kept the runs to analyse in ``<store>/app/analyse_after.json`` and
queued their analyses only while a signed-in tab polled. `adopt_analyse_after` turns such a
file into follow-ups once (a worker calls it when it starts) and removes it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from engine import paths
from engine.analysis import registry
from engine.config import RunSpec, SpecError
from engine.jobs.queue import ACTIVE, JobQueue
from engine.jobs.records import follow_up, job_kind
from engine.store import StoreError

log = logging.getLogger("engine")


def first_look(spec: RunSpec) -> list[dict[str, Any]]:
    """The analyses queued when a launched run finishes training, as follow-ups of its run
    job: each registered analysis's `first_look` options (`engine.analysis.registry`),
    cheapest first so pages fill in early. They start light (top-20 eigenvalues, the last
    level's landscape) so a laptop shows every chart within minutes; each page's "other
    settings" form queues an analysis's defaults on request. Analyses that train networks
    (instability) have none; the pages offer them."""
    return [
        follow_up("analysis", {"run_id": spec.run_id, "what": what, **options})
        for what, options in registry.first_look(spec)
    ]


def adopt_analyse_after(queue: JobQueue) -> list[str]:
    """Give the runs listed in an old ``analyse_after.json`` their first look as follow-ups
    (of their active run job, or queued now when it is done), then delete the file. Return
    the runs adopted; a run whose job failed, was cancelled or is gone gets nothing, as
    before."""
    path = paths.analyse_after(queue.root)
    try:
        run_ids = [str(r) for r in json.loads(path.read_text())]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError) as e:
        log.warning(f"ignored {path}: not a list of run ids ({e})")
        run_ids = []
    newest = {}
    for job in queue.list():  # newest first
        if job.kind == "run" and job.run_id in run_ids:
            newest.setdefault(job.run_id, job)
    adopted = []
    for run_id, job in newest.items():
        finished = job.status == "done" and job_kind("run").result_exists(queue.store, job)
        if job.status not in ACTIVE and not finished:  # failed, cancelled, or run deleted
            continue
        spec = RunSpec.from_dict(job.payload)
        try:
            queue.submit("run", job.payload, job.owner, then=first_look(spec))
        except (SpecError, StoreError) as e:
            log.warning(f"first look at {run_id} not queued: {e}")
            continue
        adopted.append(run_id)
    path.unlink(missing_ok=True)
    return adopted
