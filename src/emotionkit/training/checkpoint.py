"""Checkpoints: safetensors weights plus JSON metadata, written atomically, read without pickle.

A checkpoint is one safetensors file. Its header's ``__metadata__`` holds, under the key
``"emotionkit"``, a JSON document::

    {"format": "emotionkit.checkpoint", "version": 1, "kind": "model" | "ensemble" | "resume",
     "model_name": "compact", "model_config": {...}, "class_names": [...],
     "normalization": {"mean": 0.5, "std": 0.25}, "train_args": {...}, "history": {...},
     "versions": {"emotionkit": ..., "torch": ..., "safetensors": ...},
     "payload_sha256": "..."}

Ensembles add ``members`` (name, config and normalization of each member; their weights are
stored under ``members.{i}.``); resume states add ``resume`` (epoch, optimizer, scheduler and RNG
states; their tensors are stored under their own prefixes).

:func:`load` checks everything before building anything and never unpickles: a ``torch.save`` /
pickle file is recognised and refused with :class:`~emotionkit.errors.CheckpointError`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from .._checkpoint import (  # noqa: F401  (re-exported: the format's public names)
    FORMAT,
    KINDS,
    META_KEY,
    VERSION,
    check_weights,
    load_weights,
    pack_state,
    read_checkpoint,
    unpack_state,
    unwrap,
    versions,
    write_checkpoint,
)
from ..errors import CheckpointError, ConfigError, UnknownNameError


# ---------------------------------------------------------------------- models
def normalization_of(model: nn.Module) -> dict[str, float] | None:
    """The ``input_norm`` statistics of a model, or None when it has no Normalize input layer."""
    from ..models.layers import Normalize

    norm = getattr(unwrap(model), "input_norm", None)
    if isinstance(norm, Normalize):
        return {"mean": float(norm.mean), "std": float(norm.std)}
    return None


def model_identity(model: nn.Module) -> dict[str, Any]:
    """``model_name``, ``model_config`` and ``normalization`` metadata of a model."""
    m = unwrap(model)
    config = getattr(m, "emotionkit_config", None)
    return {
        "model_name": getattr(m, "emotionkit_name", None),
        "model_config": json.loads(json.dumps(config)) if config is not None else None,
        "normalization": normalization_of(m),
    }


def state_tensors(model: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """The model's state dict as detached CPU tensors, keys prefixed by ``prefix``."""
    return {prefix + k: v.detach() for k, v in unwrap(model).state_dict().items()}


#: A stored config may not ask for a model larger than this (parameters + buffers), whatever
#: its tensors say: an untrusted file cannot make ``load`` allocate more than about 2 GB.
MAX_MODEL_ELEMENTS = 500_000_000
#: Nor for more modules, parameters and buffers than this (the largest zoo model registers
#: 207): a config such as ``depth: [1, 2, 2, 10**9]`` would otherwise take hours and all
#: memory to build, even on the meta device.
MAX_MODEL_PARTS = 4_000


class _TooLarge(Exception):
    """Raised from inside a model build that goes past the limits."""


