"""Named points of a stored run, resolved to weights and a mask.

A point is `branch:level:which`, e.g. ``imp:3:solution``. `which` is one of

- ``solution``: the level's final weights, `min_L`;
- ``start``: the weights the level began from (for IMP-WR `W^{Pr(rewind_point)}_(L)`);
- ``projected_prev``: `Pr_L(min_(L-1))`, the solution this level was pruned from, projected
  on this level's mask: the previous IMP level for ``imp``, the previous FT level for ``ft``
  (IMP's level 0 before FT's level 1), and IMP's level 0 for the baselines that prune or
  re-draw from the dense solution (``one_shot``, ``ripn``, ``rpn1``, ``rpn2``);
- ``epNNN``: the level's checkpoint after epoch NNN.

Every point carries the mask of its own level. A point's `fingerprint` hashes the bytes of the
files it is made from, so an analysis keyed on it is recomputed exactly when they change.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from engine import atomic, paths
from engine import masks as M
from engine.store import LevelDir, Store, StoreError

WHICH = ("solution", "start", "projected_prev")
_EPOCH = re.compile(r"^ep\d{3,}$")
_BRANCH = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def check_which(which: str) -> str:
    if which not in WHICH and not _EPOCH.match(which):
        raise ValueError(f"{which!r} is not a point; use one of {', '.join(WHICH)} or epNNN")
    return which


@dataclass(frozen=True, order=True)
class Point:
    branch: str
    level: int
    which: str = "solution"

    def __post_init__(self) -> None:
        check_which(self.which)
        if not _BRANCH.match(self.branch):
            raise ValueError(f"{self.branch!r} is not a branch name")
        if self.level < 0:
            raise ValueError(f"level must be 0 or more, got {self.level}")

    @classmethod
    def parse(cls, text: str) -> Point:
        """``branch:level[:which]`` (which defaults to ``solution``)."""
        parts = str(text).strip().split(":")
        if len(parts) not in (2, 3) or not parts[1].strip().isdigit():
            raise ValueError(
                f"{text!r} is not a point; write branch:level:which, e.g. imp:3:solution"
            )
        which = parts[2].strip() if len(parts) == 3 else "solution"
        return cls(parts[0].strip(), int(parts[1]), which)

    def __str__(self) -> str:
        return f"{self.branch}:{self.level}:{self.which}"


@dataclass
class Resolved:
    """A point's weights (a full state dict, on the CPU) and the mask of its level."""

    point: Point
    state: dict[str, Tensor]
    mask: dict[str, Tensor]


def previous_level(store: Store, run_id: str, branch: str, level: int) -> LevelDir | None:
    """The level whose solution `branch`'s level `level` was pruned from (None at IMP level 0)."""
    if branch == "imp":
        return store.level(run_id, level - 1) if level > 0 else None
    if branch == "ft" and level > 1:
        return store.level(run_id, level - 1, "ft")
    return store.level(run_id, 0)


def _level(store: Store, run_id: str, point: Point) -> LevelDir:
    if point.level not in store.levels(run_id, point.branch):
        have = store.levels(run_id, point.branch)
        raise StoreError(
            f"{point}: branch {point.branch!r} of run {run_id} has no level {point.level}"
            + (f" (it has {', '.join(map(str, have))})" if have else "")
        )
    return store.level(run_id, point.level, point.branch)


def point_files(store: Store, run_id: str, point: Point) -> list[Path]:
    """The files `point` is made from (checkpoint and mask); raises StoreError if any is missing."""
    lv = _level(store, run_id, point)
    if point.which == "projected_prev":
        prev = previous_level(store, run_id, point.branch, point.level)
        if prev is None:
            raise StoreError(f"{point}: level 0 was not pruned from anything")
        src, tag = prev, "final"
    else:
        src, tag = lv, {"solution": "final"}.get(point.which, point.which)
    files = [paths.checkpoint(src.path, tag), paths.mask(lv.path)]
    for f in files:
        if not f.is_file():
            raise StoreError(f"{point}: missing {f} (is the level still training?)")
    return files


def exists(store: Store, run_id: str, point: Point) -> bool:
    try:
        point_files(store, run_id, point)
    except StoreError:
        return False
    return True


def fingerprint(store: Store, run_id: str, point: Point) -> str:
    """SHA-256 over the bytes of the point's files: its identity for cache keys."""
    h = hashlib.sha256(str(point).encode())
    for f in point_files(store, run_id, point):
        h.update(atomic.digest(f).encode())
    return h.hexdigest()


def resolve(store: Store, run_id: str, point: Point) -> Resolved:
    """Load the point's weights and mask (projected where the point says so)."""
    point_files(store, run_id, point)  # clear errors for missing files
    lv = _level(store, run_id, point)
    mask = lv.load_mask()
    if point.which == "projected_prev":
        prev = previous_level(store, run_id, point.branch, point.level)
        state = M.project(prev.load_checkpoint("final"), mask)  # type: ignore[union-attr]
    else:
        state = lv.load_checkpoint({"solution": "final"}.get(point.which, point.which))
    return Resolved(point, state, mask)


def trajectory_points(store: Store, run_id: str, branch: str, level: int) -> dict[int, Point]:
    """The level's stored checkpoints keyed by the training iteration they were taken at.

    ``start`` (the rewind iteration for levels that rewind), every ``epNNN`` and the
    ``solution``; matching two levels by iteration pairs the same point in their training.
    """
    lv = _level(store, run_id, Point(branch, level))
    out: dict[int, Point] = {}
    for tag in lv.checkpoint_tags():
        which = "solution" if tag == "final" else tag
        if which == "start" or which == "solution" or _EPOCH.match(which):
            out[int(lv.checkpoint_meta(tag)["iteration"])] = Point(branch, level, which)
    return dict(sorted(out.items()))
