"""He et al.'s CIFAR ResNets as in OpenLTH's `cifar_resnet`.

A 3x3 stem, stages of BasicBlocks (the first block of every later stage halves the map and
doubles the width through a 1x1-conv+BN projection shortcut), global average pool, Linear.
ResNet-(6D+2) has D blocks in each of 3 stages of width 16, 32, 64.
"""

from torch import Tensor, nn
from torch.nn import functional as F

from engine.models import register_sizes
from engine.models.init import kaiming_init


class BasicBlock(nn.Module):
    def __init__(self, f_in: int, f_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(f_in, f_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(f_out)
        self.conv2 = nn.Conv2d(f_out, f_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(f_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or f_in != f_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(f_in, f_out, 1, stride=stride, bias=False), nn.BatchNorm2d(f_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """`plan` lists (width, blocks) per stage; every stage after the first starts at stride 2."""

    def __init__(self, plan: list[tuple[int, int]], in_channels: int, num_classes: int) -> None:
        super().__init__()
        width = plan[0][0]
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        blocks = []
        for stage, (f_out, depth) in enumerate(plan):
            for index in range(depth):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(BasicBlock(width, f_out, stride))
                width = f_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def _cifar_resnet(depth: int, in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    blocks = (depth - 2) // 6
    plan = [(16, blocks), (32, blocks), (64, blocks)]
    return kaiming_init(ResNet(plan, in_shape[0], num_classes))


register_sizes("resnet{}", _cifar_resnet, (20, 56))
