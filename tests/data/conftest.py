"""Fixtures for the data tests: a tiny dataset and writers of small hand-made source files.

The writers here are deliberately naive (``" ".join(map(str, ...))``) so the readers are checked
against an independent serialization, not against emotionkit's own writers.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny():
    """21 synthetic faces (3 per class) in Training and PublicTest."""
    from emotionkit.data import synthetic

    return synthetic(3, seed=1)


def _pixels(img: np.ndarray) -> str:
    return " ".join(str(int(v)) for v in img.reshape(-1))


def make_csv_text(
    images: np.ndarray,
    labels: Sequence | None,
    splits: Sequence[str] | None,
    header: Sequence[str] = ("emotion", "pixels", "Usage"),
    newline: str = "\n",
    quote_pixels: bool = False,
) -> str:
    """CSV text with the given column order; the header names choose which field goes where."""
    lines = [",".join(header)]
    for i, img in enumerate(images):
        fields = []
        for name in header:
            key = name.strip().lower()
            if key in ("emotion", "label"):
                fields.append(str(labels[i]))
            elif key in ("pixels", "feature"):
                text = _pixels(img)
                fields.append(f'"{text}"' if quote_pixels else text)
            elif key == "usage":
                fields.append(splits[i])
            elif key == "id":
                fields.append(str(100 + i))
            else:
                fields.append("x")
        lines.append(",".join(fields))
    return newline.join(lines) + newline


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """``write_csv(name, dataset=None, text=None, compress=False, **make_csv_text options)``."""

    def write(name: str, dataset=None, text: str | None = None, compress: bool = False,
              **options) -> Path:
        if text is None:
            text = make_csv_text(dataset.images, dataset.labels, list(dataset.splits), **options)
        data = text.encode()
        if compress:
            data = gzip.compress(data)
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def fer_lines(tiny) -> list[str]:
    """The tiny set as FER2013 CSV lines; ``lines[k]`` is file line ``k + 1`` (0 = header)."""
    return make_csv_text(tiny.images, tiny.labels, list(tiny.splits)).splitlines()
