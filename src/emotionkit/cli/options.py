"""Click options shared by several commands, so each is spelled and checked once.

What commands do with the values (KEY=VALUE settings, loading ``--model``, finding the files
of a run directory) is in ``_common.py``.
"""

from __future__ import annotations

from typing import Any

import click


class DeviceType(click.ParamType):
    """``--device``: auto, cpu, cuda or cuda:N, checked once when the command line is parsed."""

    name = "device"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from ..errors import ConfigError
        from ..runtime import resolve_device

        if not isinstance(value, str):
            return value
        try:
            resolve_device(value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
        return value


class OutDir(click.Path):
    """``--out DIR``: a folder that exists or can be created, checked when the line is parsed.

    An existing file, a path beneath a file (``results.json/plots``) or a folder that cannot
    be written to is a usage error naming the path, before any work is done.
    """

    def __init__(self) -> None:
        super().__init__(file_okay=False, dir_okay=True, path_type=None)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        value = super().convert(value, param, ctx)
        problem = out_dir_problem(value)
        if problem:
            self.fail(problem, param, ctx)
        return value


def out_dir_problem(path: Any) -> str | None:
    """Why ``path`` cannot be used as an output folder, or ``None`` when it can.

    Args:
        path: The folder (it need not exist yet).

    Returns:
        A message naming the path and the part of it that is in the way.
    """
    import os
    from pathlib import Path

    target = Path(os.fspath(path)).expanduser()
    for part in (target, *target.parents):
        if not part.exists():
            continue
        if not part.is_dir():
            return (f"{target} is a file, not a folder" if part == target
                    else f"cannot create folder {target}: {part} is a file, not a folder")
        if not os.access(part, os.W_OK | os.X_OK):
            return (f"cannot write into folder {target}: permission denied" if part == target
                    else f"cannot create folder {target}: {part} is not writable")
        return None
    return None


def device_option() -> Any:
    """``--device`` (default auto: CUDA when present)."""
    return click.option("--device", type=DeviceType(), default="auto", show_default=True,
                        help="auto, cpu, cuda or cuda:N.")


def precision_option(default: str, help: str) -> Any:
    """``--precision``, offering the names :func:`emotionkit.runtime.resolve_precision` takes."""
    from .._names import PRECISIONS

    return click.option("--precision", type=click.Choice(PRECISIONS), default=default,
                        show_default=True, help=help)


def model_option(help_extra: str = "") -> Any:
    """``--model NAME|CKPT``, optional: the best shipped pretrained model when left out."""
    return click.option(
        "--model", "model_spec", default=None, metavar="NAME|CKPT",
        help="A zoo model with shipped weights (see 'emotionkit models list'), or a checkpoint "
        "/ run directory written by 'emotionkit train' [default: the best shipped model]."
        + help_extra)


def detector_option() -> Any:
    """``--detector mtcnn|lbp``."""
    return click.option("--detector", type=click.Choice(["mtcnn", "lbp"]), default="mtcnn",
                        show_default=True,
                        help="Face detector: mtcnn (landmarks, more faces) or lbp (lighter).")


__all__ = ["DeviceType", "OutDir", "detector_option", "device_option", "model_option",
           "out_dir_problem"]
