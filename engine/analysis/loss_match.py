"""The loss-matched control (METHOD.md, "How a claim is judged"): a point of higher loss sits
higher on the walls of its basin, so a flatness comparison between min_L and Pr_L(min_(L−1))
is confounded by their losses. The control is the point on level L's own trajectory whose
training loss equals Pr_L(min_(L−1))'s, with its spectrum and volume.

The trajectory is known at its stored checkpoints (start, every epNNN, the solution), in
training order. The first consecutive pair whose losses bracket the target (the earlier at or
above it, the later at or below it) is taken, and the matched point is found on the straight
line between them in weight space, W(α) = (1 − α)·W_a + α·W_b, by Brent's method on
loss(W(α)) − target (scipy's `brentq`). The result names both checkpoints, α, the
interpolated iteration and the loss reached. Losses are the eval-mode mean cross-entropy on
the Hessian's fixed subset; with BatchNorm (unless `bn_recalibrate` is off) every point of
the search is recalibrated on the fixed subset, endpoints included, so the loss along the
line is one continuous function. No bracket (the trajectory never comes down to the target,
or starts below it) is a result too: `matched` is False and `reason` says which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from scipy.optimize import brentq

from engine.analysis import geometry
from engine.analysis.context import Context
from engine.analysis.spectra import spectrum_result

XTOL = 1e-4  # α to this absolute tolerance: far below the spacing of stored checkpoints


@dataclass(frozen=True)
class Checkpoint:
    point: str
    iteration: int
    loss: float


def bracket(checkpoints: Sequence[Checkpoint], target: float) -> int | None:
    """Index i of the first consecutive pair (in training order) with
    loss_i ≥ target ≥ loss_(i+1), or None."""
    for i in range(len(checkpoints) - 1):
        if checkpoints[i].loss >= target >= checkpoints[i + 1].loss:
            return i
    return None


def no_bracket_reason(checkpoints: Sequence[Checkpoint], target: float) -> str:
    low = min(checkpoints, key=lambda c: c.loss)
    if target < low.loss:
        return (
            f"level L's trajectory never comes down to the target loss {target:.4g}: its "
            f"lowest stored loss is {low.loss:.4g} at {low.point}"
        )
    return (
        f"no stored pair of consecutive checkpoints brackets the target loss {target:.4g} "
        f"(level L starts at {checkpoints[0].loss:.4g}, already below it)"
    )


def match_alpha(loss_at: Callable[[float], float], target: float, a: float, b: float) -> float:
    """α in [0, 1] with loss_at(α) = target, given loss_at(0) = a ≥ target ≥ b = loss_at(1)."""
    if a == target:
        return 0.0
    if b == target:
        return 1.0
    return float(brentq(lambda alpha: loss_at(alpha) - target, 0.0, 1.0, xtol=XTOL))


def compute(ctx: Context, unit: Any) -> dict[str, Any]:
    """One level's control: the target (Pr_L(min_(L−1))'s loss), the checkpoints' losses,
    the bracket, α, and the spectrum and volume at the matched point."""
    o = unit.options
    x, y, _ = ctx.examples(o)

    def measured(state: dict, label: str) -> tuple[dict, float]:
        state = ctx.batchnorm(state, o, True, label)
        return state, geometry.loss(ctx.model, state, x, y)

    target_point = unit.points["target"]
    resolved = ctx.resolve(target_point)
    mask = resolved.mask  # level L's, as every checkpoint of its trajectory has
    _, target = measured(resolved.state, str(target_point))
    states, checkpoints = [], []
    for iteration, point in unit.extra:
        state, loss = measured(ctx.resolve(point).state, str(point))
        states.append(state)
        checkpoints.append(Checkpoint(str(point), iteration, loss))
    out: dict[str, Any] = {
        "target": {"point": str(target_point), "loss": target},
        "checkpoints": [c.__dict__ for c in checkpoints],
    }
    i = bracket(checkpoints, target)
    if i is None:
        return out | {"matched": False, "reason": no_bracket_reason(checkpoints, target)}
    a, b = checkpoints[i], checkpoints[i + 1]

    def state_at(alpha: float) -> dict:
        return geometry.lerp_state(states[i], states[i + 1], alpha)

    def loss_at(alpha: float) -> float:
        return measured(state_at(alpha), "search")[1]

    alpha = match_alpha(loss_at, target, a.loss, b.loss)
    ctx.recalibrated = [p for p in ctx.recalibrated if p != "search"]
    state = ctx.batchnorm(state_at(alpha), o, True, f"{a.point}->{b.point}@{alpha:.4f}")
    iteration = a.iteration + alpha * (b.iteration - a.iteration)
    return out | {
        "matched": True,
        "bracket": {"a": a.__dict__, "b": b.__dict__},
        "alpha": alpha,
        "iteration": iteration,
        "epoch": iteration / ctx.iters_per_epoch,
        **spectrum_result(ctx, state, mask, o),  # with the loss there, measured once
    }
