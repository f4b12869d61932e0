"""What several commands do with the values they are given, written once.

* :func:`parse_key_values`: ``KEY=VALUE`` settings (``train/report/models summary --set``,
  ``explain/explain-check -o``).
* :func:`load_model_arg`: the ``--model`` / ``--init`` loader (checkpoint, run directory or
  zoo name).
* :func:`run_file`: a file of a training run, given the run directory or the file itself.

How options are spelled and checked while the command line is parsed is in ``options.py``.
Nothing here imports torch at module level, so ``emotionkit --help`` stays fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

#: The best model of a run directory (``emotionkit.training.trainer.MODEL_NAME``; a test
#: checks they agree, the CLI does not import the trainer to know it).
MODEL_FILE = "model.safetensors"
#: The epoch history of a run directory.
HISTORY_FILE = "history.json"
#: What ``emotionkit train`` records about a run.
RUN_FILE = "run.json"


def parse_key_values(items: tuple[str, ...] | list[str], option: str, *,
                     prefixed: bool = False) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> dict: the one settings parser of the CLI.

    A value is read as JSON when it parses (``2``, ``0.5``, ``true``, ``null``, ``[1,1]``,
    ``"text"``), else kept as the text after the first ``=``. ``KEY`` is a Python name (a
    keyword argument); with ``prefixed`` it may carry a method prefix, ``METHOD.KEY``
    (``integrated-gradients.steps``), kept in the key for the caller to route. A key given
    twice keeps its last value.

    Args:
        items: The strings, as click collects a repeatable option.
        option: The option's flag (``"--set"``), named in the error.
        prefixed: Accept ``METHOD.KEY``.

    Returns:
        ``{key: value}`` in the order given.

    Raises:
        click.BadParameter: An item without ``=`` or with a key that is not a name; one line
            naming the item (exit status 2).
    """
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        prefix, dot, name = key.rpartition(".") if prefixed else ("", "", key)
        if not sep or not name.isidentifier() or (dot and not prefix.strip()):
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}",
                                     param_hint=f"'{option}'")
        try:
            settings[key] = json.loads(raw)
        except ValueError:
            settings[key] = raw
    return settings


def load_model_arg(spec: str | os.PathLike | None, device: Any, *,
                   untrained_ok: bool = True) -> tuple[Any, str]:
    """The one ``--model`` loader of the CLI: the model and a label for messages.

    ``None`` gives the best shipped model; a path a checkpoint (a run directory: its
    ``model.safetensors``); a zoo name its shipped weights, or (``untrained_ok``, demos) random
    weights with a warning on stderr. The model is checked to map 48x48 gray images to the
    seven FER2013 classes.

    Raises:
        CheckpointError / UnknownModelError: Converted to one ``Error:`` line by the CLI group.
    """
    import warnings

    from ..inference import describe_model, resolve_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = resolve_model(spec, device, untrained_ok=untrained_ok)
    for w in caught:
        click.echo(f"Warning: {w.message}", err=True)
    label = str(spec) if spec is not None else describe_model(model)
    if any("untrained" in str(w.message) for w in caught):
        label = f"zoo:{spec} (untrained)"
    check_fer_model(model, label)
    return model, label


def check_fer_model(model: Any, where: str) -> None:
    """Refuse a model that does not map (N, 1, 48, 48) to the seven FER2013 classes."""
    import torch

    from ..data.classes import CLASS_NAMES, NUM_CLASSES
    from ..errors import CheckpointError

    names = (getattr(model, "emotionkit_meta", None) or {}).get("class_names")
    if names is not None and list(names) != list(CLASS_NAMES):
        what = (f"{len(names)} classes" if len(names) != NUM_CLASSES
                else "the classes in another order")
        raise CheckpointError(f"{where}: incompatible checkpoint: the model has {what} "
                              f"({', '.join(map(str, names))}); emotionkit evaluates the "
                              f"{NUM_CLASSES} FER2013 classes ({', '.join(CLASS_NAMES)})")
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    probe = torch.zeros(2, 1, 48, 48, device=device)
    try:
        with torch.inference_mode():
            out = model(probe)
    except RuntimeError as exc:
        raise CheckpointError(f"{where}: incompatible checkpoint: the model fails on 48x48 "
                              f"grayscale input ({str(exc).splitlines()[0]})") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, NUM_CLASSES):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckpointError(f"{where}: incompatible checkpoint: the model returns {got} for 2 "
                              f"images, expected (2, {NUM_CLASSES}) logits")


def run_file(path: str | os.PathLike, name: str = MODEL_FILE, *, what: str = "checkpoint",
             required: bool = False) -> Path:
    """The one run-directory resolver of the CLI: ``path/name`` for a directory, else ``path``.

    Args:
        path: A run directory written by ``emotionkit train --out DIR``, or a file (``~`` is
            expanded).
        name: The file wanted from a run directory (:data:`MODEL_FILE`, :data:`HISTORY_FILE`,
            :data:`RUN_FILE`).
        what: What the file is, for the error (``"history"``).
        required: Raise when the resolved file does not exist.

    Returns:
        The file's path (not checked unless ``required``).

    Raises:
        DataFormatError: ``required`` and there is no such file; the message names ``path``
            (``runs/x: not a training run directory or history file (no history.json)``).
    """
    p = Path(os.fspath(path)).expanduser()
    file = p / name if p.is_dir() else p
    if required and not file.is_file():
        from ..errors import DataFormatError

        raise DataFormatError(f"{p}: not a training run directory or {what} file (no {name})")
    return file


__all__ = ["HISTORY_FILE", "MODEL_FILE", "RUN_FILE", "check_fer_model", "load_model_arg",
           "parse_key_values", "run_file"]
