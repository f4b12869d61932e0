"""Read any supported data source, chosen by looking at the source itself (not its name).

* a folder: image folders ``ROOT/<split>/<class>/*.png|jpg`` (:mod:`.folder_reader`);
* a file starting with the gzip magic, or plain text: a FER2013/course CSV (:mod:`.csv_reader`);
* a zip (``.npz``) or an xz-compressed ``.npz``: arrays written by emotionkit (``images``,
  ``labels``, ``splits``, ``ids``), or the same layout with ``usage`` instead of ``splits``;
* the words ``synthetic`` / ``synthetic:N``: the built-in synthetic faces (N per class).

CSV files, folders and ``.npz.xz`` files are cached after the first read (see :mod:`.cache`).
"""

from __future__ import annotations

import io
import lzma
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataFormatError
from . import cache as _cache
from .problems import DataWarning, Problems, check_on_error, warn_skipped

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
XZ_MAGIC = b"\xfd7zXZ\x00"
NPZ_FORMAT = "emotionkit.dataset/1"
DEFAULT_SYNTHETIC_PER_CLASS = 200


def parse_synthetic_spec(spec: str) -> int | None:
    """Faces per class asked for by ``"synthetic"`` / ``"synthetic:N"``.

    Args:
        spec: A data argument as given by the user.

    Returns:
        N (200 for plain ``"synthetic"``), or None when ``spec`` names something else.

    Raises:
        ConfigError: ``synthetic:`` followed by something that is not a positive integer.
    """
    if spec == "synthetic":
        return DEFAULT_SYNTHETIC_PER_CLASS
    if not spec.startswith("synthetic:"):
        return None
    tail = spec.split(":", 1)[1]
    if not tail.isdigit() or int(tail) < 1:
        raise ConfigError(f"bad data spec {spec!r}: use synthetic or synthetic:N with N >= 1")
    return int(tail)


