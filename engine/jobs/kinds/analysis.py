"""The "analysis" job: compute one analysis of a stored run (what `python -m engine analyze`
computes), validated and executed by `engine.analysis`."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from engine.config import SpecError
from engine.jobs.records import Job, JobKind, Prepared, register_kind
from engine.store import Store


def _analysis_jobs() -> ModuleType:
    try:
        return importlib.import_module("engine.analysis.jobs")
    except ModuleNotFoundError as e:
        if e.name not in ("engine.analysis", "engine.analysis.jobs"):
            raise
        raise SpecError("kind", "analysis jobs are not available in this version") from None


def _prepare_analysis(store: Store, payload: dict[str, Any]) -> Prepared:
    request = _analysis_jobs().checked_request(store, payload)
    return Prepared(request, request, request.get("run_id"))


def _execute_analysis(job: Job, store: Store, device: Any, reporter: Any) -> dict[str, Any]:
    return _analysis_jobs().execute(store, job.payload, device, reporter)


def _analysis_is_stored(store: Store, job: Job) -> bool:
    return _analysis_jobs().is_stored(store, job.payload)


register_kind(JobKind("analysis", _prepare_analysis, _execute_analysis, _analysis_is_stored))
