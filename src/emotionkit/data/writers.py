"""Write a dataset as FER2013 CSV (optionally gzip), emotionkit ``.npz`` or an image folder.

Every writer is atomic: a CSV/npz goes through :mod:`emotionkit._io`; a folder is built under a
temporary name next to the target and renamed into place at the end.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_bytes
from ..errors import ConfigError
from .classes import CLASS_NAMES

FORMATS = ("npz", "csv", "csv.gz", "folder")

# "12 " for every grey level, padded with NULs to 4 bytes (removed after joining)
_PIXEL_TEXT = np.array([b"%d " % v for v in range(256)], dtype="S4")


def format_for(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from the file name.

    Args:
        path: Destination; ``.npz``, ``.csv``, ``.csv.gz``, or anything else (a folder).
        fmt: One of :data:`FORMATS`, or None to decide from ``path``.

    Returns:
        The format name.

    Raises:
        ConfigError: ``fmt`` is not a known format.
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown output format {fmt!r}; valid formats: {', '.join(FORMATS)}")
        return fmt
    name = str(path).lower().rstrip("/\\")
    if name.endswith(".npz"):
        return "npz"
    if name.endswith(".csv.gz"):
        return "csv.gz"
    if name.endswith(".csv"):
        return "csv"
    if Path(name).suffix in (".gz", ".zip", ".txt", ".json", ".png", ".jpg"):
        raise ConfigError(
            f"cannot tell the output format from {str(path)!r}; use .npz, .csv, .csv.gz, a folder "
            "name, or --format"
        )
    return "folder"


def csv_bytes(dataset: Any, progress: bool = False) -> bytes:
    """The dataset as CSV text: ``emotion,pixels,Usage``, or ``id,feature,Usage`` when unlabeled.

    Args:
        dataset: A :class:`~emotionkit.data.Dataset`.
        progress: Show a progress bar.

    Returns:
        The CSV file's bytes (UTF-8, ``\\n`` line ends).
    """
    from tqdm.auto import tqdm

    labeled = dataset.labels is not None
    out = [b"emotion,pixels,Usage\n" if labeled else b"id,feature,Usage\n"]
    n = len(dataset)
    flat = dataset.images.reshape(n, 48 * 48)
    ids = np.asarray(dataset.ids)
    if labeled:
        first = dataset.labels
    elif np.issubdtype(ids.dtype, np.integer) and (ids >= 0).all():
        first = ids
    else:
        first = np.arange(n)
    splits = [str(s).encode() for s in dataset.splits]
    step = 1024
    width = flat.shape[1] * 4
    for i0 in tqdm(range(0, n, step), desc="writing csv", unit="block",
                   disable=None if progress else True, leave=False):
        text = _PIXEL_TEXT[flat[i0:i0 + step]].tobytes()
        for j in range(min(step, n - i0)):
            row = text[j * width:(j + 1) * width].replace(b"\x00", b"").rstrip(b" ")
            out.append(b"%d,%s,%s\n" % (first[i0 + j], row, splits[i0 + j]))
    return b"".join(out)


def write_csv(dataset: Any, path: str | os.PathLike, *, compress: bool | None = None,
              progress: bool = False) -> None:
    """Write a FER2013 CSV atomically (gzip when ``compress`` or the name ends in ``.gz``).

    Args:
        dataset: The dataset.
        path: Destination.
        compress: Gzip the file; None decides from the name.
        progress: Show a progress bar.
    """
    data = csv_bytes(dataset, progress=progress)
    if compress is None:
        compress = str(path).lower().endswith(".gz")
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    atomic_write_bytes(path, data)


def write_folder(dataset: Any, path: str | os.PathLike, *, progress: bool = False) -> None:
    """Write PNGs ``path/<split>/<class>/<index>.png``, creating the folder atomically.

    Args:
        dataset: A labeled dataset.
        path: The folder to create; it must not exist or be empty.
        progress: Show a progress bar.

    Raises:
        ConfigError: The dataset is unlabeled or the folder exists and is not empty.
    """
    from skimage import io as skio
    from tqdm.auto import tqdm

    if dataset.labels is None:
        raise ConfigError("an image folder needs labels (class folders); this dataset has none")
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{target}: already exists and is not an empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        made: set[Path] = set()
        for i in tqdm(range(len(dataset)), desc="writing images", unit="img",
                      disable=None if progress else True, leave=False):
            sub = tmp / str(dataset.splits[i]) / CLASS_NAMES[int(dataset.labels[i])]
            if sub not in made:
                sub.mkdir(parents=True, exist_ok=True)
                made.add(sub)
            skio.imsave(sub / f"{i:06d}.png", dataset.images[i], check_contrast=False)
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
        tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)


def write_any(dataset: Any, path: str | os.PathLike, fmt: str | None = None,
              progress: bool = False) -> str:
    """Write ``dataset`` in the format chosen by :func:`format_for`.

    Args:
        dataset: The dataset.
        path: Destination file or folder.
        fmt: Format name, or None to decide from ``path``.
        progress: Show progress bars.

    Returns:
        The format written.
    """
    from .readers import write_npz

    fmt = format_for(path, fmt)
    if fmt == "npz":
        write_npz(dataset, path)
    elif fmt in ("csv", "csv.gz"):
        write_csv(dataset, path, compress=fmt == "csv.gz", progress=progress)
    else:
        write_folder(dataset, path, progress=progress)
    return fmt
