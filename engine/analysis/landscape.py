"""2-D loss surfaces around a point in filter-normalised random directions (Li et al. 2018).

Each direction is Gaussian noise over the prunable weights, masked so a pruned coordinate
stays exactly zero along the whole plane, then rescaled filter by filter (an output channel
of a conv, an output unit of a linear layer) to the norm of the same filter of the weights.
Biases and BatchNorm parameters are left out of the directions (Li et al. zero BatchNorm's;
we zero biases too, so the plane moves only the coordinates that pruning acts on), and the
model is evaluated in eval mode with the point's own BatchNorm statistics.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from engine.analysis.geometry import loss
from engine.analysis.point import LossPoint


def filter_normalised_direction(
    state: Mapping[str, Tensor], mask: Mapping[str, Tensor], generator: torch.Generator
) -> dict[str, Tensor]:
    """A random direction over the masked weights, each filter scaled to its weights' norm."""
    out = {}
    for k, m in mask.items():
        w = state[k].detach().cpu().float() * m
        d = torch.randn(w.shape, generator=generator) * m
        rows_w = w.reshape(w.shape[0], -1).norm(dim=1)
        rows_d = d.reshape(d.shape[0], -1).norm(dim=1)
        scale = torch.where(rows_d > 0, rows_w / rows_d.clamp_min(1e-30), torch.zeros_like(rows_d))
        out[k] = (d.reshape(d.shape[0], -1) * scale[:, None]).reshape(w.shape).to(state[k].dtype)
    return out


def surface(at: LossPoint, grid: int = 21, span: float = 1.0, seed: int = 0) -> dict:
    """Loss on (x, y) at `state + a·d1 + b·d2` for a, b on a `grid`×`grid` lattice of [−span, span].

    Returns the coordinates and ``train_loss[i][j]`` at (a_i, b_j); the directions come from
    `seed` alone, so the surface is reproducible. It runs on the model's device.
    """
    model, mask, x, y = at.model, at.mask, at.x, at.y
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    state = {k: v.to(device) for k, v in at.state.items()}
    d1, d2 = (
        {k: v.to(device) for k, v in filter_normalised_direction(state, mask, g).items()}
        for _ in range(2)
    )
    # exact coordinates (0 itself at the centre of an odd grid), unlike float32 linspace
    coords = [span * (2 * i / (grid - 1) - 1) for i in range(grid)] if grid > 1 else [0.0]
    values = []
    for a in coords:
        row = []
        for b in coords:
            moved = dict(state)
            for k in d1:
                moved[k] = state[k] + a * d1[k] + b * d2[k]
            row.append(loss(model, moved, x, y))
        values.append(row)
    return {"coords": coords, "train_loss": values}
