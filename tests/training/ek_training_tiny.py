"""A tiny registered model and data for the training tests (also imported by subprocess scripts).

``register()`` adds ``test-tiny`` to the ModelZoo (idempotent); ``unregister()`` removes it again
so that other test packages iterating over the zoo never see it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from emotionkit.models.layers import Normalize

NAME = "test-tiny"


class Tiny(nn.Module):
    """conv(stride 2) -> BN -> ReLU -> maxpool 4 -> dropout -> linear: ~300 parameters."""

    def __init__(self, width: int = 4, dropout: float = 0.2) -> None:
        super().__init__()
        self.input_norm = Normalize()
        self.conv = nn.Conv2d(1, width, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(4)
        self.flatten = nn.Flatten()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(width * 36, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.bn(self.conv(self.input_norm(x)))))
        return self.fc(self.drop(self.flatten(x)))


def register() -> None:
    from emotionkit.models import ModelInfo, ModelZoo, register_model

    if NAME in ModelZoo.list():
        return

    def test_tiny(width: int = 4, dropout: float = 0.2) -> nn.Module:
        return Tiny(width, dropout)

    register_model(ModelInfo(description="tiny test net", tags=("test",)), name=NAME)(test_tiny)


def unregister() -> None:
    from emotionkit.models import registry

    registry._REGISTRY.pop(NAME, None)  # test-only: keep the zoo clean for other packages


def make(seed: int = 0, **config) -> nn.Module:
    from emotionkit.models import ModelZoo

    register()
    return ModelZoo.create(NAME, seed=seed, **config)


def data(n: int = 96, seed: int = 0):
    """Learnable synthetic pairs: uint8 images whose class is a bright square's position."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 7, n)
    x = rng.integers(0, 60, (n, 1, 48, 48)).astype(np.uint8)
    for i, c in enumerate(y):
        r, col = divmod(int(c), 3)
        x[i, 0, 4 + 14 * r:14 + 14 * r, 4 + 14 * col:14 + 14 * col] = 220
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
