"""The one rule for turning a ``--model`` / ``model=`` value into a ready model.

Used by :func:`emotionkit.predict` and by every CLI command that takes ``--model``:

- ``None`` (option not given): the best shipped pretrained model;
- an ``nn.Module``: used as it is;
- an existing path: a checkpoint file or run directory (:func:`emotionkit.load`, never unpickled);
- a value that looks like a path (:func:`looks_like_path`) but does not exist:
  :class:`~emotionkit.errors.CheckpointError` ``checkpoint not found: PATH``;
- a zoo name with shipped weights (``compact``): those weights;
- a zoo name without weights: refused, unless ``untrained_ok`` (then random weights, seed 0, and
  a warning), which only demo commands ask for.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._names import unknown_name_message
from ..errors import CheckpointError, UnknownModelError
from ..runtime import resolve_device


def describe_model(model: nn.Module) -> str:
    """A short name for a loaded model: the shipped name, the checkpoint's model name, or class."""
    meta = getattr(model, "emotionkit_meta", None) or {}
    name = getattr(model, "emotionkit_name", None) or type(model).__name__
    if isinstance(meta.get("pretrained"), dict):
        return f"{name} (pretrained)"
    return str(meta.get("model_name") or name)


#: Suffixes of checkpoint files: a ``--model`` value ending in one is a path, never a name.
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt", ".bin")


def looks_like_path(text: str) -> bool:
    """Whether a ``--model`` value is meant as a path rather than a zoo name.

    Zoo names are plain words (``compact``, ``resnet18-fer``); a value with a path separator
    (``/`` or ``\\``), starting with ``~`` or ``.``, or ending in a checkpoint suffix
    (any case) is a path, so a missing one is reported as a missing file, not an unknown model.
    """
    return (any(sep in text for sep in ("/", "\\", os.sep)) or text.startswith(("~", "."))
            or Path(text).suffix.lower() in CHECKPOINT_SUFFIXES)


def resolve_model(spec: Any = None, device: str | torch.device = "auto", *,
                  untrained_ok: bool = False) -> nn.Module:
    """Resolve a model specification (see the module docstring) to a model in eval mode.

    Args:
        spec: None, an ``nn.Module``, a checkpoint path / run directory, or a zoo model name.
        device: Where the model goes (``"auto"``: CUDA when present).
        untrained_ok: Allow a zoo name without shipped weights (random weights, warned).

    Returns:
        The model on ``device``, in eval mode.

    Raises:
        UnknownModelError: Unknown name, or a name without weights when not ``untrained_ok``.
        CheckpointError: A path that is not a valid checkpoint.
    """
    from ..models import ModelZoo
    from ..models import pretrained as shipped

    dev = resolve_device(device)
    if spec is None:
        return shipped.load(shipped.default_name(), device=dev)
    if isinstance(spec, nn.Module):
        return spec.to(dev).eval()
    if not isinstance(spec, (str, os.PathLike)):
        raise UnknownModelError(f"model must be a name, a checkpoint path or a torch module, "
                                f"got {type(spec).__name__}")
    text = str(spec)
    path = Path(text).expanduser()
    if path.exists():
        from ..training import load

        return load(path, device=dev)
    names = ModelZoo.list()
    if text in shipped.available():
        return shipped.load(text, device=dev)
    if text in names:
        if not untrained_ok:
            have = ", ".join(shipped.available()) or "none"
            raise UnknownModelError(f"model {text!r} has no shipped weights (models with "
                                    f"weights: {have}); pass a checkpoint written by "
                                    "'emotionkit train'")
        warnings.warn(f"{text!r} is an untrained zoo model (random weights, seed 0); the "
                      "results show nothing learned", stacklevel=2)
        torch.manual_seed(0)
        return ModelZoo.create(text, seed=0).to(dev).eval()
    if looks_like_path(text):
        raise CheckpointError(f"checkpoint not found: {text}")
    raise UnknownModelError(f"{unknown_name_message('model', text, names)} (and no "
                            f"checkpoint file {text!r})")


__all__ = ["CHECKPOINT_SUFFIXES", "describe_model", "looks_like_path", "resolve_model"]
