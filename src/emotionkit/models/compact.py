"""``compact``: a small BatchNorm CNN (about 1.2 M parameters) that trains well on a laptop CPU.

Four stages of conv3x3-BN-activation at 48, 24, 12 and 6 pixels with widths 32-64-128-256,
max-pooling between stages, then global average pooling, dropout and one linear layer. The first
stage has a single convolution, because at full resolution it is the most expensive one per
parameter; most of the parameters sit in the cheap low-resolution stages.
"""

from __future__ import annotations

from torch import nn

from ._build import (
    FeatureClassifierNet,
    Stack,
    check_activation,
    check_int_list,
    check_positive,
    check_prob,
    he_init,
    scaled,
)
from .registry import ModelInfo, register_model

_RECIPE = {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 5e-4, "batch_size": 128,
           "epochs": 30, "scheduler": "onecycle", "augment": "standard", "label_smoothing": 0.1}


@register_model(ModelInfo(
    description="Compact BN CNN: conv stages 32-64-128-256 (1-2-2-2 convs), GAP head; CPU-friendly",
    family="modern", tags=("cnn", "batchnorm", "cpu"), recipe=_RECIPE,
))
def compact(
    width: float = 1.0,
    depth: tuple[int, ...] = (1, 2, 2, 2),
    dropout: float = 0.3,
    conv_dropout: float = 0.0,
    activation: str = "relu",
) -> nn.Module:
    """The compact CNN.

    Layer names: ``features.conv1``, ``features.bn1``, ``features.act1``, ``features.pool1``, ...,
    ``classifier.pool``, ``classifier.flatten``, ``classifier.drop1``, ``classifier.fc1``.

    Args:
        width: Channel multiplier on 32-64-128-256 (rounded to multiples of 8).
        depth: Convolutions in each of the four stages.
        dropout: Dropout rate before the output layer.
        conv_dropout: Dropout rate after each of the three poolings.
        activation: ``"relu"``, ``"leaky_relu"`` or ``"prelu"``.

    Returns:
        The model.
    """
    check_positive("width", width)
    check_prob("dropout", dropout)
    check_prob("conv_dropout", conv_dropout)
    convs = check_int_list("depth", depth, length=4)
    f = Stack(check_activation(activation))
    cin = 1
    for stage, (base, n) in enumerate(zip((32, 64, 128, 256), convs, strict=True)):
        cout = scaled(base, width)
        for _ in range(n):
            f.add("conv", nn.Conv2d(cin, cout, 3, padding=1, bias=False))
            f.add("bn", nn.BatchNorm2d(cout)).act(cout)
            cin = cout
        if stage < 3:
            f.add("pool", nn.MaxPool2d(2)).dropout(conv_dropout)
    c = Stack(activation).add("pool", nn.AdaptiveAvgPool2d(1), numbered=False)
    c.add("flatten", nn.Flatten(), numbered=False).dropout(dropout)
    c.add("fc", nn.Linear(cin, 7))
    return he_init(FeatureClassifierNet(f.build(), c.build()))
