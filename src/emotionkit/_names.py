"""Accepted names that must be known without importing torch, and 'unknown name' messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: The precision settings (:func:`emotionkit.runtime.resolve_precision`), here so that the CLI can
#: offer them without importing torch.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def unknown_name_message(kind: str, name: str, valid: Iterable[str], limit: int = 20) -> str:
    """Build a message for an unknown ``name`` of some ``kind``.

    Args:
        kind: What the name names, e.g. ``"model"`` or ``"layer"``.
        name: The name that was asked for.
        valid: Every valid name.
        limit: How many valid names to list at most.

    Returns:
        A one-line message with the close matches (if any) and the valid names.
    """
    valid = sorted(valid)
    kinds = _plural(kind)
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    msg = f"unknown {kind} {name!r}"
    if close:
        msg += f"; did you mean {', '.join(repr(c) for c in close)}?"
    else:
        msg += "."
    more = f", ... ({len(valid)} in all)" if len(valid) > limit else ""
    shown = ", ".join(valid[:limit]) + more
    msg += f" Valid {kinds}: {shown}" if valid else f" No {kinds} are available."
    return msg


def _plural(noun: str) -> str:
    """English plural of the last word of ``noun`` ("class" -> "classes")."""
    if noun.endswith(("s", "x", "sh", "ch")):
        return noun + "es"
    return noun + "s"
