"""Input normalisation chosen by the spec (`data.normalize`), applied to a loaded bundle.

Loaders normalise as they always have ("loader", the default, leaves a bundle untouched):
mnist5k standardises with the mean and sd of its training split, the torchvision sets
subtract and divide by their published per-channel constants (`info["mean"]`, `info["std"]`),
and synthetic sets are as drawn. "none" undoes a loader's constants (pixels in [0, 1], up to
float rounding); "standardize" gives every channel mean 0 and sd 1 over the training split,
the test split shifted and scaled by the training split's numbers (so no test statistic
leaks into the inputs). Standardisation is affine per channel, so it is the same whatever
the loader applied first.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from engine.data.bundle import DataBundle

MODES = ("loader", "none", "standardize")


def _per_channel(values: tuple[float, ...] | list[float] | Tensor, channels: int) -> Tensor:
    t = torch.as_tensor(values, dtype=torch.float32).flatten()
    return (t.expand(channels) if t.numel() == 1 else t).view(1, channels, 1, 1)


def channel_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and sample sd (n − 1) of NCHW images, in float64."""
    flat = x.transpose(0, 1).reshape(x.shape[1], -1).double()
    return flat.mean(1), flat.std(1)


def normalize_inputs(bundle: DataBundle, mode: str) -> DataBundle:
    """`bundle` with its inputs normalised as `mode` (one of `MODES`) says; `info` records it."""
    if mode not in MODES:
        raise ValueError(f"normalize {mode!r} is not one of: {', '.join(MODES)}")
    if mode == "loader":
        return bundle
    c = bundle.in_shape[0]
    if mode == "none":
        if "mean" not in bundle.info:  # synthetic sets: nothing was applied to undo
            return replace(bundle, info={**bundle.info, "normalize": "none (as drawn)"})
        mean, std = _per_channel(bundle.info["mean"], c), _per_channel(bundle.info["std"], c)
        return replace(
            bundle,
            train_x=bundle.train_x * std + mean,
            test_x=bundle.test_x * std + mean,
            info={**bundle.info, "normalize": "none (the loader's constants undone)"},
        )
    mean64, sd64 = channel_stats(bundle.train_x)
    mean, sd = _per_channel(mean64.float(), c), _per_channel(sd64.float(), c)
    return replace(
        bundle,
        train_x=(bundle.train_x - mean) / sd,
        test_x=(bundle.test_x - mean) / sd,
        info={
            **bundle.info,
            "normalize": "standardize (per channel, training split's mean and sd)",
            "standardized_by": {"mean": mean64.tolist(), "sd": sd64.tolist()},
        },
    )
