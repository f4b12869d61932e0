"""Test-time augmentation: several views of each image, whose class probabilities are averaged.

Modes (``tta=``):

- ``"none"``: the image itself (1 view).
- ``"flip"``: the image and its horizontal (left-right) mirror (2 views).
- ``"tencrop"``: five 44x44 crops -- top-left, top-right, bottom-left, bottom-right (offsets 0
  and 4 on each axis) and the centre (offset 2, 2) -- each resized back to 48x48 with bilinear
  interpolation (``F.interpolate(mode="bilinear", align_corners=False, antialias=False)``), plus
  the horizontal mirror of each of the five: 10 views. A 44-pixel crop keeps 92 % of the face
  (crops of 40 cut into the mouth and eyebrows on 48-pixel faces).

All views of a chunk of images are built with a handful of tensor operations (no per-image Python
work) and stacked view-major: ``views[v * N + i]`` is view ``v`` of image ``i``, so a model sees
the whole chunk in one forward pass and :func:`average_views` reshapes the output to
``(V, N, C)``. Probabilities, not logits, are averaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._names import unknown_name_message
from ..errors import UnknownNameError

TTA_MODES: tuple[str, ...] = ("none", "flip", "tencrop")

#: Side of the ten-crop crops, and their offsets (row, column) in the 48x48 image.
CROP_SIZE = 44
CROP_OFFSETS: tuple[tuple[int, int], ...] = ((0, 0), (0, 4), (4, 0), (4, 4), (2, 2))


def check_mode(mode: str) -> str:
    """Validate a TTA mode name.

    Args:
        mode: ``"none"``, ``"flip"`` or ``"tencrop"`` (any case).

    Returns:
        The lower-case mode.

    Raises:
        UnknownNameError: For any other name.
    """
    key = str(mode).strip().lower()
    if key not in TTA_MODES:
        raise UnknownNameError(unknown_name_message("TTA mode", str(mode), TTA_MODES))
    return key


def n_views(mode: str) -> int:
    """Number of views a mode makes of each image (1, 2 or 10)."""
    return {"none": 1, "flip": 2, "tencrop": 10}[check_mode(mode)]


def five_crops(x: torch.Tensor, size: int = CROP_SIZE) -> torch.Tensor:
    """Four corner crops and the centre crop of each image, resized back to the input size.

    Args:
        x: (N, C, H, W) images.
        size: Crop side; the crops sit at offsets 0 and ``H - size`` (corners) and
            ``(H - size) // 2`` (centre).

    Returns:
        (5 * N, C, H, W), view-major (top-left, top-right, bottom-left, bottom-right, centre).
    """
    n, c, h, w = x.shape
    if size > min(h, w):
        raise ValueError(f"crop size {size} is larger than the {h}x{w} images")
    dh, dw = h - size, w - size
    offsets = ((0, 0), (0, dw), (dh, 0), (dh, dw), (dh // 2, dw // 2))
    crops = torch.cat([x[:, :, r:r + size, q:q + size] for r, q in offsets])
    if size == h and size == w:
        return crops
    return F.interpolate(crops, size=(h, w), mode="bilinear", align_corners=False,
                         antialias=False)


def make_views(x: torch.Tensor, mode: str) -> torch.Tensor:
    """All TTA views of a batch, view-major.

    Args:
        x: (N, 1, 48, 48) images in [0, 1].
        mode: A TTA mode (see the module docstring).

    Returns:
        (V * N, 1, 48, 48) with ``V = n_views(mode)``; ``out[v * N + i]`` is view ``v`` of image
        ``i``. The second half of the views are the mirrors of the first half (for ``"flip"`` and
        ``"tencrop"``).
    """
    mode = check_mode(mode)
    if mode == "none":
        return x
    base = x if mode == "flip" else five_crops(x)
    return torch.cat([base, base.flip(-1)])


def average_views(probabilities: torch.Tensor, n_images: int) -> torch.Tensor:
    """Average the probabilities of the views of each image.

    Args:
        probabilities: (V * N, C) probabilities of :func:`make_views`'s output.
        n_images: N.

    Returns:
        (N, C), the mean over the V views.
    """
    views = probabilities.shape[0] // max(n_images, 1)
    if views == 1:
        return probabilities
    return probabilities.reshape(views, n_images, -1).mean(dim=0)


__all__ = ["TTA_MODES", "CROP_SIZE", "CROP_OFFSETS", "check_mode", "n_views", "five_crops",
           "make_views", "average_views"]
