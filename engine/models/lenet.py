"""LeNet-300-100 (Frankle & Carbin 2019): the fully connected MNIST baseline."""

import math

from torch import nn

from engine.models import register
from engine.models.init import kaiming_init


@register("lenet_300_100")
def lenet_300_100(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return kaiming_init(
        nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(in_shape), 300),
            nn.ReLU(),
            nn.Linear(300, 100),
            nn.ReLU(),
            nn.Linear(100, num_classes),
        )
    )
