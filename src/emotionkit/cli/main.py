"""The ``emotionkit`` command group and the one place where library errors become CLI errors."""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import EmotionKitError

DEBUG_ENV = "EMOTIONKIT_DEBUG"


class EmotionKitGroup(click.Group):
    """A click group that turns :class:`~emotionkit.errors.EmotionKitError` into ``Error: ...``.

    Set ``EMOTIONKIT_DEBUG=1`` to get the full traceback instead.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EmotionKitError as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise click.ClickException(_one_line(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split("\n"))


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
]

_register_commands()
