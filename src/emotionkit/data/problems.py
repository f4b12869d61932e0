"""Bad-input bookkeeping shared by every reader: raise at the first problem, or skip and record.

A reader reports each problem once, with the file, the line (or image path) and the offending
value. With ``on_error="raise"`` the first report raises :class:`~emotionkit.DataFormatError`; with
``on_error="skip"`` the row is dropped, the problem is recorded as a dict and, when reading ends,
one :class:`DataWarning` says how many rows were skipped and where.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..errors import ConfigError, DataFormatError

ON_ERROR_CHOICES = ("raise", "skip")


class DataWarning(UserWarning):
    """Something in a data source was skipped or converted (the message says what)."""


def check_on_error(on_error: str) -> str:
    """Validate an ``on_error`` setting.

    Args:
        on_error: ``"raise"`` or ``"skip"``.

    Returns:
        The same value.

    Raises:
        ConfigError: Any other value.
    """
    if on_error not in ON_ERROR_CHOICES:
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    return on_error


def short(value: Any, limit: int = 40) -> str:
    """``repr`` of a value cut to ``limit`` characters, so no whole pixel row lands in a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


class Problems:
    """Collects (or raises) the problems found while reading one source.

    Args:
        source: The file or folder being read, named in every message.
        on_error: ``"raise"`` or ``"skip"``.
    """

    def __init__(self, source: str, on_error: str = "raise") -> None:
        self.source = source
        self.on_error = check_on_error(on_error)
        self.records: list[dict[str, Any]] = []

    def report(
        self,
        reason: str,
        *,
        line: int | None = None,
        file: str | None = None,
        value: Any = None,
    ) -> None:
        """Raise or record one problem.

        Args:
            reason: What is wrong, e.g. ``"non-numeric pixel value 'x' (pixel 17)"``.
            line: 1-based line number in the file, if the source is a text file.
            file: The offending file when it is not ``source`` itself (an image in a folder).
            value: The offending value, kept in the record for programs.

        Raises:
            DataFormatError: When ``on_error="raise"``.
        """
        where = file or self.source
        message = f"{where}, line {line}: {reason}" if line is not None else f"{where}: {reason}"
        if self.on_error == "raise":
            raise DataFormatError(message)
        self.records.append(
            {
                "file": where,
                "line": line,
                "reason": reason,
                "value": None if value is None else str(value)[:80],
                "message": message,
            }
        )

    def finish(self) -> list[dict[str, Any]]:
        """Warn once about what was skipped and return the records.

        Returns:
            The list of skipped-row records (empty when nothing was skipped).
        """
        warn_skipped(self.source, self.records)
        return self.records


def warn_skipped(source: str, records: list[dict[str, Any]], stacklevel: int = 4) -> None:
    """Emit one :class:`DataWarning` summarizing skipped rows (nothing when there are none).

    Args:
        source: The file or folder read.
        records: Skip records as made by :meth:`Problems.report`.
        stacklevel: Passed to :func:`warnings.warn`.
    """
    if not records:
        return
    where = [str(r["line"]) if r["line"] is not None else str(r["file"]) for r in records[:10]]
    more = f" and {len(records) - 10} more" if len(records) > 10 else ""
    noun = "lines" if records[0]["line"] is not None else "files"
    warnings.warn(
        f"{source}: skipped {len(records)} bad row(s) ({noun} {', '.join(where)}{more}); "
        f"first: {records[0]['reason']}. See dataset.skipped for all of them.",
        DataWarning,
        stacklevel=stacklevel,
    )
