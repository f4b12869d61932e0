"""Small helpers the architecture files share: readable layer names and option checks."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from .layers import ACTIVATIONS, Normalize, make_activation


class Stack:
    """Collect modules under numbered, readable names (``conv1``, ``bn1``, ``act1``, ``conv2``...).

    Each ``add(kind, module)`` names the module ``f"{kind}{n}"`` where ``n`` counts modules of that
    kind in this stack, so the layer names the explainers use read like a Keras summary.

    Args:
        activation: Default activation name for :meth:`act`.
        negative_slope: LeakyReLU slope for :meth:`act`.
    """

    def __init__(self, activation: str = "relu", negative_slope: float = 0.01) -> None:
        self.layers: OrderedDict[str, nn.Module] = OrderedDict()
        self.counts: dict[str, int] = {}
        self.activation = activation
        self.negative_slope = negative_slope

    def add(self, kind: str, module: nn.Module, numbered: bool = True) -> Stack:
        """Append ``module`` as ``kind<n>`` (or plain ``kind`` when ``numbered`` is false)."""
        if numbered:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            kind = f"{kind}{self.counts[kind]}"
        if kind in self.layers:
            raise ValueError(f"duplicate layer name {kind!r}")
        self.layers[kind] = module
        return self

    def act(self, channels: int = 1) -> Stack:
        """Append a fresh activation module of the stack's kind."""
        return self.add("act", make_activation(self.activation, channels, self.negative_slope))

    def dropout(self, p: float) -> Stack:
        """Append ``nn.Dropout(p)`` unless ``p`` is 0."""
        return self.add("drop", nn.Dropout(p)) if p > 0 else self

    def build(self) -> nn.Sequential:
        """Return the collected modules as an ``nn.Sequential`` keyed by their names."""
        return nn.Sequential(self.layers)


def check_activation(name: str) -> str:
    """Return ``name`` if it is a known activation, else raise :class:`ConfigError`."""
    make_activation(name)  # raises with the valid names
    return name


def check_prob(option: str, value: float) -> float:
    """Check that a dropout-like option lies in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"option {option!r} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_positive(option: str, value: float) -> float:
    """Check that a width-like option is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"option {option!r} must be a number > 0, got {value!r}")
    return float(value)


def check_count(option: str, value: int, minimum: int = 1) -> int:
    """Check that an option is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"option {option!r} must be an integer >= {minimum}, got {value!r}")
    return value


def check_int_list(option: str, value: Sequence[int], length: int | None = None, minimum: int = 1):
    """Check a list of ints (e.g. blocks per stage or hidden widths) and return it as a list."""
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value
    )
    if not ok or (length is not None and len(value) != length) or (length is None and not value):
        want = f"{length} " if length is not None else ""
        raise ConfigError(
            f"option {option!r} must be a list of {want}integers >= {minimum}, got {value!r}"
        )
    return [int(v) for v in value]


def scaled(channels: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by ``width`` and round to a multiple of ``divisor`` (at least one)."""
    return max(divisor, int(round(channels * width / divisor)) * divisor)


class FeatureClassifierNet(nn.Module):
    """The common zoo layout: ``input_norm`` -> ``features`` -> ``classifier``.

    Args:
        features: The feature extractor (an ``nn.Sequential`` with named layers).
        classifier: The head that maps features to the 7 logits.
    """

    def __init__(self, features: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.input_norm = Normalize()
        self.features = features
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.input_norm(x)))


def keras_init(model: nn.Module) -> nn.Module:
    """Initialise conv and dense layers as Keras does (Glorot-uniform weights, zero biases).

    Args:
        model: The model to initialise in place.

    Returns:
        The same model.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def he_init(model: nn.Module) -> nn.Module:
    """Kaiming-normal conv weights (fan-out), unit/zero BatchNorm, default-scaled linear layers.

    Args:
        model: The model to initialise in place.

    Returns:
        The same model.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


__all__ = ["Stack", "ACTIVATIONS", "check_activation", "check_prob", "check_positive",
           "check_count", "check_int_list", "scaled", "FeatureClassifierNet",
           "keras_init", "he_init"]
