"""An analysis request checked against the store, with every default filled explicitly (the
branches and levels it resolves to, the interpolation paths), so two requests for the same
computation are the same dict and the job queue, which keys jobs by its hash, runs it once.
Bad input raises a SpecError naming the option and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.analysis import registry
from engine.analysis.options import as_list
from engine.analysis.points import Point, exists, previous_level
from engine.analysis.registry import Analysis
from engine.config import SpecError
from engine.store import Store, StoreError, check_name


def normalize_request(store: Store, request: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `request` against the store and fill every default; idempotent.

    Raises SpecError naming the bad field and what is allowed.
    """
    if not isinstance(request, Mapping):
        raise SpecError("request", f"expected a table of settings, got {request!r}")
    run_id = request.get("run_id")
    try:
        if not isinstance(run_id, str) or not store.has_run(check_name(run_id)):
            raise SpecError("run_id", f"no run {run_id!r} in {store.runs_dir}")
    except StoreError as e:
        raise SpecError("run_id", str(e)) from None
    what = request.get("what")
    if not isinstance(what, str) or what not in registry.names():
        raise SpecError(
            "what", f"{what!r} is not an analysis; choose one of: {', '.join(registry.names())}"
        )
    analysis = registry.get(what)
    allowed = analysis.option_names
    known = registry.options()
    for key, value in request.items():
        if key in ("run_id", "what") or value is None:
            continue
        if key not in known:
            raise SpecError(key, f"unknown option; options for {what}: {', '.join(allowed)}")
        if key not in allowed:
            raise SpecError(key, f"does not apply to {what}; its options are: {', '.join(allowed)}")
    if "points" in allowed and request.get("points") is None:
        request = {**request, "points": list(analysis.default_points)}
    opts = {}
    for o in analysis.options:
        value = request.get(o.name, o.default)
        opts[o.name] = o.parse(o.name, value) if value is not None else None
    (analysis.select or select_levels)(store, analysis, request, opts)
    return {"run_id": run_id, "what": what, **opts}


def _branches(store: Store, run_id: str, value: Any) -> list[str]:
    stored = store.branches(run_id)
    wanted = as_list("branches", value)
    if wanted == ["all"]:
        return stored
    for b in wanted:
        if b not in stored:
            raise SpecError(
                "branches",
                f"{b!r} is not a branch of {run_id}; choose from: {', '.join(stored)} or all",
            )
    if not wanted:
        raise SpecError("branches", "name at least one branch")
    return sorted(set(wanted), key=wanted.index)


def _levels(name: str, value: Any) -> list[int]:
    out = []
    for v in as_list(name, value):
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise SpecError(name, f"{v!r} is not a level number")
        out.append(v)
    return sorted(set(out))


def _needed(analysis: Analysis, opts: dict, branch: str, level: int) -> list[Point]:
    """The points of (branch, level) an analysis reads: its `points`, else its `needs`."""
    return [Point(branch, level, w) for w in opts.get("points") or analysis.needs]


def _problem(
    store: Store, run_id: str, analysis: Analysis, opts: dict, branch: str, level: int
) -> str | None:
    """Why (branch, level) cannot be analysed by `analysis`, or None."""
    no_prev = previous_level(store, run_id, branch, level) is None
    if "points" in opts:  # measured point by point: only a level of nothing else is refused
        only_prev = opts["points"] == ["projected_prev"]
    else:
        only_prev = "projected_prev" in analysis.needs
    if no_prev and only_prev:
        return "level 0 has no previous level"
    if analysis.level_problem is not None:
        why = analysis.level_problem(store, run_id, branch, level)
        if why is not None:
            return why
    for p in _needed(analysis, opts, branch, level):
        if p.which == "projected_prev" and no_prev:
            continue  # the level's other points are still analysed; this one is skipped
        if not exists(store, run_id, p):
            return f"{p} is not stored (is the level finished? see `python -m engine show`)"
    return None


def select_levels(store: Store, analysis: Analysis, request: Mapping[str, Any], opts: dict) -> None:
    """Resolve branches and levels in `opts` to an explicit {branch: [levels]}."""
    run_id, what, imp_only = request["run_id"], analysis.name, analysis.imp_only
    branches = ["imp"] if imp_only else _branches(store, run_id, opts["branches"])
    given = opts["levels"]
    if isinstance(given, Mapping):
        extra = sorted(set(given) - set(branches))
        if extra:
            raise SpecError("levels", f"names branch {extra[0]!r} that is not selected")
    out: dict[str, list[int]] = {}
    for b in branches:
        stored = store.levels(run_id, b)
        wanted = given.get(b) if isinstance(given, Mapping) else given
        if wanted is None:
            out[b] = [lv for lv in stored if _problem(store, run_id, analysis, opts, b, lv) is None]
            continue
        out[b] = _levels("levels", wanted)
        for lv in out[b]:
            if lv not in stored:
                raise SpecError(
                    "levels",
                    f"branch {b} has no level {lv}; it has: "
                    f"{', '.join(map(str, stored)) or 'none'}",
                )
            why = _problem(store, run_id, analysis, opts, b, lv)
            if why is not None:
                raise SpecError("levels", f"{what} cannot use {b} level {lv}: {why}")
    if not any(out.values()):
        raise SpecError(
            "levels", f"nothing to analyse: no finished level of {', '.join(branches)} suits {what}"
        )
    if not imp_only:
        opts["branches"] = branches
    opts["levels"] = out
