"""Normalization statistics: the mean and standard deviation of pixel values on the [0, 1] scale.

They are computed on the training split only (never on test data) and later stored inside the
model (``models.layers.Normalize``), so a saved model normalizes its inputs itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError


def _uint8_stats(images: np.ndarray) -> tuple[float, float]:
    """Exact mean/std of uint8 pixels from their histogram (no float copy of the data)."""
    counts = np.bincount(images.reshape(-1), minlength=256).astype(np.float64)
    total = counts.sum()
    levels = np.arange(256, dtype=np.float64) / 255.0
    mean = float((counts * levels).sum() / total)
    var = float((counts * (levels - mean) ** 2).sum() / total)
    return mean, var**0.5


def compute_stats(data: Any, split: str | None = "Training") -> tuple[float, float]:
    """Mean and standard deviation of the pixels, on the [0, 1] scale.

    Args:
        data: A :class:`~emotionkit.data.Dataset` (uint8 images are divided by 255), a float
            tensor or array of images already in [0, 1] (any shape), or a uint8 array.
        split: For a dataset, the split to use (default ``"Training"``); when the dataset has no
            such split, or ``split`` is None, all its images are used.

    Returns:
        ``(mean, std)`` as Python floats (population std, as applied per pixel).

    Raises:
        ConfigError: No images, or a float input outside [0, 1] (probably 0..255 values).
    """
    if hasattr(data, "images") and hasattr(data, "splits"):
        images = data.images
        if split is not None and split in set(str(s) for s in data.split_names):
            images = images[np.asarray(data.splits == split)]
        data = images
    if isinstance(data, np.ndarray) and data.dtype == np.uint8:
        if data.size == 0:
            raise ConfigError("cannot compute normalization statistics of no images")
        return _uint8_stats(data)
    x = torch.as_tensor(data)
    if x.numel() == 0:
        raise ConfigError("cannot compute normalization statistics of no images")
    if not x.is_floating_point():
        raise ConfigError(f"expected uint8 or float images, got {x.dtype}")
    x = x.detach().to(torch.float64)
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ConfigError(
            f"float images must be in [0, 1] (got values in [{lo:g}, {hi:g}]); divide by 255 first"
        )
    mean = x.mean()
    std = ((x - mean) ** 2).mean().sqrt()
    return float(mean), float(std)
