"""An analysis request checked against the store, with every default filled explicitly (the
branches and levels it resolves to, the interpolation paths), so two requests for the same
computation are the same dict and the job queue, which keys jobs by its hash, runs it once.
Bad input raises a SpecError naming the option and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.analysis.options import (
    ANALYSES,
    IMP_ONLY,
    OPTIONS,
    POINT_DEFAULTS,
    as_list,
    options_for,
)
from engine.analysis.points import Point, exists, previous_level
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
    if what not in ANALYSES:
        raise SpecError(
            "what", f"{what!r} is not an analysis; choose one of: {', '.join(ANALYSES)}"
        )
    allowed = options_for(what)
    for key, value in request.items():
        if key in ("run_id", "what") or value is None:
            continue
        if key not in OPTIONS:
            raise SpecError(key, f"unknown option; options for {what}: {', '.join(allowed)}")
        if key not in allowed:
            raise SpecError(key, f"does not apply to {what}; its options are: {', '.join(allowed)}")
    if "points" in allowed and request.get("points") is None:
        request = {**request, "points": POINT_DEFAULTS.get(what, POINT_DEFAULTS["*"])}
    opts = {}
    for name in allowed:
        value = request.get(name, OPTIONS[name].default)
        opts[name] = OPTIONS[name].parse(name, value) if value is not None else None
    if what == "interpolation" and opts["paths"] is not None:
        if request.get("levels") is not None or request.get("branches") is not None:
            raise SpecError("paths", "give either paths or branches/levels, not both")
        opts.pop("branches"), opts.pop("levels")
        opts["paths"] = [_check_path(store, run_id, p) for p in as_list("paths", opts["paths"])]
        if not opts["paths"]:
            raise SpecError(
                "paths", "name at least one path, e.g. imp:1:projected_prev->imp:1:solution"
            )
    else:
        _select(store, run_id, what, opts)
        if what == "interpolation":
            opts["paths"] = _default_paths(opts.pop("levels"))
            opts.pop("branches")
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


# The points an analysis reads when it has no `points` option and needs other than the three
# of a level (start, Pr_L(min_(L−1)), solution).
NEEDS = {"instability": ("start", "solution")}


def _needed(opts: dict, branch: str, level: int, what: str) -> list[Point]:
    """The points of (branch, level) an analysis reads: its `points`, `NEEDS`, or the three
    of §2."""
    whiches = opts.get("points") or NEEDS.get(what) or ("start", "projected_prev", "solution")
    return [Point(branch, level, w) for w in whiches]


def _problem(
    store: Store, run_id: str, what: str, opts: dict, branch: str, level: int
) -> str | None:
    """Why (branch, level) cannot be analysed by `what`, or None."""
    no_prev = previous_level(store, run_id, branch, level) is None
    only_prev = opts.get("points", ["projected_prev"]) == ["projected_prev"]
    if no_prev and only_prev and what not in NEEDS:
        return "level 0 has no previous level"
    if what == "trajectory" and not exists(store, run_id, Point(branch, level - 1)):
        return f"level {level - 1} is not finished"
    for p in _needed(opts, branch, level, what):
        if p.which == "projected_prev" and no_prev:
            continue  # the level's other points are still analysed; this one is skipped
        if not exists(store, run_id, p):
            return f"{p} is not stored (is the level finished? see `python -m engine show`)"
    return None


def _select(store: Store, run_id: str, what: str, opts: dict) -> None:
    """Resolve branches and levels in `opts` to an explicit {branch: [levels]}."""
    imp_only = what in IMP_ONLY
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
            out[b] = [lv for lv in stored if _problem(store, run_id, what, opts, b, lv) is None]
            continue
        out[b] = _levels("levels", wanted)
        for lv in out[b]:
            if lv not in stored:
                raise SpecError(
                    "levels",
                    f"branch {b} has no level {lv}; it has: "
                    f"{', '.join(map(str, stored)) or 'none'}",
                )
            why = _problem(store, run_id, what, opts, b, lv)
            if why is not None:
                raise SpecError("levels", f"{what} cannot use {b} level {lv}: {why}")
    if not any(out.values()):
        raise SpecError(
            "levels", f"nothing to analyse: no finished level of {', '.join(branches)} suits {what}"
        )
    if not imp_only:
        opts["branches"] = branches
    opts["levels"] = out


def _check_path(store: Store, run_id: str, text: Any) -> str:
    parts = str(text).split("->")
    if len(parts) != 2:
        raise SpecError(
            "paths",
            f"{text!r} is not a path; write A->B, e.g. imp:1:projected_prev->imp:1:solution",
        )
    try:
        a, b = (Point.parse(p) for p in parts)
    except ValueError as e:
        raise SpecError("paths", str(e)) from None
    for p in (a, b):
        if not exists(store, run_id, p):
            raise SpecError("paths", f"{p} is not stored in {run_id}")
    return f"{a}->{b}"


def _default_paths(levels: dict[str, list[int]]) -> list[str]:
    out = []
    for b, lvs in levels.items():
        for lv in lvs:
            out.append(f"{b}:{lv}:projected_prev->{b}:{lv}:solution")
            if b == "imp":
                out.append(f"imp:{lv - 1}:solution->imp:{lv}:solution")
    return out
