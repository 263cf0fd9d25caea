"""The "reproduce" job: one seed of a paper experiment, trained and then analysed
(`engine.reproduce.reproduce`), in a worker like any job: no browser needs to be open."""

from __future__ import annotations

from typing import Any

from engine.jobs.records import Job, JobKind, Prepared, register_kind
from engine.reproduce import is_reproduced, normalize_payload, payload_spec, reproduce
from engine.store import Store


def _prepare(store: Store, payload: dict[str, Any]) -> Prepared:
    p = normalize_payload(payload)
    run_id = payload_spec(p).run_id
    return Prepared(p, {"reproduce": p, "run_id": run_id}, run_id)


def _execute(job: Job, store: Store, device: Any, reporter: Any) -> dict[str, Any]:
    result = reproduce(store, job.payload, device, reporter)
    if hasattr(reporter, "log"):
        reporter.log(f"reproduced {result['run_id']} in {result['seconds']:.1f} s")
    return result


register_kind(JobKind("reproduce", _prepare, _execute, lambda s, j: is_reproduced(s, j.payload)))
