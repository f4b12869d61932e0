"""The report's own figures (the rest come from :mod:`emotionkit.evaluation.figures`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    """Write ``fig`` atomically (emotionkit._io, as every PNG the package writes) and close it."""
    from .._io import atomic_write_with

    path = Path(path)
    atomic_write_with(path, lambda fh: fig.savefig(fh, format="png", bbox_inches="tight"))
    _pyplot().close(fig)
    return path


def image_grid(rows: Sequence[Sequence[np.ndarray]], path: str | os.PathLike, *,
               col_titles: Sequence[str] = (), row_titles: Sequence[str] = (),
               title: str = "", cmaps: Sequence[str | None] | None = None,
               cell: float = 1.35) -> Path:
    """Save a grid of images: ``rows[i][j]`` is a 2-D gray array or an (H, W, 3) RGB array.

    Args:
        rows: The images, row by row, with values in [0, 1].
        path: Destination PNG.
        col_titles: One title per column.
        row_titles: One label per row (left of the first column).
        title: Figure title.
        cmaps: Colormap per column for 2-D arrays (default gray).
        cell: Inches per cell.

    Returns:
        The path written.
    """
    plt = _pyplot()
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols + 0.6, cell * n_rows + 0.5),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(row):
                ax.axis("off")
                continue
            img = np.asarray(row[j])
            if img.dtype == np.uint8:
                img = img.astype(np.float32) / 255.0
            cmap = (cmaps[j] if cmaps and j < len(cmaps) else None) or "gray"
            if img.ndim == 2:
                ax.imshow(img, cmap=cmap, vmin=0.0, vmax=1.0)  # callers scale to [0, 1]
            else:
                ax.imshow(np.clip(img, 0, 1))
            if i == 0 and j < len(col_titles):
                ax.set_title(col_titles[j], fontsize=8)
            if j == 0 and i < len(row_titles):
                ax.set_ylabel(row_titles[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def bar_chart(labels: Sequence[str], values: Sequence[float], path: str | os.PathLike, *,
              ylabel: str, title: str) -> Path:
    """A labelled bar chart with the value printed on each bar."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 1.5 * len(labels)), 3.4))
    bars = ax.bar(range(len(values)), values, color="#4c78a8")
    ax.set_xticks(range(len(values)), labels, fontsize=9)
    for bar, v in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{v:.3f}",
                ha="center", va="bottom", fontsize=9)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(1e-6, max(values)) * 1.18)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def feature_map_grid(maps: torch.Tensor, path: str | os.PathLike, *, title: str,
                     n: int = 32) -> Path:
    """The first ``n`` channels of one image's feature maps (C, h, w), each on its own scale."""
    maps = maps.detach().float().cpu()[:n]
    cols = min(8, len(maps))
    rows = [[_unit(m.numpy()) for m in maps[i:i + cols]] for i in range(0, len(maps), cols)]
    return image_grid(rows, path, title=title, cmaps=["viridis"] * cols, cell=1.0)


def _unit(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
