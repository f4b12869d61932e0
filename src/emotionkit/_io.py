"""Atomic file writes: a file is either the old version or the complete new one, never half."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically.

    The temporary file lives in the target's own directory (a rename across filesystems is not
    atomic), is flushed and fsync'ed before :func:`os.replace`, and is removed if anything fails.

    Args:
        path: The final file.
        mode: ``"wb"`` or ``"w"`` (text, UTF-8).

    Yields:
        The open temporary file.
    """
    if mode not in ("wb", "w"):
        raise ValueError("atomic_open supports mode 'wb' or 'w'")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode a normal open() would, or
        # keep the mode of the file being replaced.
        os.chmod(tmp, _final_mode(target))
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
        _fsync_dir(target.parent)
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _final_mode(target: Path) -> int:
    """The permission bits the replaced file keeps, or 0666 less the process umask."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); silently skipped where unsupported."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    Args:
        path: Destination file.
        data: The complete content.
    """
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Args:
        path: Destination file.
        text: The complete content.
    """
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    """Serialize ``obj`` as JSON and write it atomically.

    Args:
        path: Destination file.
        obj: A JSON-serializable object.
        indent: JSON indentation.
    """
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def json_text(obj: Any, path: str | os.PathLike | None = None, indent: int = 2) -> str:
    """Serialize ``obj`` as JSON text; also write it atomically to ``path`` when given.

    Args:
        obj: A JSON-serializable object.
        path: Optional destination file.
        indent: JSON indentation.

    Returns:
        The JSON text (without the trailing newline the file gets).
    """
    text = json.dumps(obj, indent=indent)
    if path is not None:
        atomic_write_text(path, text + "\n")
    return text


def atomic_write_with(
    path: str | os.PathLike, writer: Callable[[IO], None], mode: str = "wb"
) -> None:
    """Let ``writer`` fill a temporary file that then atomically replaces ``path``.

    Args:
        path: Destination file.
        writer: Called with the open temporary file (e.g. ``fig.savefig`` or ``np.savez``).
        mode: ``"wb"`` or ``"w"``.
    """
    with atomic_open(path, mode) as fh:
        writer(fh)
