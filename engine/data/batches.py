"""Batching and augmentation on the tensors' own device: no DataLoader, no per-image loop.

Random draws (order, crop offsets, flips) are made for the whole epoch at once with
`generator`, on the generator's device, then moved to the data's device. A seeded CPU
generator therefore gives the same batches on CPU and on CUDA, at the cost of one small copy
per epoch; a CUDA generator skips that copy but its stream differs from the CPU one. With
`generator=None` torch's global RNG on the data's device is used.
"""

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

PAD = 4  # the standard CIFAR recipe: random 32x32 crop of the image zero-padded by 4


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """How many batches `batches` yields for `n` examples."""
    return n // batch_size if drop_last else -(-n // batch_size)


def crop_flip(x: Tensor, offsets: Tensor, flips: Tensor, pad: int) -> Tensor:
    """Crop each image of `x` (B,C,H,W) from its zero-padded copy, mirroring where `flips`.

    `offsets` (B,2) holds each crop's top-left (row, col) in the padded image, 0..2*pad;
    `flips` (B,) bool. Pure, so tests can pass known offsets. Zero padding happens after
    normalisation, so the border is the data set's mean colour rather than black.
    """
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    rows = offsets[:, 0, None] + ar_h  # (B,H)
    cols = offsets[:, 1, None] + torch.where(flips[:, None], w - 1 - ar_w, ar_w)  # (B,W)
    x = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * pad))
    return x.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def batches(
    x: Tensor,
    y: Tensor,
    batch_size: int,
    generator: torch.Generator | None,
    shuffle: bool,
    augment: bool,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield one epoch of (x, y) batches, shuffled and augmented (crop with PAD, flip) on request.

    Every index appears exactly once per epoch (the last, short batch is dropped when
    `drop_last`). Without shuffle and augment the batches are views, not copies.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    n = x.shape[0]
    draw_on = generator.device if generator is not None else x.device
    order = None
    if shuffle:
        order = torch.randperm(n, generator=generator, device=draw_on).to(x.device)
    if augment:
        offsets = torch.randint(0, 2 * PAD + 1, (n, 2), generator=generator, device=draw_on)
        flips = torch.randint(0, 2, (n,), generator=generator, device=draw_on)
        offsets, flips = offsets.to(x.device), flips.to(x.device, torch.bool)
    for i in range(num_batches(n, batch_size, drop_last)):
        span = slice(i * batch_size, (i + 1) * batch_size)
        idx = span if order is None else order[span]
        xb, yb = x[idx], y[idx]
        if augment:
            xb = crop_flip(xb, offsets[span], flips[span], PAD)
        yield xb, yb
