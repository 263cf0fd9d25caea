"""ResNet-18 for small images: the CIFAR ResNet's 3x3 stride-1 stem and no max-pool, with
the ImageNet model's four stages of two BasicBlocks at widths 64-128-256-512."""

from torch import nn

from engine.models import register
from engine.models.init import kaiming_init
from engine.models.resnet_cifar import ResNet


@register("resnet18")
def resnet18(in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return kaiming_init(ResNet([(64, 2), (128, 2), (256, 2), (512, 2)], in_shape[0], num_classes))
