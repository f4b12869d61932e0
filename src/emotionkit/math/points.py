"""Read a numeric point file (one point per row) for :func:`emotionkit.math.pca.fit`."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DataFormatError

__all__ = ["read_points"]

_SPLIT = re.compile(r"[,;\t ]+")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_points(path: str | Path) -> np.ndarray:
    """Read points from a ``.npy`` file or a text file (``.csv``, ``.txt``, ``.tsv``, ...).

    Text files hold one point per line, values separated by commas, semicolons, tabs or spaces.
    Blank lines and lines starting with ``#`` are skipped; a first line made only of names
    (``x,y,z``) is taken as a header.

    Args:
        path: The file.

    Returns:
        A float64 array of shape ``(N, d)``.

    Raises:
        DataFormatError: The file is missing or unreadable, a value is not a number (the message
            names the line and the value), rows differ in length, or there are no points.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: no such file")
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataFormatError(f"{p}: not a readable .npy array ({exc})") from None
        if arr.dtype.kind not in "biuf":
            raise DataFormatError(f"{p}: expected a numeric array, got dtype {arr.dtype}")
        if arr.ndim != 2:
            raise DataFormatError(f"{p}: expected a 2-D array (points x features), got shape "
                                  f"{arr.shape}")
        return arr.astype(np.float64)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError) as exc:
        raise DataFormatError(f"{p}: not a readable text file ({exc})") from None
    rows: list[list[float]] = []
    first_line = None
    header_seen = False
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f for f in _SPLIT.split(line) if f]
        if not rows and not header_seen and not any(_is_number(f) for f in fields):
            header_seen = True  # a header of column names
            continue
        values = []
        for f in fields:
            if not _is_number(f):
                raise DataFormatError(f"{p}, line {lineno}: {f!r} is not a number")
            values.append(float(f))
        if rows and len(values) != len(rows[0]):
            raise DataFormatError(
                f"{p}, line {lineno}: {len(values)} values, expected {len(rows[0])} "
                f"(as on line {first_line})"
            )
        if not rows:
            first_line = lineno
        rows.append(values)
    if not rows:
        raise DataFormatError(f"{p}: no points found (one point per line expected)")
    arr = np.array(rows, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise DataFormatError(f"{p}: point {bad + 1} holds a NaN or infinite value")
    return arr
