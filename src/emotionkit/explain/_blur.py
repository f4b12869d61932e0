"""The one Gaussian blur of the explain package (faithfulness baselines, activation-max)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_blur(images: torch.Tensor, sigma: float, *, truncate: float = 3.0,
                  padding: str = "replicate") -> torch.Tensor:
    """Blur each channel of a batch (N, C, H, W) with a separable Gaussian of std ``sigma``.

    Args:
        images: The batch.
        sigma: Standard deviation in pixels (> 0).
        truncate: The kernel reaches ``ceil(truncate * sigma)`` pixels (at least 1) each side.
        padding: ``"replicate"`` or ``"reflect"`` (how the border is extended). A reflect pad
            must be smaller than the image: when the kernel is wider, the batch is returned
            unchanged rather than failing.

    Returns:
        The blurred batch, same shape and dtype.
    """
    radius = max(1, math.ceil(truncate * sigma))
    n, c, h, w = images.shape
    if padding == "reflect" and radius > min(h - 1, w - 1):
        return images
    t = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = images.reshape(n * c, 1, h, w)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode=padding), kernel.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode=padding), kernel.view(1, 1, -1, 1))
    return x.reshape(n, c, h, w)
