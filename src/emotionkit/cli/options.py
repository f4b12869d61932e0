"""Click options shared by several commands, so each is spelled, checked and resolved once."""

from __future__ import annotations

from typing import Any

import click


class DeviceType(click.ParamType):
    """``--device``: auto, cpu, cuda or cuda:N, checked once when the command line is parsed."""

    name = "device"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from .._runtime import resolve_device
        from ..errors import ConfigError

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


__all__ = ["DeviceType", "OutDir", "check_fer_model", "detector_option", "device_option",
           "load_model_arg", "model_option", "out_dir_problem"]


def load_model_arg(spec: str | None, device: Any, *, untrained_ok: bool = True) -> tuple[Any, str]:
    """The one ``--model`` loader of the CLI: the model and a label for messages.

    ``None`` gives the best shipped model; a path a checkpoint; a zoo name its shipped weights,
    or (``untrained_ok``, demos) random weights with a warning on stderr. The model is checked
    to map 48x48 gray images to the seven FER2013 classes.

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
