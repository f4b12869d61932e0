"""Contact sheet: a grid of faces, one row per class, class names as row labels."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .._io import atomic_write_with
from ..errors import ConfigError
from .classes import DISPLAY_NAMES, NUM_CLASSES


def pick_examples(dataset: Any, n: int, seed: int | None = 0) -> list[tuple[str, np.ndarray]]:
    """Choose up to ``n`` images, spread evenly over the classes.

    Args:
        dataset: A :class:`~emotionkit.data.Dataset`.
        n: Images in all (``ceil(n / 7)`` per class when labeled).
        seed: Seed of the random choice; None takes the first images in file order.

    Returns:
        ``(row_label, indices)`` per row: one row per class when labeled (classes without images
        are left out), otherwise rows of ``ceil(sqrt(n))`` images labeled by their first index.

    Raises:
        ConfigError: ``n`` is not positive or the dataset is empty.
    """
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if len(dataset) == 0:
        raise ConfigError(f"{dataset.source}: no images to show")
    rng = np.random.default_rng(seed) if seed is not None else None

    def choose(pool: np.ndarray, k: int) -> np.ndarray:
        if rng is None or len(pool) <= k:
            return pool[:k]
        return np.sort(rng.choice(pool, size=k, replace=False))

    if dataset.labels is None:
        cols = math.ceil(math.sqrt(n))
        chosen = choose(np.arange(len(dataset)), n)
        return [(f"#{chosen[i]}", chosen[i:i + cols]) for i in range(0, len(chosen), cols)]
    per_row = math.ceil(n / NUM_CLASSES)
    rows = []
    for c in range(NUM_CLASSES):
        pool = np.flatnonzero(dataset.labels == c)
        if len(pool):
            rows.append((DISPLAY_NAMES[c], choose(pool, per_row)))
    return rows


def contact_sheet(dataset: Any, n: int = 49, seed: int | None = 0, title: str | None = None) -> Any:
    """Draw a contact sheet.

    Args:
        dataset: A :class:`~emotionkit.data.Dataset`.
        n: Number of images (see :func:`pick_examples`).
        seed: Seed of the choice; None for the first images.
        title: Figure title (default: the dataset's source and size).

    Returns:
        A :class:`matplotlib.figure.Figure` (no pyplot state involved).
    """
    from matplotlib.figure import Figure

    rows = pick_examples(dataset, n, seed)
    cols = max(len(idx) for _, idx in rows)
    label_in, cell_in = 1.0, 0.8  # inches for the row labels and per image
    width = label_in + cell_in * cols + 0.1
    height = 0.5 + 0.85 * len(rows)
    fig = Figure(figsize=(width, height), dpi=100)
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (label, idx) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(idx):
                ax.imshow(dataset.images[idx[c]], cmap="gray", vmin=0, vmax=255,
                          interpolation="nearest")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle(title or f"{dataset.source} ({len(dataset)} images)", fontsize=10)
    fig.subplots_adjust(left=label_in / width, right=1 - 0.1 / width, bottom=0.05 / height,
                        top=1 - 0.45 / height, wspace=0.05, hspace=0.08)
    return fig


def save_contact_sheet(dataset: Any, path: str | os.PathLike, n: int = 49,
                       seed: int | None = 0, title: str | None = None) -> None:
    """Draw a contact sheet and write it as PNG (atomically).

    Args:
        dataset: The dataset.
        path: Destination PNG.
        n: Number of images.
        seed: Seed of the choice.
        title: Figure title.
    """
    fig = contact_sheet(dataset, n=n, seed=seed, title=title)
    atomic_write_with(path, lambda fh: fig.savefig(fh, format="png"))
