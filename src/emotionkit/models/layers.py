"""Small layers shared by the zoo models."""

from __future__ import annotations

import torch
from torch import nn


class Normalize(nn.Module):
    """Standardize pixel input: ``(x - mean) / std``, with the statistics stored as buffers.

    Every zoo model starts with one of these as ``input_norm``, so a model takes raw images in
    [0, 1] and carries its training-set statistics inside its state dict (and so inside every
    checkpoint). Explainers therefore attribute in pixel space. The buffers are not parameters
    and are not counted in parameter totals.

    Args:
        mean: Pixel mean of the training split (on the [0, 1] scale).
        std: Pixel standard deviation of the training split (on the [0, 1] scale).
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def set_stats(self, mean: float, std: float) -> None:
        """Replace the statistics in place (e.g. from :func:`emotionkit.data.normalize.compute_stats`).

        Args:
            mean: New mean.
            std: New standard deviation (must be > 0).
        """
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std}")
        self.mean.fill_(float(mean))
        self.std.fill_(float(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={float(self.mean):.4f}, std={float(self.std):.4f}"
