"""Pictures of explanations: heatmaps, overlays, masked images and grids (matplotlib, no pyplot).

Single images are written as PNG arrays (fast, exact pixels, upscaled with nearest-neighbour so
48x48 faces are visible); figures with titles use :class:`matplotlib.figure.Figure` directly,
so nothing touches pyplot's global state. Every file is written atomically.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence

import numpy as np

from .._io import atomic_write_bytes

__all__ = [
    "colorize",
    "gray_rgb",
    "overlay",
    "upscale",
    "write_png",
    "grid_figure",
    "save_figure",
    "UNSIGNED_CMAP",
    "SIGNED_CMAP",
]

#: Colormap for magnitudes (0..1): perceptually uniform, dark = unimportant.
UNSIGNED_CMAP = "inferno"
#: Colormap for signed maps (-1..1): blue negative, white zero, red positive.
SIGNED_CMAP = "RdBu_r"


def colorize(values: np.ndarray, signed: bool = False, cmap: str | None = None) -> np.ndarray:
    """Map normalized values to RGB.

    Args:
        values: 2-D array in [0, 1] (or [-1, 1] when ``signed``).
        signed: Whether the values are signed.
        cmap: A matplotlib colormap name (defaults depend on ``signed``).

    Returns:
        uint8 array (H, W, 3).
    """
    import matplotlib

    colormap = matplotlib.colormaps[cmap or (SIGNED_CMAP if signed else UNSIGNED_CMAP)]
    v = np.asarray(values, dtype=np.float64)
    v = (v + 1.0) / 2.0 if signed else v
    return (colormap(np.clip(v, 0.0, 1.0))[..., :3] * 255.0 + 0.5).astype(np.uint8)


def gray_rgb(image: np.ndarray) -> np.ndarray:
    """Turn a gray image in [0, 1] into uint8 RGB (H, W, 3)."""
    g = (np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def overlay(
    image: np.ndarray, values: np.ndarray, signed: bool = False, alpha: float = 0.6,
    cmap: str | None = None,
) -> np.ndarray:
    """Blend a heatmap over a gray image; weak attributions leave the face visible.

    Args:
        image: Gray image (H, W) in [0, 1].
        values: Normalized map (H, W), [0, 1] or [-1, 1] when ``signed``.
        signed: Whether the map is signed.
        alpha: Opacity of the strongest attribution.
        cmap: Colormap name.

    Returns:
        uint8 RGB (H, W, 3).
    """
    base = gray_rgb(image).astype(np.float64)
    heat = colorize(values, signed, cmap).astype(np.float64)
    weight = alpha * np.clip(np.abs(np.asarray(values, dtype=np.float64)), 0.0, 1.0)[..., None]
    return (base * (1.0 - weight) + heat * weight + 0.5).astype(np.uint8)


def upscale(rgb: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of an (H, W[, 3]) image by an integer factor."""
    if scale <= 1:
        return rgb
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def write_png(path: str | os.PathLike, rgb: np.ndarray, scale: int = 4) -> None:
    """Write an RGB (or gray) uint8 image as PNG, atomically.

    Args:
        path: Destination file.
        rgb: uint8 (H, W, 3) or (H, W).
        scale: Integer upscaling factor (nearest neighbour).
    """
    import matplotlib.image as mpimg

    arr = upscale(np.asarray(rgb), scale)
    buf = io.BytesIO()
    if arr.ndim == 2:
        mpimg.imsave(buf, arr, cmap="gray", vmin=0, vmax=255, format="png")
    else:
        mpimg.imsave(buf, arr, format="png")
    atomic_write_bytes(path, buf.getvalue())


def grid_figure(
    panels: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    suptitle: str | None = None,
    panel_size: float = 1.6,
):
    """Arrange RGB or gray panels in a grid.

    Args:
        panels: Images (H, W, 3) uint8 RGB, or (H, W) floats shown in gray.
        titles: One title per panel.
        ncols: Columns (default: about square).
        suptitle: Title of the whole figure.
        panel_size: Inches per panel.

    Returns:
        A :class:`matplotlib.figure.Figure`.
    """
    from matplotlib.figure import Figure

    n = max(len(panels), 1)
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(panel_size * ncols, panel_size * nrows + (0.4 if suptitle else 0.0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= len(panels):
            continue
        panel = np.asarray(panels[i])
        if panel.ndim == 2:
            ax.imshow(panel, cmap="gray", interpolation="nearest")
        else:
            ax.imshow(panel, interpolation="nearest")
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG, atomically.

    Args:
        fig: The figure.
        path: Destination file.
        dpi: Resolution.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())
