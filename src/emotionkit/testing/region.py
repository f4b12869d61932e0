"""A tiny fixed-weight model that looks only at one square region of the image.

Its ground truth is known: only the pixels of the region can change its output, so a faithful
attribution map must put its mass there. Used to test deletion/insertion metrics and explainers.

The model: a 1x1 convolution with weight 1 (so Grad-CAM has a conv layer), a ReLU, the mean over
the ``size x size`` region, then a linear head whose only non-zero logit is
``gain * (region_mean - 0.5)`` for ``target_class``. On images in [0, 1] a bright region
(mean 1) gives that class a probability near 1, a black region near 0.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import skip_init

__all__ = ["RegionModel"]


class RegionModel(nn.Module):
    """Fixed-weight classifier that only sees the square ``[top:top+size, left:left+size]``.

    Creating it draws nothing from the global random generators.

    Args:
        top: First row of the region.
        left: First column of the region.
        size: Side of the square region (default 8).
        image_size: Side of the (square, one-channel) input images.
        num_classes: Number of output logits.
        target_class: The class whose logit depends on the region.
        gain: Slope of that logit in the region's mean brightness.
    """

    def __init__(
        self,
        top: int = 20,
        left: int = 20,
        size: int = 8,
        image_size: int = 48,
        num_classes: int = 7,
        target_class: int = 3,
        gain: float = 12.0,
    ) -> None:
        super().__init__()
        if not (0 <= top and 0 <= left and size >= 1 and max(top, left) + size <= image_size):
            raise ValueError(
                f"region top={top} left={left} size={size} does not fit a {image_size}-pixel image"
            )
        if not 0 <= target_class < num_classes:
            raise ValueError(f"target_class {target_class} outside 0..{num_classes - 1}")
        self.top, self.left, self.size, self.image_size = top, left, size, image_size
        self.target_class = target_class
        self.conv = skip_init(nn.Conv2d, 1, 1, 1, bias=False)
        self.relu = nn.ReLU()
        self.head = skip_init(nn.Linear, 1, num_classes)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.head.weight.zero_()
            self.head.bias.zero_()
            self.head.weight[target_class, 0] = gain
            self.head.bias[target_class] = -gain / 2
        weights = torch.zeros(1, 1, image_size, image_size)
        weights[..., top : top + size, left : left + size] = 1.0 / size**2
        self.register_buffer("region_weights", weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.relu(self.conv(x))
        region_mean = (features * self.region_weights).sum((1, 2, 3))
        return self.head(region_mean.unsqueeze(1))

    def region_mask(self) -> torch.Tensor:
        """Boolean (image_size, image_size) mask, True on the region."""
        return self.region_weights[0, 0] > 0

    def example_images(self, n: int, seed: int = 0, brightness: float = 0.9) -> torch.Tensor:
        """Random-noise images whose region is bright (the target class is then predicted).

        Args:
            n: Number of images.
            seed: Seed of a local generator (the global RNGs are not touched).
            brightness: Lower bound of the region's pixel values.

        Returns:
            Float tensor (n, 1, image_size, image_size) in [0, 1].
        """
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(n, 1, self.image_size, self.image_size, generator=gen)
        r = slice(self.top, self.top + self.size), slice(self.left, self.left + self.size)
        x[:, :, r[0], r[1]] = brightness + (1 - brightness) * x[:, :, r[0], r[1]]
        return x

    def region_maps(self, n: int) -> torch.Tensor:
        """Ideal attribution maps: 1 on the region, 0 elsewhere, shape (n, 1, side, side)."""
        return self.region_mask().float().expand(n, 1, -1, -1).clone()
