"""The training loss at one point: what every second-order analysis differentiates or
samples (`HessianOperator`, the spectra, the trace, the density, the loss surface).

One value instead of the same six arguments in each of them, so a caller builds the point
once and hands it to every analysis of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True, eq=False)
class LossPoint:
    """The mean cross-entropy on `(x, y)` at weights `state ⊙ mask`.

    `model` supplies the architecture (its own weights are never read); `mask` covers the
    prunable weights; `device` is where the Hessian work runs (None: the examples' device;
    the loss surface runs on the model's)."""

    model: nn.Module
    state: Mapping[str, Tensor]
    mask: Mapping[str, Tensor]
    x: Tensor
    y: Tensor
    device: torch.device | str | None = None
