"""Geometry of IMP solutions: distances, losses of projected points, linear interpolation.

Pure functions of weights, masks and data (METHOD.md §2, §3, §6); which stored points they are
given is `engine.analysis.jobs`' business. Every loss here is the mean cross-entropy in eval
mode, as `engine.train.evaluate` computes it, so a point's numbers agree with the run's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from engine.train import evaluate

NORMS = ("prunable", "all")

# --- distances (Fig. 3) -----------------------------------------------------------------------


def l2(
    state: Mapping[str, Tensor], names: Iterable[str], other: Mapping[str, Tensor] | None = None
):
    """‖state − other‖₂ (or ‖state‖₂) over the tensors `names`, summed in float64."""
    total = torch.zeros((), dtype=torch.float64)
    for k in names:
        d = state[k].double() if other is None else state[k].double() - other[k].double()
        total += d.pow(2).sum().cpu()
    return total.sqrt().item()


def distances(
    start: Mapping[str, Tensor],
    targets: Mapping[str, Mapping[str, Tensor]],
    norm_names: Mapping[str, Sequence[str]],
) -> list[dict]:
    """‖start − target‖ for every target, every norm, plain and divided by ‖start‖.

    `norm_names` maps a norm's name to the tensors it runs over: ``prunable`` (the conv and
    linear weights, METHOD.md's default) and ``all`` (every parameter; buffers such as
    BatchNorm's running statistics are not coordinates of the loss and are left out).
    """
    rows = []
    for norm, names in norm_names.items():
        scale = l2(start, names)
        for to, target in targets.items():
            d = l2(start, names, target)
            rows.append({"norm": norm, "normalised": False, "to": to, "distance": d})
            rows.append({"norm": norm, "normalised": True, "to": to, "distance": d / scale})
    return rows


def parameter_names(model: nn.Module) -> list[str]:
    return [k for k, _ in model.named_parameters()]


# --- losses of stored or projected points (Fig. 4, pruned starts) -----------------------------


def load(model: nn.Module, state: Mapping[str, Tensor]) -> nn.Module:
    """Copy `state` into `model` (on the model's device); return the model."""
    model.load_state_dict({k: v for k, v in state.items()})
    return model


def metrics(model: nn.Module, state: Mapping[str, Tensor], data) -> dict[str, float]:
    """Train and test loss and accuracy of `state` over the whole sets, in eval mode."""
    load(model, state)
    train_loss, train_acc = evaluate(model, data.train_x, data.train_y)
    test_loss, test_acc = evaluate(model, data.test_x, data.test_y)
    return {
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
    }


def loss(model: nn.Module, state: Mapping[str, Tensor], x: Tensor, y: Tensor) -> float:
    return evaluate(load(model, state), x, y)[0]


# --- linear interpolation and barriers (Frankle et al. 2020; Paul et al. 2023) ----------------

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def lerp_state(a: Mapping[str, Tensor], b: Mapping[str, Tensor], alpha: float) -> dict:
    """(1 − α)·a + α·b for floating tensors, exactly `a` at α = 0 and `b` at α = 1.

    Integer buffers (BatchNorm's batch counter) are taken from the nearer endpoint.
    """
    out = {}
    for k, va in a.items():
        vb = b[k]
        if va.is_floating_point():
            out[k] = va if alpha == 0 else vb if alpha == 1 else torch.lerp(va, vb, alpha)
        else:
            out[k] = va if alpha < 0.5 else vb
    return out


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, x: Tensor, batch_size: int) -> bool:
    """Reset every BatchNorm's running statistics to the exact averages over `x`.

    One pass in train mode with cumulative averaging (momentum None), in a fixed order and
    without augmentation. An interpolated network's stored statistics belong to neither
    endpoint, so without this the path's losses mostly measure stale statistics. Returns
    whether the model has BatchNorm at all (a no-op otherwise).
    """
    bns = [m for m in model.modules() if isinstance(m, _BATCHNORMS)]
    if not bns:
        return False
    was_training = model.training
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for i in range(0, len(x), batch_size):
        model(x[i : i + batch_size])
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    model.train(was_training)
    return True


def interpolate(
    model: nn.Module,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data,
    alphas: Sequence[float],
    bn_reset: bool = True,
    bn_batch_size: int = 128,
) -> list[dict]:
    """Train/test loss and accuracy at each α on the segment from `a` to `b`.

    With `bn_reset`, BatchNorm statistics are recomputed on the training set at every α,
    endpoints included, so the whole path is measured the same way.
    """
    rows = []
    for alpha in alphas:
        load(model, lerp_state(a, b, alpha))
        if bn_reset:
            recompute_batchnorm(model, data.train_x, bn_batch_size)
        train_loss, train_acc = evaluate(model, data.train_x, data.train_y)
        test_loss, test_acc = evaluate(model, data.test_x, data.test_y)
        rows.append(
            {
                "alpha": float(alpha),
                "train_loss": train_loss,
                "train_acc": train_acc,
                "test_loss": test_loss,
                "test_acc": test_acc,
            }
        )
    return rows


def _barrier(alphas: Sequence[float], values: Sequence[float]) -> float:
    """max_α [v(α) − ((1 − α)·v(0) + α·v(1))]: the rise above the straight line."""
    v0, v1 = values[0], values[-1]
    return max(v - ((1 - a) * v0 + a * v1) for a, v in zip(alphas, values, strict=True))


def barrier(rows: Sequence[dict]) -> dict[str, float]:
    """Loss and test-error barriers of an interpolation (rows ordered from α = 0 to α = 1)."""
    alphas = [r["alpha"] for r in rows]
    return {
        "barrier_train_loss": _barrier(alphas, [r["train_loss"] for r in rows]),
        "barrier_test_error": _barrier(alphas, [1 - r["test_acc"] for r in rows]),
    }
