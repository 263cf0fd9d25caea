"""The options an analysis request can carry: help, default and parser of each.

Each analysis names the options it takes (`engine.analysis.registry.Analysis.options`); the
CLI's flags, the job's validation and the app's forms are generated from those. Options that
several analyses share are defined once here; an analysis may define its own in its file.

`result=False` marks options that select what to compute or show; only the others enter a
unit's cache key (`engine.analysis.units.Unit.key`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.analysis.points import check_which
from engine.booleans import parse_bool
from engine.config import SpecError

# The eigenvalue solvers (`engine.analysis.hessian.top_eigenvalues`), named here so that
# validating a request does not import them.
BACKENDS = ("lanczos", "arpack", "pyhessian", "lanczos1")

# --- parsers ---------------------------------------------------------------------------------


def as_list(name: str, value: Any) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise SpecError(name, f"{value!r} is not a list; write e.g. a,b or [a, b]")


def integer(lo: int, hi: int) -> Callable[[str, Any], int]:
    def parse(name: str, value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(name, f"{value!r} is not a whole number")
        if not lo <= value <= hi:
            raise SpecError(name, f"{value} is out of range; it must lie in [{lo}, {hi}]")
        return value

    return parse


def real(lo: float, hi: float) -> Callable[[str, Any], float]:
    def parse(name: str, value: Any) -> float:
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise SpecError(name, f"{value!r} is not a number")
        if not lo < number <= hi:
            raise SpecError(name, f"{number} is out of range; it must lie in ({lo}, {hi}]")
        return number

    return parse


def boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    try:
        return parse_bool(str(value))
    except ValueError as e:
        raise SpecError(name, str(e)) from None


def choice(*choices: str) -> Callable[[str, Any], str]:
    def parse(name: str, value: Any) -> str:
        if value not in choices:
            raise SpecError(name, f"{value!r} is not allowed; choose one of: {', '.join(choices)}")
        return value

    return parse


def _points(name: str, value: Any) -> list[str]:
    out = []
    for v in as_list(name, value):
        try:
            out.append(check_which(str(v)))
        except ValueError as e:
            raise SpecError(name, str(e)) from None
    if not out:
        raise SpecError(name, "name at least one point")
    return sorted(set(out), key=out.index)


def _keep(name: str, value: Any) -> Any:
    return value  # resolved against the store in `_select`


@dataclass(frozen=True)
class Option:
    """One request option: its name, help, default and parser.

    `result=False` marks options that select what to compute or show (branches, levels,
    points, paths, distance norm) rather than change a unit's numbers; only the others enter
    the units' cache keys.
    """

    name: str
    help: str
    default: Any
    parse: Callable[[str, Any], Any] = _keep
    result: bool = True
    choices: tuple[str, ...] | None = None

    @property
    def shown_default(self) -> str:
        """The default as a form field or a help line writes it ("" for none)."""
        if self.default is None:
            return ""
        if isinstance(self.default, tuple):
            return ",".join(map(str, self.default))
        return str(self.default)


BRANCHES = Option(
    "branches",
    "Branches to analyse: imp, a baseline (one_shot, ft, ripn, rpn1, rpn2), or all.",
    ("imp",),
    result=False,
)
LEVELS = Option(
    "levels",
    "Levels to analyse (comma-separated); default: every finished level where the "
    "analysis applies (level 0 has no previous solution).",
    None,
    result=False,
)
POINTS = Option(
    "points",
    "Points of each level: solution, start, projected_prev (Pr_L(min_(L-1))) or epNNN. "
    "Default: solution,projected_prev (landscape: solution).",
    None,
    _points,
    result=False,
)
K = Option("k", "Number of top eigenvalues.", 100, integer(1, 100_000))
BACKEND = Option(
    "backend",
    "Eigenvalue solver: lanczos (block Lanczos); lanczos1 (one vector at a time); "
    "arpack (scipy's eigsh) or pyhessian as references.",
    "lanczos",
    choice(*BACKENDS),
    choices=BACKENDS,
)
TOL = Option("tol", "Relative residual each eigenpair must reach.", 1e-3, real(0.0, 1.0))
SUBSET = Option(
    "subset",
    "Training examples in the fixed subset (Hessian, and the losses of trajectory and "
    "landscape with eval_set=subset).",
    2048,
    integer(1, 10_000_000),
)
SEED = Option(
    "seed", "Seed of the data subset and of random vectors or directions.", 0, integer(0, 2**31 - 1)
)
EVAL_SET = Option(
    "eval_set",
    "Data for trajectory and landscape losses: the fixed subset, or the whole training set.",
    "subset",
    choice("subset", "train"),
    choices=("subset", "train"),
)
N = Option("n", "Points along each interpolation path, ends included.", 11, integer(2, 10_000))
BN_RESET = Option(
    "bn_reset",
    "Recompute BatchNorm statistics on the training set at every interpolation point "
    "(a no-op for models without BatchNorm).",
    True,
    boolean,
)
BN_RECALIBRATE = Option(
    "bn_recalibrate",
    "Recompute BatchNorm running statistics on a fixed training subset before measuring: "
    "at projected and interpolated points (projected_prev, start), at every point, or "
    "off. Models without BatchNorm are unaffected.",
    "projected",
    choice("projected", "all", "off"),
    choices=("projected", "all", "off"),
)
BN_SUBSET = Option(
    "bn_subset",
    "Training examples (a fixed subset drawn with seed 0) over which BatchNorm "
    "statistics are recomputed.",
    2048,
    integer(1, 10_000_000),
)

# What analyses at one point share: the level selection, the points, and BatchNorm's treatment.
AT_POINTS = (BRANCHES, LEVELS, POINTS)
BATCHNORM = (BN_RECALIBRATE, BN_SUBSET)
HESSIAN_DATA = (SUBSET, SEED)
TOP_K = (K, BACKEND, TOL)
