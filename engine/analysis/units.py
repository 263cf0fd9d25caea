"""The cached pieces of an analysis and the usual ways to plan them.

A unit is stored under the content hash of its inputs: the run, the bytes of every checkpoint
and mask it reads, the options that change its numbers and its analysis's `version`. The
planners here cover the common shapes: one unit per point of a level (Hessian, landscape,
pruned start), one per level reading fixed points (distances, instability); analyses with
their own shape (trajectory, interpolation, the loss-matched control) plan in their files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.analysis import registry
from engine.analysis.points import Point, fingerprint, previous_level
from engine.analysis.registry import Planner
from engine.identity import content_hash
from engine.store import Store


@dataclass
class Unit:
    """One cached piece of an analysis: what it is, the points it reads, its options."""

    what: str
    ident: dict[str, Any]  # the columns that name it in tables: branch/level/point or path
    points: dict[str, Point]  # role -> point; their fingerprints enter the key
    options: dict[str, Any]
    label: str
    extra: Any = None

    def key(self, store: Store, run_id: str) -> str:
        prints = {role: fingerprint(store, run_id, p) for role, p in self.points.items()}
        version = registry.get(self.what).version
        blob = [version, self.what, run_id, self.ident, self.options, prints]
        return content_hash(blob)[:32]


def level_ident(request: Mapping[str, Any], branch: str, level: int) -> dict[str, Any]:
    """What names a whole-level unit: its level, and its branch unless only IMP's are used."""
    if registry.get(request["what"]).imp_only:
        return {"level": level}
    return {"branch": branch, "level": level}


LevelUnit = Callable[[Store, Mapping[str, Any], dict[str, Any], str, int], Unit]


def each_level(unit: LevelUnit) -> Planner:
    """One unit per selected (branch, level), made by `unit(store, request, opts, b, L)`."""

    def plan(store: Store, request: Mapping[str, Any], opts: dict[str, Any]):
        levels = request["levels"].items()
        return [unit(store, request, opts, b, lv) for b, lvs in levels for lv in lvs], []

    return plan


def whole_level(*whiches: str) -> Planner:
    """One unit per level reading the points `whiches` of it."""

    def unit(store: Store, request: Mapping[str, Any], opts: dict, branch: str, level: int):
        points = {w: Point(branch, level, w) for w in whiches}
        ident = level_ident(request, branch, level)
        return Unit(request["what"], ident, points, opts, f"{branch} level {level}")

    return each_level(unit)


def at_points(whiches: tuple[str, ...] | None = None) -> Planner:
    """One unit per point of each selected level: `whiches`, or the request's `points`.
    Pr_L(min_(L−1)) of a level without a previous one is skipped (and reported)."""

    def plan(store: Store, request: Mapping[str, Any], opts: dict[str, Any]):
        run_id, units, skipped = request["run_id"], [], []
        for branch, levels in request["levels"].items():
            for level in levels:
                for w in whiches or request["points"]:
                    p = Point(branch, level, w)
                    if (
                        w == "projected_prev"
                        and previous_level(store, run_id, branch, level) is None
                    ):
                        skipped.append(str(p))
                        continue
                    ident = {"branch": branch, "level": level, "point": w}
                    units.append(Unit(request["what"], ident, {"point": p}, opts, str(p)))
        return units, skipped

    return plan
