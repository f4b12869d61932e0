"""The ``emotionkit`` command group and the one place where library errors become CLI errors."""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import EmotionKitError

DEBUG_ENV = "EMOTIONKIT_DEBUG"


class EmotionKitGroup(click.Group):
    """A click group whose every error is one ``Error: ...`` line on stderr.

    * :class:`~emotionkit.errors.EmotionKitError`: exit status 1.
    * An ``OSError`` about a file or folder (a folder that cannot be created, a full disk, no
      permission): exit status 1, naming the path.
    * click usage errors (a missing or invalid option, an unknown command): exit status 2,
      as click uses, but on one line instead of click's usage / hint / error block.

    Set ``EMOTIONKIT_DEBUG=1`` to get the full traceback instead (of the first two).
    """

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            _one_line_usage(exc)
            raise

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _one_line_usage(exc)
            raise
        except EmotionKitError as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise click.ClickException(_one_line(exc)) from None
        except OSError as exc:
            if exc.filename is None or os.environ.get(DEBUG_ENV):
                raise
            raise click.ClickException(_os_error_line(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


def _one_line(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split("\n"))


def _os_error_line(exc: OSError) -> str:
    """One line naming the path: ``cannot create out/x: out is a file, not a folder``."""
    import errno
    from pathlib import Path

    path = str(exc.filename)
    if exc.errno == errno.ENOTDIR:
        blocker = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return f"cannot create {path}: {blocker} is a file, not a folder"
    return f"{path}: {exc.strerror or type(exc).__name__}"


def _one_line_usage(exc: click.UsageError) -> None:
    """Make a click usage error print one ``Error: ...`` line (same exception, same exit code).

    ``NoArgsIsHelpError`` (a command's help when called without arguments) is left as it is.
    """
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return

    def show(file=None) -> None:
        click.echo(f"Error: {_one_line(exc.format_message())}", file=file, err=True,
                   color=exc.ctx.color if exc.ctx is not None else None)

    exc.show = show  # type: ignore[method-assign]


@click.group(cls=EmotionKitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="emotionkit")
def cli() -> None:
    """emotionkit: train, evaluate and explain facial-expression models (FER2013, 48x48 gray).

    Data arguments take a FER2013-style CSV (.csv/.csv.gz), a course-style CSV, an image folder,
    an emotionkit .npz, or the word ``synthetic`` (``synthetic:N`` for N faces per class).
    Set EMOTIONKIT_DEBUG=1 for full tracebacks. Freed CPU memory is kept for reuse (faster
    large-tensor work); EMOTIONKIT_MALLOC=default keeps the C library's defaults.
    """
    from .._allocator import tune_cpu_allocator

    tune_cpu_allocator()


def _register_commands() -> None:
    from . import data as data_cmds

    cli.add_command(data_cmds.data)
    for module_name, attr_names in _OPTIONAL_COMMANDS:
        module = __import__(f"{__package__}.{module_name}", fromlist=attr_names)
        for attr in attr_names:
            cli.add_command(getattr(module, attr))


# Command modules, each owning one command or group. Listed here so main.py is the index.
_OPTIONAL_COMMANDS: list[tuple[str, list[str]]] = [
    ("train", ["train"]),
    ("models", ["models"]),
    ("math", ["math_group"]),
    ("explain_check", ["explain_check"]),
    ("explain", ["explain"]),
    ("plugins", ["plugins"]),
    ("evaluate", ["evaluate", "compare"]),
    ("predict", ["predict"]),
    ("report", ["report"]),
]

_register_commands()
