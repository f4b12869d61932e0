"""A CIFAR-style ResNet for 48x48 faces (``resnet18-fer``).

Unlike the ImageNet ResNet, the stem is a single 3x3 stride-1 convolution with no max-pool, so
the four stages work at 48, 24, 12 and 6 pixels. Every activation is its own module (two per
block, the second one after the residual addition), so guided backpropagation and other hooks
see each use separately.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._build import (
    Stack,
    check_activation,
    check_int_list,
    check_positive,
    check_prob,
    he_init,
    scaled,
)
from .layers import Normalize, make_activation
from .registry import ModelInfo, register_model

_RECIPE = {"optimizer": "sgd", "lr": 0.05, "weight_decay": 5e-4, "batch_size": 128,
           "epochs": 60, "scheduler": "cosine", "augment": "strong", "label_smoothing": 0.1}


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN) shortcut.

    Modules: ``conv1, bn1, act1, conv2, bn2, shortcut, act2``; ``act2`` follows the addition.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride of the first convolution (2 halves the resolution).
        activation: Activation name.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, activation: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = make_activation(activation, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                bn=nn.BatchNorm2d(out_channels),
            ))
        else:
            self.shortcut = nn.Identity()
        self.act2 = make_activation(activation, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ResNetFER(nn.Module):
    """``input_norm`` -> ``stem`` -> ``layer1..layer4`` -> ``classifier`` (GAP, dropout, fc).

    Args:
        blocks: Number of basic blocks in each of the four stages.
        width: Channel multiplier on 64-128-256-512.
        dropout: Dropout rate before the final linear layer.
        activation: Activation name.
    """

    def __init__(self, blocks: list[int], width: float, dropout: float, activation: str) -> None:
        super().__init__()
        self.input_norm = Normalize()
        channels = [scaled(c, width) for c in (64, 128, 256, 512)]
        stem = Stack(activation)
        stem.add("conv", nn.Conv2d(1, channels[0], 3, padding=1, bias=False))
        stem.add("bn", nn.BatchNorm2d(channels[0])).act(channels[0])
        self.stem = stem.build()
        cin = channels[0]
        for i, (n, cout) in enumerate(zip(blocks, channels, strict=True)):
            stage = []
            for j in range(n):
                stage.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1, activation))
                cin = cout
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
        head = Stack(activation).add("pool", nn.AdaptiveAvgPool2d(1), numbered=False)
        head.add("flatten", nn.Flatten(), numbered=False).dropout(dropout)
        head.add("fc", nn.Linear(cin, 7))
        self.classifier = head.build()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.input_norm(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.classifier(x)


@register_model(ModelInfo(
    description="CIFAR-style ResNet-18 for 48x48: 3x3 stem, no stem pool, stages 64-512, GAP",
    origin="ResNet (He et al. 2016), CIFAR variant",
    family="modern", tags=("cnn", "batchnorm", "residual"), recipe=_RECIPE,
))
def resnet18_fer(
    width: float = 1.0,
    blocks: tuple[int, ...] = (2, 2, 2, 2),
    dropout: float = 0.0,
    activation: str = "relu",
) -> nn.Module:
    """ResNet-18 (CIFAR layout) for FER.

    Layer names: ``stem.conv1``, ``layer1.0.conv1`` ... ``layer4.1.act2``, ``classifier.fc1``.

    Args:
        width: Channel multiplier on 64-128-256-512.
        blocks: Basic blocks per stage (``[2, 2, 2, 2]`` is ResNet-18, ``[3, 4, 6, 3]`` ResNet-34).
        dropout: Dropout rate before the output layer.
        activation: ``"relu"``, ``"leaky_relu"`` or ``"prelu"``.

    Returns:
        The model.
    """
    check_positive("width", width)
    check_prob("dropout", dropout)
    return he_init(ResNetFER(check_int_list("blocks", blocks, length=4), width, dropout,
                             check_activation(activation)))