def _first_line(exc: BaseException) -> str:
    """The first line of an error message (torch errors append a C++ stack trace)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextlib.contextmanager
def _limited_build(name: str, where: str) -> Iterator[None]:
    """Count every module, parameter and buffer registered inside, and stop the build as soon
    as it passes :data:`MAX_MODEL_PARTS` or :data:`MAX_MODEL_ELEMENTS`.

    Raises:
        CheckpointError: The build went past a limit.
    """
    from torch.nn.modules import module as torch_module

    counts = {"parts": 0, "elements": 0}

    def count(_module: nn.Module, _name: str, value: Any) -> None:
        counts["parts"] += 1
        if isinstance(value, torch.Tensor):
            counts["elements"] += value.numel()
        if counts["parts"] > MAX_MODEL_PARTS or counts["elements"] > MAX_MODEL_ELEMENTS:
            raise _TooLarge

    hooks = [torch_module.register_module_module_registration_hook(count),
             torch_module.register_module_parameter_registration_hook(count),
             torch_module.register_module_buffer_registration_hook(count)]
    try:
        yield
    except _TooLarge:
        what = (f"more than {MAX_MODEL_PARTS:,} modules, parameters and buffers"
                if counts["parts"] > MAX_MODEL_PARTS else
                f"at least {counts['elements']:,} parameters and buffers (more than the "
                f"{MAX_MODEL_ELEMENTS:,} accepted)")
        raise CheckpointError(f"{where}: the stored config of model {name!r} asks for "
                              f"{what}") from None
    finally:
        for hook in hooks:
            hook.remove()


def _check_against_meta_build(name: str, config: dict, tensors: dict[str, torch.Tensor] | None,
                              prefix: str, where: str) -> None:
    """Build the model on the meta device (no memory) and compare it with the stored tensors.

    Raises:
        CheckpointError: The config asks for a huge model, or its tensors' names or shapes are
            not what the stored tensors hold, so nothing real is allocated for a hostile file.
    """
    from ..models import ModelZoo

    try:
        with _limited_build(name, where), torch.device("meta"):
            skeleton = ModelZoo.create(name, **config)
    except (NotImplementedError, RuntimeError):  # a builder that needs real tensors: the
        return  # real build still runs under the limits
    state = skeleton.state_dict()
    total = sum(t.numel() for t in state.values())
    if total > MAX_MODEL_ELEMENTS:
        raise CheckpointError(f"{where}: the stored config of model {name!r} asks for "
                              f"{total:,} parameters and buffers (more than the "
                              f"{MAX_MODEL_ELEMENTS:,} accepted)")
    if tensors is not None:
        check_weights(state, tensors, prefix, where)


def build_model(name: Any, config: Any, where: str,
                tensors: dict[str, torch.Tensor] | None = None, prefix: str = "") -> nn.Module:
    """Rebuild a zoo model from checkpoint metadata, turning failures into CheckpointError.

    The model is first built on PyTorch's meta device (no memory) and checked against the
    stored tensors' names and shapes and against :data:`MAX_MODEL_ELEMENTS`; only then is it
    built for real. Both builds stop as soon as they register more than
    :data:`MAX_MODEL_PARTS` modules, parameters and buffers or :data:`MAX_MODEL_ELEMENTS`
    elements.

    Args:
        name: The model name stored in the checkpoint.
        config: The stored configuration dict.
        where: The file, for messages.
        tensors: The file's tensors, to check before allocating (optional).
        prefix: Key prefix of this model's tensors in ``tensors``.

    Returns:
        A freshly built model.

    Raises:
        CheckpointError: The name is not in the zoo, or the config does not build or asks for
            too large a model, or does not match the stored tensors.
    """
    if name is None:
        raise CheckpointError(f"{where}: saved from a model outside the ModelZoo; rebuild the "
                              "model yourself and pass it as load(path, model=...)")
    if not isinstance(name, str) or not isinstance(config, dict):
        raise CheckpointError(f"{where}: invalid model name/config in the metadata")
    from ..models import ModelZoo

    try:
        _check_against_meta_build(name, config, tensors, prefix, where)
        with _limited_build(name, where):
            return ModelZoo.create(name, **config)
    except UnknownNameError as exc:
        raise CheckpointError(f"{where}: model {name!r} is not in this emotionkit's ModelZoo "
                              f"({exc})") from None
    except (ConfigError, TypeError, ValueError, RuntimeError, OverflowError, IndexError,
            KeyError) as exc:
        raise CheckpointError(f"{where}: the stored config of model {name!r} does not build: "
                              f"{_first_line(exc)}") from None


def save(model: nn.Module, path: str | os.PathLike, **metadata: Any) -> None:
    """Save a model (or an :class:`~emotionkit.models.Ensemble`) as an emotionkit checkpoint.

    Args:
        model: A zoo model (``emotionkit_name``/``emotionkit_config`` set by ``ModelZoo.create``),
            an Ensemble of them, or any module (then only ``load(path, model=...)`` can read it).
        path: Destination file (conventionally ``*.safetensors``); written atomically.
        **metadata: JSON-ready extras stored with it, e.g. ``history`` (a
            :class:`~emotionkit.training.History` or its dict), ``train_args``, ``class_names``.

    Raises:
        CheckpointError: If the metadata is not JSON data.
    """
    from ..data.classes import CLASS_NAMES
    from ..models.ensemble import Ensemble

    model = unwrap(model)
    history = metadata.pop("history", None)
    if history is not None and hasattr(history, "to_dict"):
        history = history.to_dict()
    meta: dict[str, Any] = {"class_names": list(CLASS_NAMES), "train_args": {}}
    reserved = {"format", "version", "versions", "payload_sha256", "kind", "members"}
    bad = sorted(set(metadata) & reserved)
    if bad:
        raise CheckpointError(f"metadata key(s) {', '.join(bad)} are reserved")
    if isinstance(model, Ensemble):
        members = [model_identity(m) for m in model.members]
        for info, hist in zip(members, getattr(model, "histories", None) or [], strict=False):
            info["history"] = hist.to_dict() if hasattr(hist, "to_dict") else hist
        norms = [m["normalization"] for m in members]
        meta.update(kind="ensemble", model_name="ensemble",
                    model_config={"members": [m["model_name"] for m in members]},
                    normalization=norms[0] if all(n == norms[0] for n in norms) else None,
                    members=members)
        tensors: dict[str, torch.Tensor] = {}
        for i, m in enumerate(model.members):
            tensors.update(state_tensors(m, f"members.{i}."))
    else:
        meta.update(kind="model", **model_identity(model))
        tensors = state_tensors(model)
    meta.update(metadata)
    meta["history"] = history
    write_checkpoint(path, tensors, meta)


def load(path: str | os.PathLike, device: str | torch.device = "cpu",
         model: nn.Module | None = None) -> nn.Module:
    """Load a checkpoint written by :func:`save` or the Trainer, ready to predict.

    Validates the file completely (exists, is safetensors, carries emotionkit metadata of a known
    version, names a zoo model whose config builds, and has exactly the model's tensors and
    shapes) before returning. Never unpickles.

    Args:
        path: A ``model.safetensors`` (single model or ensemble), a run directory holding one,
            or a ``last.safetensors`` (resume state: the model as of the last epoch).
        device: Where to put the model.
        model: Optional module to load the weights into instead of rebuilding from the zoo
            (needed for models outside the zoo).

    Returns:
        The model in eval mode on ``device``, with ``emotionkit_meta`` (the metadata, ``kind``
        ``"model"`` or ``"ensemble"``); an ensemble is an :class:`~emotionkit.models.Ensemble`.

    Raises:
        CheckpointError: If the file is not a valid emotionkit checkpoint for this model.
    """
    from ..runtime import resolve_device

    where = str(path)
    tensors, meta = read_checkpoint(path)
    kind = meta["kind"]
    if kind == "ensemble":
        from ..models.ensemble import Ensemble

        members_meta = meta.get("members")
        if not isinstance(members_meta, list) or not members_meta:
            raise CheckpointError(f"{where}: ensemble metadata lists no members")
        if model is not None:
            if not isinstance(model, Ensemble) or len(model.members) != len(members_meta):
                raise CheckpointError(f"{where}: holds an ensemble of {len(members_meta)} "
                                      "members; pass an Ensemble with as many members")
            built = model
        else:
            built = Ensemble([build_model(m.get("model_name"), m.get("model_config"),
                                          f"{where} (member {i})", tensors, f"members.{i}.")
                              for i, m in enumerate(members_meta)])
        for i, member in enumerate(built.members):
            load_weights(member, tensors, f"members.{i}.", f"{where} (member {i})")
    else:
        prefix = "model." if kind == "resume" else ""
        built = model if model is not None else build_model(
            meta.get("model_name"), meta.get("model_config"), where, tensors, prefix)
        load_weights(built, tensors, prefix, where)
    out = dict(meta)
    out.pop("resume", None)
    if kind == "resume":
        out["kind"] = "model"
        out["from_resume_state"] = True
    built.emotionkit_meta = out
    return unwrap(built).to(resolve_device(device)).eval()


__all__ = ["FORMAT", "VERSION", "META_KEY", "save", "load", "read_checkpoint", "write_checkpoint",
           "pack_state", "unpack_state", "load_weights", "build_model", "model_identity",
           "normalization_of", "state_tensors", "unwrap", "versions"]
