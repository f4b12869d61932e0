"""Weights trained on FER2013 that ship inside the package, and the rule for loading them.

Each shipped model is an emotionkit checkpoint in ``models/weights/`` whose metadata carries a
``pretrained`` record, in the spirit of torchvision's ``Weights.meta``: ordered class names,
preprocessing, the exact training command and seed, emotionkit version, wall time and hardware,
PublicTest accuracy without TTA and with flip and ten-crop TTA, and the parameter count.
``weights/index.json`` lists the files with their sha256, which is checked on every load, so a
damaged or swapped file is refused. Nothing is downloaded, ever.

Use it through :meth:`emotionkit.ModelZoo.create` (``pretrained=True``) or::

    from emotionkit.models import pretrained
    pretrained.available()            # ['compact']
    pretrained.metadata("compact")    # the record above
    model = pretrained.load("compact")
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._names import unknown_name_message
from ..errors import CheckpointError, ConfigError, UnknownModelError

INDEX_FILE = "index.json"
#: Fields every ``pretrained`` record has (checked when the package's own tests run).
META_FIELDS = ("class_names", "preprocessing", "training", "accuracy", "params", "emotionkit",
               "dataset")


def _weights_dir() -> Path:
    return Path(str(resources.files(__package__).joinpath("weights")))


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, dict[str, Any]]:
    path = _weights_dir() / INDEX_FILE
    if not path.is_file():
        return {}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(index, dict):
        raise CheckpointError(f"{path}: expected an object of model name -> file record")
    return index


def available() -> list[str]:
    """Names of the zoo models that have shipped weights, best first (by ten-crop accuracy)."""
    index = _index()
    return sorted(index, key=lambda n: (-float(index[n].get("rank_accuracy", 0.0)), n))


def default_name() -> str:
    """The best shipped model's name: what ``predict``, ``explain`` and ``evaluate`` use.

    Raises:
        CheckpointError: If this installation ships no weights at all.
    """
    names = available()
    if not names:
        raise CheckpointError("this emotionkit installation ships no pretrained weights "
                              "(emotionkit/models/weights/index.json is missing); pass --model")
    return names[0]


def _entry(name: str) -> tuple[Path, dict[str, Any]]:
    index = _index()
    if name not in index:
        from .registry import ModelZoo

        if name not in ModelZoo.list():
            raise UnknownModelError(unknown_name_message("model", str(name), ModelZoo.list()))
        have = ", ".join(available()) or "none"
        raise UnknownModelError(f"model {name!r} has no pretrained weights; models with "
                                f"weights: {have}")
    record = index[name]
    return _weights_dir() / str(record["file"]), record


@functools.lru_cache(maxsize=8)
def _verified(name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The shipped tensors and metadata of ``name``, after checking the file's sha256."""
    from .._checkpoint import read_checkpoint

    path, record = _entry(name)
    if not path.is_file():
        raise CheckpointError(f"{path}: shipped weights of {name!r} are missing (damaged "
                              "install?); reinstall emotionkit")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != record.get("sha256"):
        raise CheckpointError(f"{path}: sha256 {digest} does not match the expected "
                              f"{record.get('sha256')} (damaged or replaced file)")
    tensors, meta = read_checkpoint(path, kinds=("model",))
    if meta.get("model_name") != name or not isinstance(meta.get("pretrained"), dict):
        raise CheckpointError(f"{path}: not the shipped weights of {name!r}")
    return tensors, meta


def metadata(name: str) -> dict[str, Any]:
    """The ``pretrained`` record of a shipped model, plus its ``model_config`` and ``sha256``.

    Args:
        name: A model name from :func:`available`.

    Returns:
        A JSON-ready dict (a copy).
    """
    _, meta = _verified(name)
    path, record = _entry(name)
    out = json.loads(json.dumps(meta["pretrained"]))
    out.update(name=name, file=path.name, sha256=record["sha256"],
               file_bytes=path.stat().st_size, model_config=meta.get("model_config"))
    return out


def load(name: str, device: str | torch.device = "cpu", **config: Any) -> nn.Module:
    """Build a zoo model and fill it with its shipped weights.

    Args:
        name: A model name from :func:`available`.
        device: Where to put the model.
        **config: Optional model options; they must equal the shipped configuration.

    Returns:
        The model in eval mode, float32, with ``emotionkit_meta`` (the checkpoint metadata;
        ``emotionkit_meta["pretrained"]`` is the record of :func:`metadata`).

    Raises:
        UnknownModelError: If the model has no shipped weights (the message lists those that do).
        ConfigError: If ``config`` asks for another configuration than the one shipped.
        CheckpointError: If the shipped file is damaged.
    """
    from .._checkpoint import load_weights
    from ..runtime import resolve_device
    from .registry import ModelZoo

    tensors, meta = _verified(name)
    stored = meta.get("model_config") or {}
    wanted = ModelZoo.resolve_config(name, **{**stored, **config})
    if wanted != ModelZoo.resolve_config(name, **stored):
        diff = sorted(k for k in wanted if wanted[k] != stored.get(k))
        have = ", ".join(f"{k}={stored.get(k)!r}" for k in diff)
        raise ConfigError(f"the shipped {name!r} weights have {have}; leave those options out "
                          "with pretrained=True")
    model = ModelZoo.create(name, **stored)
    reference = model.state_dict()
    floats = {k: (v.to(reference[k].dtype) if k in reference and v.is_floating_point() else v)
              for k, v in tensors.items()}
    load_weights(model, floats, "", f"shipped weights of {name!r}")
    model.emotionkit_meta = json.loads(json.dumps(meta))
    return model.to(resolve_device(device)).eval()


__all__ = ["available", "default_name", "load", "metadata", "META_FIELDS"]
