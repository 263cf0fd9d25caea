"""Conv-2/4/6 (Frankle & Carbin 2019): pairs of 3x3 convs, a max-pool after each pair,
then fully connected 256-256-classes. No BatchNorm, as in the paper."""

from torch import nn

from engine.models import register_sizes
from engine.models.init import kaiming_init

_WIDTHS = (64, 128, 256)


def _conv_net(depth: int, in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Conv-`depth`: `depth` // 2 pairs of convs."""
    pairs = depth // 2
    channels, height, width = in_shape
    layers: list[nn.Module] = []
    for out in _WIDTHS[:pairs]:
        layers += [
            nn.Conv2d(channels, out, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(out, out, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        channels, height, width = out, height // 2, width // 2
    if height < 1 or width < 1:
        raise ValueError(f"conv{depth} needs inputs of at least {2**pairs} pixels a side")
    layers += [
        nn.Flatten(),
        nn.Linear(channels * height * width, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, num_classes),
    ]
    return kaiming_init(nn.Sequential(*layers))


register_sizes("conv{}", _conv_net, (2, 4, 6))
