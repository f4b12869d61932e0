"""Readers for every supported data source, chosen by looking at the file itself.

(Interim: npz and synthetic only; CSV, course CSV, folders and caching are being added.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._io import atomic_write_with
from ..errors import DataFormatError


def read_any(path, *, on_error: str = "raise", **options):
    """Read ``path`` with the reader that fits it (see :meth:`Dataset.load`)."""
    from .synthetic import synthetic

    spec = str(path)
    if spec == "synthetic" or spec.startswith("synthetic:"):
        n = int(spec.split(":", 1)[1]) if ":" in spec else 200
        return synthetic(n, seed=options.get("seed", 0))
    p = Path(spec)
    if not p.exists():
        raise DataFormatError(f"{spec}: no such file or directory")
    if p.suffix == ".npz":
        return read_npz(p)
    raise DataFormatError(f"{spec}: unknown data format")


def read_npz(path: str | os.PathLike):
    """Read an ``.npz`` written by :func:`write_npz`."""
    from .dataset import Dataset

    with np.load(path, allow_pickle=False) as z:
        labels = z["labels"] if "labels" in z.files else None
        if labels is not None and labels.size and labels.min() < 0:
            labels = None
        return Dataset(z["images"], labels, z["splits"].astype(object), source=str(path))


def write_npz(dataset, path: str | os.PathLike) -> None:
    """Write ``dataset`` as an emotionkit npz (uint8 images, int labels, str splits), atomically."""
    arrays = {"images": dataset.images, "splits": dataset.splits.astype(str)}
    if dataset.labels is not None:
        arrays["labels"] = dataset.labels
    atomic_write_with(path, lambda fh: np.savez_compressed(fh, **arrays))
