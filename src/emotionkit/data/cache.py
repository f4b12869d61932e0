"""On-disk cache of parsed datasets, so a second load of the same file takes a fraction of a second.

An entry is an uncompressed ``.npz`` in the user cache directory (``platformdirs``), overridable
with the environment variable ``EMOTIONKIT_CACHE_DIR`` or a ``cache_dir=`` argument. Entries are
keyed by the source's absolute path, size and modification time (for folders: every image's
relative path, size and modification time) and :data:`CACHE_VERSION`, so an edited file is parsed
again. Writes are atomic; an entry that cannot be read is deleted and rebuilt. Only clean results
and ``on_error="skip"`` results are cached (a raising read caches nothing); a cached skip result
keeps its skip records, so a later ``on_error="raise"`` load raises the same error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_with

CACHE_ENV = "EMOTIONKIT_CACHE_DIR"
#: Bump whenever reader output could change for the same input.
CACHE_VERSION = 1


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """Directory holding cache entries.

    Args:
        override: Use this directory instead of the environment/user default.

    Returns:
        ``override``, else ``$EMOTIONKIT_CACHE_DIR``, else ``<user cache dir>/emotionkit/data``.
    """
    if override is not None:
        return Path(override)
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("emotionkit")) / "data"


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def file_key(path: str | os.PathLike, options: dict[str, Any] | None = None) -> tuple[str, str]:
    """Cache key of one file.

    Args:
        path: The source file.
        options: Reader options that change the result (part of the key).

    Returns:
        ``(path_part, state_part)``: the first names the source, the second its current state.
    """
    full = os.path.abspath(path)
    st = os.stat(full)
    return _digest(full), _digest([CACHE_VERSION, full, st.st_size, st.st_mtime_ns, options])


def folder_key(
    root: str | os.PathLike,
    files: Iterable[str | os.PathLike],
    options: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Cache key of an image folder from every listed file's path, size and mtime.

    Args:
        root: The folder.
        files: The image files that will be read.
        options: Reader options that change the result.

    Returns:
        ``(path_part, state_part)`` as in :func:`file_key`.
    """
    full = os.path.abspath(root)
    listing = []
    for f in files:
        st = os.stat(f)
        listing.append([os.path.relpath(f, full), st.st_size, st.st_mtime_ns])
    return _digest(full), _digest([CACHE_VERSION, full, listing, options])


def entry_path(key: tuple[str, str], directory: str | os.PathLike | None = None) -> Path:
    """File name of the cache entry for ``key``."""
    return cache_dir(directory) / f"{key[0]}-{key[1]}.npz"


def load(entry: Path) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """Read a cache entry.

    Args:
        entry: The entry file.

    Returns:
        ``(arrays, skipped)`` as the readers return them, or None when the entry is missing or
        unreadable (an unreadable one is deleted).
    """
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as z:
            if int(z["version"]) != CACHE_VERSION:
                raise ValueError("old cache version")
            images = z["images"]
            arrays = {
                "images": images,
                "labels": z["labels"] if "labels" in z.files else None,
                "splits": z["splits"].astype(object),
                "ids": z["ids"],
                "format": str(z["format"]),
            }
            skipped = json.loads(str(z["skipped"]))
            arrays["notes"] = json.loads(str(z["notes"]))
        n = len(images)
        if images.dtype != np.uint8 or images.shape[1:] != (48, 48) or len(arrays["splits"]) != n:
            raise ValueError("inconsistent cache entry")
        return arrays, skipped
    except Exception:  # any damage: drop the entry, the caller rebuilds it
        with contextlib.suppress(OSError):
            entry.unlink()
        return None


def store(entry: Path, arrays: dict[str, Any], skipped: list[dict[str, Any]]) -> bool:
    """Write a cache entry atomically and remove stale entries of the same source.

    Args:
        entry: The entry file (from :func:`entry_path`).
        arrays: ``images``, ``labels`` (or None), ``splits``, ``ids``, ``format``, ``notes``.
        skipped: Skip records to keep with the data.

    Returns:
        True when written; False when the cache directory is not writable (never raises).
    """
    payload = {
        "version": np.array(CACHE_VERSION),
        "images": arrays["images"],
        "splits": np.asarray(arrays["splits"]).astype(str),
        "ids": arrays["ids"],
        "format": np.array(arrays.get("format", "")),
        "skipped": np.array(json.dumps(skipped)),
        "notes": np.array(json.dumps(list(arrays.get("notes", [])))),
    }
    if arrays.get("labels") is not None:
        payload["labels"] = arrays["labels"]
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_with(entry, lambda fh: np.savez(fh, **payload))
    except OSError:
        return False
    prefix = entry.name.split("-", 1)[0] + "-"
    for old in entry.parent.glob(prefix + "*.npz"):
        if old != entry:
            with contextlib.suppress(OSError):
                old.unlink()
    return True


def clear(directory: str | os.PathLike | None = None) -> int:
    """Delete every cache entry.

    Args:
        directory: The cache directory (default: :func:`cache_dir`).

    Returns:
        The number of entries removed.
    """
    removed = 0
    for f in cache_dir(directory).glob("*.npz"):
        with contextlib.suppress(OSError):
            f.unlink()
            removed += 1
    return removed
