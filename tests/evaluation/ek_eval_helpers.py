"""Tiny models with known outputs for the evaluation tests.

``IndexedLogits`` reads an image's index from its centre pixel (grey level = index) and returns a
chosen row of logits, so metrics can be checked against values worked out by hand.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from emotionkit.models.layers import Normalize

CENTER = 24

# The hand-checked set: (true label, predicted class, logit of the prediction, runner-up class).
# Class 6 never occurs in the truth (but is predicted once); class 5 is never predicted.
HAND_SET = [
    (0, 0, 3.0, 1),
    (0, 1, 2.0, 0),   # mistake, true class is the runner-up -> top-2 hit
    (1, 1, 3.0, 2),
    (2, 2, 3.0, 0),
    (3, 3, 3.0, 4),
    (3, 6, 4.0, 2),   # mistake, top-2 miss
    (4, 4, 3.0, 0),
    (5, 0, 1.5, 5),   # mistake, top-2 hit
    (5, 4, 3.0, 3),   # mistake, top-2 miss
    (2, 2, 3.0, 1),
]
RUNNER_UP_LOGIT = 0.5


class IndexedLogits(nn.Module):
    """Return ``table[i]`` for an image whose centre pixel has grey level ``i``."""

    def __init__(self, table) -> None:
        super().__init__()
        self.register_buffer("table", torch.as_tensor(np.asarray(table), dtype=torch.float32))
        self.dummy = nn.Parameter(torch.zeros(()))  # gives the model a device and dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = (x[:, 0, CENTER, CENTER] * 255.0).round().long()
        return self.table[idx] + 0.0 * self.dummy


def indexed_images(n: int, seed: int = 0, constant: bool = False) -> np.ndarray:
    """uint8 (n, 48, 48): random (or constant) faces whose centre pixel is their index.

    The two pixels left and right of the vertical midline both hold the index, so a mirrored
    image reads the same index (flip TTA keeps the chosen logits).
    """
    if constant:
        return np.repeat(np.arange(n, dtype=np.uint8), 48 * 48).reshape(n, 48, 48)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    images[:, CENTER, CENTER - 1:CENTER + 1] = np.arange(n, dtype=np.uint8)[:, None]
    return images


class MirrorSymmetric(nn.Module):
    """A linear map of ``x + mirror(x)``: exactly the same output for an image and its mirror."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc = nn.Linear(48 * 48, 7)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(7, 48 * 48, generator=g) * 0.05)
            self.fc.bias.copy_(torch.randn(7, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc((x + x.flip(-1)).flatten(1))


class Asymmetric(nn.Module):
    """A linear map of the pixels whose weights differ left and right."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc = nn.Linear(48 * 48, 7)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(7, 48 * 48, generator=g) * 0.1)
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class Moody(nn.Module):
    """BatchNorm + Dropout, to check that train/eval flags are restored."""

    def __init__(self) -> None:
        super().__init__()
        self.input_norm = Normalize()
        self.conv = nn.Conv2d(1, 2, 3, stride=4)
        self.bn = nn.BatchNorm2d(2)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(2 * 12 * 12, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.bn(self.conv(self.input_norm(x))).flatten(1)))


class Classes(nn.Module):
    """A model with a configurable number of outputs (to make incompatible checkpoints)."""

    def __init__(self, num_classes: int = 7) -> None:
        super().__init__()
        self.input_norm = Normalize()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.input_norm(x)).flatten(1))


CLASSES_NAME = "test-eval-classes"


def register_classes_model() -> None:
    from emotionkit.models import ModelInfo, ModelZoo, register_model

    if CLASSES_NAME in ModelZoo.list():
        return

    def test_eval_classes(num_classes: int = 7) -> nn.Module:
        return Classes(num_classes)

    register_model(ModelInfo(description="evaluation test net", tags=("test",)),
                   name=CLASSES_NAME)(test_eval_classes)


def unregister_classes_model() -> None:
    from emotionkit.models import registry

    registry._REGISTRY.pop(CLASSES_NAME, None)  # test-only: keep the zoo clean
