"""BatchNorm statistics at points no network was trained to (METHOD.md, "How a claim is
judged"): a projected point such as Pr_L(min_(L−1)) or start_L, or a point interpolated
between two checkpoints, keeps running statistics computed for other weights, so its
eval-mode loss and curvature mostly measure stale statistics (on ResNets and VGGs this
inflates the projected point's curvature). Recalibration recomputes them on a fixed training
subset: one pass in train mode, cumulative averages over its batches (momentum None), in a
fixed order and without augmentation (`geometry.recompute_batchnorm`).

`bn_recalibrate` chooses where: ``projected`` (default) at projected and interpolated points
only, ``all`` at every point (stored solutions too, so both sides of a comparison are
measured alike), ``off`` never. Models without BatchNorm are unaffected whatever it says.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from engine.analysis.geometry import load, recompute_batchnorm

MODES = ("projected", "all", "off")
PROJECTED = ("projected_prev", "start")  # points made by projecting other weights on a mask
SUBSET_SEED = 0  # the recalibration subset is drawn with this seed, whatever else varies
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, _BATCHNORMS) for m in model.modules())


def applies(mode: str, projected: bool) -> bool:
    """Whether `mode` recalibrates a point that is (or is not) projected or interpolated."""
    if mode not in MODES:
        raise ValueError(f"bn_recalibrate {mode!r} is not one of: {', '.join(MODES)}")
    return mode == "all" or (mode == "projected" and projected)


def recalibrated(
    model: nn.Module, state: Mapping[str, Tensor], x: Tensor, batch_size: int
) -> dict[str, Tensor]:
    """`state` with every BatchNorm's running mean, variance and batch count recomputed over
    `x` in batches of `batch_size` (weights untouched); a copy on the CPU."""
    load(model, state)
    recompute_batchnorm(model, x, batch_size)
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
