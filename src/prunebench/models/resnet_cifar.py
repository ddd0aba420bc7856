"""CIFAR-style ResNet-18 (He et al. 2016 as adapted for 32×32 inputs): 3×3 stem, no max-pool."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from prunebench.models.registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.shortcut = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(channels_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetCifar(nn.Module):
    def __init__(self, num_classes: int = 10, blocks=(2, 2, 2, 2), width: int = 64):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        stages, channels = [], width
        for stage, (count, out) in enumerate(zip(blocks, widths)):
            for index in range(count):
                stages.append(BasicBlock(channels, out, stride=2 if stage > 0 and index == 0 else 1))
                channels = out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, num_classes)
        self.num_features = channels

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B×512 at width 64)."""
        return self.pool(self.stages(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


@register_model("resnet18_cifar")
def resnet18_cifar(num_classes: int = 10, width: int = 64) -> ResNetCifar:
    """ResNet-18 for 32×32 images (11.2M parameters at width 64)."""
    return ResNetCifar(num_classes, blocks=(2, 2, 2, 2), width=width)
