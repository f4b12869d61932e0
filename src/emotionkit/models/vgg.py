"""A VGG-style FER net: four stages of (conv3x3-BN-activation) x depth, max-pool, dense head.

Plain VGG-like CNNs of this shape (widths 64-128-256-512, 48 -> 24 -> 12 -> 6 -> 3) are among the
strongest single models on FER2013 when trained long with SGD and a plateau schedule (e.g. the
VGG variant of Khaireddin & Chen, 2021, arXiv:2105.03588)."""

from __future__ import annotations

from torch import nn

from ._build import (
    FeatureClassifierNet,
    Stack,
    check_activation,
    check_count,
    check_positive,
    check_prob,
    he_init,
    scaled,
)
from .registry import ModelInfo, register_model

_RECIPE = {"optimizer": "sgd", "lr": 0.01, "weight_decay": 5e-4, "batch_size": 64,
           "epochs": 100, "scheduler": "plateau", "augment": "strong", "label_smoothing": 0.0}


@register_model(ModelInfo(
    description="VGG-style CNN: 4 stages of 2x conv-BN-ReLU (64-512), max-pool, dense 1024 head",
    origin="VGG (Simonyan & Zisserman 2015), FER variant",
    family="modern", tags=("cnn", "batchnorm"), recipe=_RECIPE,
))
def vgg_fer(
    width: float = 1.0,
    depth: int = 2,
    dropout: float = 0.5,
    conv_dropout: float = 0.0,
    hidden: int = 1024,
    activation: str = "relu",
) -> nn.Module:
    """VGG-style net for 48x48 faces.

    Layer names: ``features.conv1``, ``features.bn1``, ``features.act1``, ... ``features.pool1``
    ...; head ``classifier.flatten``, ``classifier.fc1``, ``classifier.fc2``.

    Args:
        width: Channel multiplier on 64-128-256-512 (rounded to multiples of 8).
        depth: Convolutions per stage.
        dropout: Dropout rate in the dense head.
        conv_dropout: Dropout rate after each pooling.
        hidden: Width of the hidden dense layer.
        activation: ``"relu"``, ``"leaky_relu"`` or ``"prelu"``.

    Returns:
        The model.
    """
    check_positive("width", width)
    check_prob("dropout", dropout)
    check_prob("conv_dropout", conv_dropout)
    check_count("depth", depth)
    check_count("hidden", hidden)
    f = Stack(check_activation(activation))
    cin = 1
    for base in (64, 128, 256, 512):
        cout = scaled(base, width)
        for _ in range(depth):
            f.add("conv", nn.Conv2d(cin, cout, 3, padding=1, bias=False))
            f.add("bn", nn.BatchNorm2d(cout)).act(cout)
            cin = cout
        f.add("pool", nn.MaxPool2d(2)).dropout(conv_dropout)
    c = Stack(activation).add("flatten", nn.Flatten(), numbered=False).dropout(dropout)
    c.add("fc", nn.Linear(cin * 3 * 3, hidden)).act(hidden).dropout(dropout)
    c.add("fc", nn.Linear(hidden, 7))
    return he_init(FeatureClassifierNet(f.build(), c.build()))