def sniff(path: str | os.PathLike) -> str:
    """Name the format of a file or folder from its content.

    Args:
        path: An existing file or folder.

    Returns:
        ``"folder"``, ``"npz"``, ``"npz.xz"``, ``"csv.gz"`` or ``"csv"`` (text, to be checked by
        its header).

    Raises:
        DataFormatError: The path does not exist or the file is empty.
    """
    p = Path(path)
    if p.is_dir():
        return "folder"
    if not p.exists():
        raise DataFormatError(f"{path}: no such file or directory")
    with open(p, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise DataFormatError(f"{path}: empty file")
    if head.startswith(ZIP_MAGIC):
        return "npz"
    if head.startswith(XZ_MAGIC):
        return "npz.xz"
    if head.startswith(b"\x1f\x8b"):
        return "csv.gz"
    return "csv"


def read_any(
    path: str | os.PathLike,
    *,
    on_error: str = "raise",
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    seed: int = 0,
) -> Any:
    """Read ``path`` with the reader that fits it (see :meth:`Dataset.load`).

    Args:
        path: File, folder, or ``"synthetic"`` / ``"synthetic:N"``.
        on_error: ``"raise"`` or ``"skip"`` (rows of CSV files, images of folders; a damaged
            ``.npz`` always raises).
        cache: Use the on-disk cache for CSV files, folders and ``.npz.xz`` files.
        cache_dir: Cache directory (default: ``$EMOTIONKIT_CACHE_DIR`` or the user cache dir).
        progress: Show progress bars (stderr, only on a terminal).
        seed: Seed of the synthetic set.

    Returns:
        A :class:`~emotionkit.data.Dataset`; ``dataset.skipped`` lists skipped rows.
    """
    from .synthetic_faces import synthetic

    check_on_error(on_error)
    spec = os.fspath(path)
    n_synthetic = parse_synthetic_spec(spec) if isinstance(spec, str) else None
    if n_synthetic is not None:
        return synthetic(n_synthetic, seed=seed)
    kind = sniff(spec)
    if kind == "npz":
        return _to_dataset(read_npz(spec), [], spec)

    problems = Problems(spec, on_error)
    files: list = []
    if kind == "folder":
        from .folder_reader import list_images

        files = list_images(spec, problems)
        key = _cache.folder_key(spec, [f[0] for f in files]) if cache else None
    else:
        key = _cache.file_key(spec) if cache else None
    entry = _cache.entry_path(key, cache_dir) if key is not None else None
    hit = _cache.load(entry) if entry is not None else None
    if hit is not None:
        arrays, skipped = hit
        skipped = problems.records + [r for r in skipped if r not in problems.records]
        if skipped and on_error == "raise":
            raise DataFormatError(skipped[0]["message"])
    else:
        if kind == "folder":
            from .folder_reader import read_folder

            arrays = read_folder(spec, files, problems, progress=progress)
            skipped = problems.records
        elif kind == "npz.xz":
            arrays, skipped = read_npz(spec), []
        else:
            from .csv_reader import read_csv

            arrays, skipped = read_csv(spec, on_error=on_error, progress=progress)
        if entry is not None:
            _cache.store(entry, arrays, skipped)
    return _to_dataset(arrays, skipped, spec)


def _to_dataset(arrays: dict[str, Any], skipped: list[dict[str, Any]], source: str) -> Any:
    from .dataset import Dataset

    for note in arrays.get("notes", []):
        warnings.warn(note, DataWarning, stacklevel=4)
    warn_skipped(source, skipped, stacklevel=4)
    ds = Dataset(
        arrays["images"], arrays["labels"], arrays["splits"], source=source, ids=arrays["ids"]
    )
    ds.skipped = list(skipped)
    return ds


def read_npz(path: str | os.PathLike) -> dict[str, Any]:
    """Read an emotionkit ``.npz`` (or ``.npz.xz``).

    Args:
        path: The file. Keys: ``images`` (uint8 N x 48 x 48), optional ``labels`` (integers,
            all -1 meaning unlabeled), ``splits`` or ``usage`` (strings), optional ``ids``.

    Returns:
        Arrays ``images``, ``labels``, ``splits``, ``ids``, ``format``.

    Raises:
        DataFormatError: Not a readable npz, or arrays missing or of the wrong type/shape.
    """
    source = str(path)
    try:
        if sniff(path) == "npz.xz":
            with lzma.open(path) as fh:
                opened = np.load(io.BytesIO(fh.read()), allow_pickle=False)
        else:
            opened = np.load(path, allow_pickle=False)
        with opened as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
        raise DataFormatError(f"{source}: not a readable .npz file ({exc})") from None
    if "images" not in arrays:
        raise DataFormatError(
            f"{source}: npz has no 'images' array (arrays: {', '.join(sorted(arrays)) or 'none'})"
        )
    images = arrays["images"]
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (48, 48):
        raise DataFormatError(
            f"{source}: 'images' must be uint8 (N, 48, 48), got {images.dtype} {images.shape}"
        )
    n = len(images)
    labels = arrays.get("labels")
    if labels is not None:
        if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (n,):
            raise DataFormatError(
                f"{source}: 'labels' must be integers of shape ({n},), got {labels.dtype} "
                f"{labels.shape}"
            )
        if n and (labels == -1).all():
            labels = None
    splits = arrays.get("splits", arrays.get("usage"))
    if splits is None:
        splits = np.full(n, "Training", dtype=object)
    elif splits.dtype.kind not in "US" or splits.shape != (n,):
        raise DataFormatError(
            f"{source}: 'splits' must be strings of shape ({n},), got {splits.dtype} {splits.shape}"
        )
    ids = arrays.get("ids")
    if ids is None:
        ids = np.arange(n)
    elif ids.shape != (n,):
        raise DataFormatError(f"{source}: 'ids' must have shape ({n},), got {ids.shape}")
    return {
        "images": images,
        "labels": labels,
        "splits": splits.astype(str).astype(object),
        "ids": ids,
        "format": "npz",
    }


def write_npz(dataset: Any, path: str | os.PathLike, *, compress: bool = True) -> None:
    """Write ``dataset`` as an emotionkit ``.npz``, atomically.

    Args:
        dataset: A :class:`~emotionkit.data.Dataset`.
        path: Destination (conventionally ending in ``.npz``).
        compress: Use zip compression (smaller, slower to write).
    """
    from .._io import atomic_write_with

    arrays = {
        "format": np.array(NPZ_FORMAT),
        "images": dataset.images,
        "splits": np.asarray(dataset.splits).astype(str),
        "ids": _plain_ids(dataset.ids),
        "source": np.array(str(dataset.source)),
    }
    if dataset.labels is not None:
        arrays["labels"] = dataset.labels
    saver = np.savez_compressed if compress else np.savez
    atomic_write_with(path, lambda fh: saver(fh, **arrays))


def _plain_ids(ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.dtype == object:
        values = ids.tolist()
        if all(isinstance(v, (int, np.integer)) for v in values):
            return np.array(values, dtype=np.int64)
        return np.array([str(v) for v in values])
    return ids
