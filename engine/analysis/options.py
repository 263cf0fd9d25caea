"""The analyses' names and the options of a request: help, where each applies, its default
and its parser (the CLI's flags and the app's forms are generated from `OPTIONS`).

`result=False` marks options that select what to compute or show; only the others enter a
unit's cache key (`engine.analysis.jobs.Unit.key`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.analysis.hessian import BACKENDS
from engine.analysis.points import check_which
from engine.booleans import parse_bool
from engine.config import SpecError

ANALYSES: dict[str, str] = {
    "distances": "‖start_L − Pr_L(min_(L−1))‖ and ‖start_L − min_L‖ per level (Fig. 3): over "
    "prunable weights and over all parameters, plain and divided by ‖start_L‖.",
    "trajectory": "Level L's loss at each stored epoch against level L−1's checkpoint of the "
    "same iteration projected on m_L (Fig. 4), recomputed in eval mode.",
    "pruned_start": "Train/test loss and accuracy of Pr_L(min_(L−1)) (pruning before any "
    "retraining) next to the level's solution.",
    "spectrum": "Top-k Hessian eigenvalues on the unpruned coordinates (Fig. 5) and the "
    "basin log-volume proxy −½ Σ log λ_i over the positive ones.",
    "trace": "Hutch++ estimate of the Hessian trace on the unpruned coordinates.",
    "density": "Hessian eigenvalue density by stochastic Lanczos quadrature.",
    "interpolation": "Loss and accuracy along straight lines between two stored points, "
    "and the loss and test-error barriers.",
    "landscape": "2-D training-loss surface around a point in filter-normalised random "
    "directions restricted to the mask (Li et al. 2018).",
    "loss_matched": "The loss-matched control: the point on level L's own trajectory whose "
    "training loss equals Pr_L(min_(L−1))'s (interpolated between the two stored checkpoints "
    "that bracket it), with its top-k spectrum and log-volume.",
    "instability": "Instability (Frankle et al. 2020): a second copy of each level trained "
    "from its start on another data order, and the error barrier between it and min_L. "
    "Trains one more network per level.",
}
IMP_ONLY = ("trajectory", "loss_matched", "instability")  # IMP-WR's own levels, no branches
TRAINS = ("instability",)  # analyses that train networks, not only measure stored ones
POINT_DEFAULTS = {"landscape": ["solution"], "*": ["solution", "projected_prev"]}
HESSIAN = ("spectrum", "trace", "density")

# --- options ----------------------------------------------------------------------------------


def as_list(name: str, value: Any) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise SpecError(name, f"{value!r} is not a list; write e.g. a,b or [a, b]")


def _int(lo: int, hi: int) -> Callable[[str, Any], int]:
    def parse(name: str, value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(name, f"{value!r} is not a whole number")
        if not lo <= value <= hi:
            raise SpecError(name, f"{value} is out of range; it must lie in [{lo}, {hi}]")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str, Any], float]:
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


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    try:
        return parse_bool(str(value))
    except ValueError as e:
        raise SpecError(name, str(e)) from None


def _choice(*choices: str) -> Callable[[str, Any], str]:
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
    """One request option: its help, the analyses it applies to, default and parser.

    `result=False` marks options that select what to compute or show (branches, levels,
    points, paths, distance norm) rather than change a unit's numbers; only the others enter
    the units' cache keys.
    """

    help: str
    analyses: tuple[str, ...]
    default: Any
    parse: Callable[[str, Any], Any] = _keep
    result: bool = True
    choices: tuple[str, ...] | None = None


_ALL = tuple(ANALYSES)
_BRANCHED = tuple(a for a in ANALYSES if a not in IMP_ONLY)
_TOP_K = ("spectrum", "loss_matched")
_SUBSET = ("trajectory", "landscape", "loss_matched", *HESSIAN)
_BN = ("pruned_start", "trajectory", "landscape", "loss_matched", *HESSIAN)  # at a point

OPTIONS: dict[str, Option] = {
    "branches": Option(
        "Branches to analyse: imp, a baseline (one_shot, ft, ripn, rpn1, rpn2), or all.",
        _BRANCHED,
        ("imp",),
        result=False,
    ),
    "levels": Option(
        "Levels to analyse (comma-separated); default: every finished level where the "
        "analysis applies (level 0 has no previous solution).",
        _ALL,
        None,
        result=False,
    ),
    "points": Option(
        "Points of each level: solution, start, projected_prev (Pr_L(min_(L-1))) or epNNN. "
        "Default: solution,projected_prev (landscape: solution).",
        ("landscape", *HESSIAN),
        None,
        _points,
        result=False,
    ),
    "paths": Option(
        "Interpolation paths A->B with points as branch:level:which; default: "
        "projected_prev->solution at every level, and consecutive IMP solutions.",
        ("interpolation",),
        None,
        result=False,
    ),
    "norm": Option(
        "Distance shown: over prunable weights or all parameters (both are stored).",
        ("distances",),
        "prunable",
        _choice("prunable", "all"),
        result=False,
        choices=("prunable", "all"),
    ),
    "normalised": Option(
        "Show distances divided by ‖start_L‖ (both are stored).",
        ("distances",),
        False,
        _bool,
        result=False,
    ),
    "k": Option("Number of top eigenvalues.", _TOP_K, 100, _int(1, 100_000)),
    "backend": Option(
        "Eigenvalue solver: lanczos (block Lanczos); lanczos1 (one vector at a time); "
        "arpack (scipy's eigsh) or pyhessian as references.",
        _TOP_K,
        "lanczos",
        _choice(*BACKENDS),
        choices=BACKENDS,
    ),
    "tol": Option("Relative residual each eigenpair must reach.", _TOP_K, 1e-3, _float(0.0, 1.0)),
    "samples": Option("Hutch++ probe vectors (products).", ("trace",), 100, _int(2, 100_000)),
    "vectors": Option("Lanczos start vectors for the density.", ("density",), 4, _int(1, 1000)),
    "steps": Option("Lanczos steps per start vector.", ("density",), 80, _int(2, 10_000)),
    "subset": Option(
        "Training examples in the fixed subset (Hessian, and the losses of trajectory and "
        "landscape with eval_set=subset).",
        _SUBSET,
        2048,
        _int(1, 10_000_000),
    ),
    "seed": Option(
        "Seed of the data subset and of random vectors or directions.",
        _SUBSET,
        0,
        _int(0, 2**31 - 1),
    ),
    "eval_set": Option(
        "Data for trajectory and landscape losses: the fixed subset, or the whole training set.",
        ("trajectory", "landscape"),
        "subset",
        _choice("subset", "train"),
        choices=("subset", "train"),
    ),
    "n": Option(
        "Points along each interpolation path, ends included.",
        ("interpolation", "instability"),
        11,
        _int(2, 10_000),
    ),
    "bn_reset": Option(
        "Recompute BatchNorm statistics on the training set at every interpolation point "
        "(a no-op for models without BatchNorm).",
        ("interpolation", "instability"),
        True,
        _bool,
    ),
    "bn_recalibrate": Option(
        "Recompute BatchNorm running statistics on a fixed training subset before measuring: "
        "at projected and interpolated points (projected_prev, start), at every point, or "
        "off. Models without BatchNorm are unaffected.",
        _BN,
        "projected",
        _choice("projected", "all", "off"),
        choices=("projected", "all", "off"),
    ),
    "bn_subset": Option(
        "Training examples (a fixed subset drawn with seed 0) over which BatchNorm "
        "statistics are recomputed.",
        _BN,
        2048,
        _int(1, 10_000_000),
    ),
    "copy": Option(
        "Which second copy: each number trains its own from the level's start, on the data "
        "order of a seed derived from the run's data-order seed and it.",
        ("instability",),
        1,
        _int(1, 1000),
    ),
    "grid": Option("Landscape grid points per axis.", ("landscape",), 21, _int(1, 1001)),
    "span": Option(
        "Landscape half-width: coordinates run over [-span, span] in each direction.",
        ("landscape",),
        1.0,
        _float(0.0, 1e6),
    ),
}


def options_for(what: str) -> list[str]:
    return [name for name, o in OPTIONS.items() if what in o.analyses]
