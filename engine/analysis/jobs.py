"""The analysis job: validate a request, plan its units, compute what is missing, store it.

A request is plain data, ``{"run_id", "what", ...options}``; `what` names a registered
analysis (`engine.analysis.registry`), which says everything this executor does not:
`normalize_request` (in `engine.analysis.requests`) checks the request against the store and
fills every default, so two requests for the same computation are the same dict and the job
queue, which keys jobs by its hash, runs it once. `execute` splits it into the analysis's units
(`Analysis.plan`), each stored under the content hash of its inputs (`Unit.key`), and computes
the missing ones (`Analysis.compute`). A repeated request recomputes nothing; an interrupted
one resumes at the first missing unit. Nothing heavy is imported until a unit is computed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.analysis import registry
from engine.analysis.requests import normalize_request
from engine.analysis.units import Unit
from engine.store import Store
from engine.train import Cancelled, NullReporter, Reporter


def checked_request(store: Store, payload: Mapping[str, Any]) -> dict[str, Any]:
    """`payload` normalised (`normalize_request`) and held to its analysis's solver bounds
    (`engine.bounds`: k within the dimension, vectors within memory): what the CLI, the job
    queue and `reproduce` accept before anything is queued or computed. SpecError names the
    option and the fix."""
    from engine.bounds import check_analysis  # torch: loaded when an analysis is asked for

    request = normalize_request(store, payload)
    check_analysis(store, request, registry.get(request["what"]).bounds)
    return request


def plan(store: Store, request: Mapping[str, Any]) -> tuple[list[Unit], list[str]]:
    """The units of a normalised request, and the points skipped because they cannot exist."""
    analysis = registry.get(request["what"])
    result = {o.name for o in analysis.options if o.result}
    opts = {k: v for k, v in request.items() if k in result}
    return analysis.plan(store, request, opts)


@dataclass
class Summary:
    run_id: str
    what: str
    units: int = 0
    computed: int = 0
    cached: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def execute(
    store: Store, request: Mapping[str, Any], device: Any = None, reporter: Reporter | None = None
) -> dict[str, Any]:
    """Compute every unit of `request` that is not stored yet; return a small summary.

    Checks `reporter.cancelled()` before each unit (raising `Cancelled`) and reports progress
    after each; data and model are loaded only if something has to be computed.
    """
    reporter = reporter or NullReporter()
    t0 = time.perf_counter()
    req = normalize_request(store, request)
    run_id, what = req["run_id"], req["what"]
    units, skipped = plan(store, req)
    summary = Summary(run_id, what, len(units), skipped=skipped)
    analysis = registry.get(what)
    ctx = None
    for i, unit in enumerate(units):
        if reporter.cancelled():
            raise Cancelled(f"cancelled after {i} of {len(units)} {what} units")
        key = unit.key(store, run_id)
        stored = store.load_analysis(run_id, what, key)
        if stored is not None:
            summary.cached += 1
            value = analysis.headline(stored["result"])
        else:
            if ctx is None:
                from engine.analysis.context import Context  # torch, data and the solvers

                ctx = Context(store, run_id, device)
            ctx.reporter = reporter
            t1 = time.perf_counter()
            ctx.recalibrated = []
            result = analysis.compute(ctx, unit)
            record = _record(run_id, unit, result, t1, ctx.device)
            if "bn_recalibrate" in unit.options:  # what was done at the unit's points
                record["batchnorm"] = ctx.batchnorm_record(unit.options)
            store.save_analysis(run_id, what, key, record)
            summary.computed += 1
            value = analysis.headline(result)
        reporter.progress(
            label=what,
            unit=unit.label,
            iteration=i + 1,
            total=len(units),
            fraction=(i + 1) / len(units),
            loss=value,
            seconds=time.perf_counter() - t0,
            **{k: v for k, v in unit.ident.items() if k in ("branch", "level")},
        )
    summary.seconds = time.perf_counter() - t0
    return dataclasses.asdict(summary)


def _record(run_id: str, unit: Unit, result: dict, t1: float, device: Any) -> dict:
    return {
        "version": registry.get(unit.what).version,
        "what": unit.what,
        "run_id": run_id,
        "unit": unit.ident,
        "points": {role: str(p) for role, p in unit.points.items()},
        "options": unit.options,
        "result": result,
        "seconds": time.perf_counter() - t1,
        "computed_at": time.time(),
        "device": str(device),
    }


def stored_results(store: Store, request: Mapping[str, Any]) -> list[dict]:
    """The stored records of a request's units (those computed so far), in plan order."""
    req = normalize_request(store, request)
    units, _ = plan(store, req)
    found = (
        store.load_analysis(req["run_id"], req["what"], u.key(store, req["run_id"])) for u in units
    )
    return [r for r in found if r is not None]


def is_stored(store: Store, request: Mapping[str, Any]) -> bool:
    """Whether every unit of `request` is in the store (a finished job's result still holds)."""
    req = normalize_request(store, request)
    units, _ = plan(store, req)
    return all(
        store.load_analysis(req["run_id"], req["what"], u.key(store, req["run_id"])) is not None
        for u in units
    )
