"""CIFAR VGGs as in OpenLTH's `cifar_vgg`: conv3x3+BN+ReLU stacks, max-pools, one Linear.

OpenLTH average-pools the final 2x2 map of a 32x32 input; an adaptive pool to 1x1 gives the
same result there and also accepts 28x28 inputs.
"""

from torch import nn

from engine.models import register
from engine.models.init import kaiming_init

# (width, convs) per stage; a max-pool follows every stage but the last, as in OpenLTH.
Plan = list[tuple[int, int]]

_PLANS: dict[str, Plan] = {
    "vgg11": [(64, 1), (128, 1), (256, 2), (512, 2), (512, 2)],
    "vgg16": [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)],
    "vgg19": [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)],
}


def _vgg(plan: Plan, in_channels: int, num_classes: int) -> nn.Module:
    layers: list[nn.Module] = []
    channels = in_channels
    for stage, (width, convs) in enumerate(plan):
        if stage > 0:
            layers.append(nn.MaxPool2d(2))
        for _ in range(convs):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return kaiming_init(nn.Sequential(*layers))


@register("vgg11")
def vgg11(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return _vgg(_PLANS["vgg11"], in_shape[0], num_classes)


@register("vgg16")
def vgg16(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return _vgg(_PLANS["vgg16"], in_shape[0], num_classes)


@register("vgg19")
def vgg19(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return _vgg(_PLANS["vgg19"], in_shape[0], num_classes)
