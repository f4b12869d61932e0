"""Turning what users pass (tensors, uint8 arrays, Datasets; class names) into explainer inputs.

Every explainer works on its *own detached copy* of the images: the caller's tensor is never
modified, never made to require gradients, and never receives a ``.grad``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.classes import CLASS_NAMES
from ..errors import ConfigError, EmotionKitError, ExplainError, UnknownNameError
from ..runtime import model_device

__all__ = [
    "as_batch",
    "check_logits",
    "check_model_input",
    "probe_model_input",
    "model_device",
    "model_class_names",
    "parse_target",
    "resolve_targets",
]

_RANGE_TOLERANCE = 1e-3


def model_class_names(model: nn.Module) -> tuple[str, ...] | None:
    """Return the class names a model predicts, when known.

    Args:
        model: A model; a checkpoint loaded by emotionkit carries ``emotionkit_meta``.

    Returns:
        The names from ``model.emotionkit_meta["class_names"]``, else the FER2013 names.
    """
    meta = getattr(model, "emotionkit_meta", None)
    if isinstance(meta, dict) and meta.get("class_names"):
        return tuple(str(n) for n in meta["class_names"])
    return CLASS_NAMES


def _to_tensor(images: Any) -> torch.Tensor:
    from ..data.dataset import Dataset

    if isinstance(images, Dataset):
        return torch.from_numpy(np.ascontiguousarray(images.images))
    if isinstance(images, torch.Tensor):
        return images.detach()
    if isinstance(images, np.ndarray):
        if images.dtype == object:
            raise ConfigError("images: an object array cannot be explained; stack the images")
        return torch.from_numpy(np.ascontiguousarray(images))
    if isinstance(images, (list, tuple)) and images:
        parts = [_to_tensor(item) for item in images]
        shapes = {tuple(p.shape) for p in parts}
        if len(shapes) != 1:
            raise ConfigError(f"images: the list items have different shapes {sorted(shapes)}")
        return torch.stack(parts)
    raise ConfigError(
        "images must be a tensor (N, 1, H, W), a uint8 array (N, 48, 48) or (N, 1, 48, 48), "
        f"or an emotionkit Dataset; got {type(images).__name__}"
    )


def as_batch(
    images: Any,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    check_range: bool = True,
) -> torch.Tensor:
    """Return a float batch (N, C, H, W) in [0, 1] on ``device``: always a new, detached tensor.

    Args:
        images: A float tensor/array in [0, 1] of shape (N, C, H, W), (N, H, W) or (H, W); an
            integer (uint8) tensor/array on 0..255 of the same shapes; a list of such images; or
            an emotionkit :class:`~emotionkit.data.Dataset` (or a slice of one).
        device: Where the batch goes (the model's device).
        dtype: Floating dtype of the batch (the model's).
        check_range: Refuse float images outside [0, 1] (``False`` for models that take other
            units, e.g. in sanity checks of foreign models; integer images are still scaled
            from 0..255).

    Returns:
        A tensor that shares no memory with ``images`` and does not require gradients; a normal
        tensor (usable with autograd) also when called inside :func:`torch.inference_mode`.

    Raises:
        ConfigError: Wrong type, shape, value range, or non-finite values.
    """
    with torch.inference_mode(False):
        return _as_batch(images, device, dtype, check_range)


def _as_batch(images: Any, device: torch.device | str, dtype: torch.dtype,
              check_range: bool = True) -> torch.Tensor:
    t = _to_tensor(images)
    if t.dtype == torch.bool or t.is_complex():
        raise ConfigError(f"images must be real numbers, got dtype {t.dtype}")
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[:, None]
    elif t.ndim != 4:
        raise ConfigError(
            f"images must have shape (N, 1, H, W), (N, H, W) or (H, W), got {tuple(t.shape)}"
        )
    if t.shape[0] == 0:
        raise ConfigError("images: the batch is empty")
    if not t.is_floating_point():
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi > 255:
            raise ConfigError(f"integer images must be on 0..255, got values {lo}..{hi}")
        return t.to(device=device, dtype=dtype, copy=True).div_(255.0)
    if not bool(torch.isfinite(t).all()):
        raise ConfigError("images contain NaN or infinite values")
    lo, hi = float(t.min()), float(t.max())
    if check_range and (lo < -_RANGE_TOLERANCE or hi > 1.0 + _RANGE_TOLERANCE):
        hint = " (they look like 0..255: divide by 255 or pass uint8)" if hi > 2.0 else ""
        raise ConfigError(
            f"float images must be in [0, 1] (models take raw pixels and normalize inside), "
            f"got values {lo:.4g}..{hi:.4g}{hint}"
        )
    return t.to(device=device, dtype=dtype, copy=True)


def check_logits(out: Any, where: str = "") -> torch.Tensor:
    """Return ``out`` if it is a logits tensor (N, classes), else raise :class:`ExplainError`.

    Args:
        out: What the model's forward returned.
        where: Prefix for the message (an explainer name), or ``""``.

    Returns:
        ``out``.
    """
    prefix = f"{where}: " if where else ""
    if isinstance(out, torch.Tensor):
        if out.ndim != 2:
            raise ExplainError(f"{prefix}the model must return logits of shape (N, classes), "
                               f"got {tuple(out.shape)}")
        return out
    if isinstance(out, Mapping):
        keys = ", ".join(repr(k) for k in list(out)[:5]) + (", ..." if len(out) > 5 else "")
        got = f"a {type(out).__name__} (keys {keys})" if out else f"an empty {type(out).__name__}"
    elif isinstance(out, (tuple, list)):
        got = f"a {type(out).__name__} of {len(out)} items"
    else:
        got = f"a {type(out).__name__}"
    raise ExplainError(f"{prefix}the model returns {got}, not a logits tensor (N, classes); "
                       "wrap it in a module whose forward returns the logits")


def _first_conv_channels(model: nn.Module) -> int | None:
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return int(module.in_channels)
    return None


def _expected_input(model: nn.Module) -> tuple[int, ...] | None:
    name = getattr(model, "emotionkit_name", None)
    if isinstance(name, str):
        from ..models import ModelZoo

        try:
            return tuple(ModelZoo.get_info(name).input_size)
        except EmotionKitError:
            return None
    return None


def check_model_input(model: nn.Module, x: torch.Tensor, method: str) -> torch.Tensor:
    """Run the model once on the first image; refuse images it cannot take and non-logit outputs.

    See :func:`probe_model_input`, which also measures the activation memory of that pass.

    Args:
        model: The model, already in eval mode (inside the explainer's model state).
        x: The prepared batch (N, C, H, W).
        method: Explainer name, for the message.

    Returns:
        The logits of ``x[:1]`` (1, classes).

    Raises:
        ExplainError: The forward pass fails on these images, or does not return logits.
    """
    return probe_model_input(model, x, method)[0]


def probe_model_input(model: nn.Module, x: torch.Tensor,
                      method: str) -> tuple[torch.Tensor, int]:
    """Run the model once on the first image; refuse images it cannot take and non-logit outputs.

    Done once per explanation, before any real work, so that a 3-channel image for a gray
    model, a wrong image size or a model returning a dict fails with one clear message naming
    the shape instead of a torch error deep inside a method.

    Args:
        model: The model, already in eval mode (inside the explainer's model state).
        x: The prepared batch (N, C, H, W).
        method: Explainer name, for the message.

    Returns:
        The logits of ``x[:1]`` (1, classes), and the bytes of every tensor the model's leaf
        modules returned in that pass: the activation memory of one image, from which the
        explainers choose how many images to run at once.

    Raises:
        ExplainError: The forward pass fails on these images, or does not return logits
            (N, classes).
    """
    shape = tuple(x.shape)
    activation_bytes = [0]

    def count(module: nn.Module, args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            activation_bytes[0] += output.numel() * output.element_size()

    handles = [m.register_forward_hook(count) for m in model.modules()
               if next(m.children(), None) is None]
    try:
        with torch.no_grad():
            out = model(x[:1])
    except EmotionKitError:
        raise
    except Exception as exc:
        hints = []
        channels = _first_conv_channels(model)
        if channels is not None and channels != shape[1]:
            hints.append(f"its first convolution takes {channels}-channel images")
        expected = _expected_input(model)
        if expected is not None and tuple(expected) != shape[1:]:
            hints.append(f"{model.emotionkit_name} takes (N, {', '.join(map(str, expected))})")
        hint = f" ({'; '.join(hints)})" if hints else ""
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ExplainError(
            f"{method}: the model fails on images of shape {shape}{hint}: "
            f"{type(exc).__name__}: {first}"
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
    out = check_logits(out, method)
    if out.shape[0] != 1:
        raise ExplainError(f"{method}: the model returns {out.shape[0]} rows of logits for 1 "
                           f"image of shape {tuple(x[:1].shape)}; expected (1, classes)")
    return out, activation_bytes[0]


def _one_target(value: Any, class_names: Sequence[str] | None, where: str) -> int:
    if isinstance(value, torch.Tensor) or isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        raise ConfigError(f"target{where} must be a class index or name, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        lowered = text.lower()
        if class_names is not None and tuple(class_names) != CLASS_NAMES:
            names = [n.lower() for n in class_names]
            if lowered in names:
                return names.index(lowered)
            from .._names import unknown_name_message

            raise UnknownNameError(unknown_name_message("class", text, class_names))
        from ..data.classes import class_index

        return class_index(text)
    raise ConfigError(f"target{where} must be a class index or name, got {value!r}")


def parse_target(
    target: Any, n: int, class_names: Sequence[str] | None = CLASS_NAMES
) -> torch.Tensor | None:
    """Turn a user's target into ``None`` (the predicted class) or one class index per image.

    Args:
        target: ``None`` or ``"predicted"``; a class index or name (``3``, ``"happy"``) for all
            images; or a sequence / tensor / array with one index or name per image.
        n: The number of images.
        class_names: Names the model's classes go by (FER2013 names by default).

    Returns:
        ``None`` for "the predicted class of each image", else an int64 tensor (n,). Indices are
        range-checked later by :func:`resolve_targets`, once the number of classes is known.

    Raises:
        ConfigError: A malformed target or the wrong number of targets.
        UnknownNameError: An unknown class name (the message lists the valid ones).
    """
    if target is None or (isinstance(target, str) and target.strip().lower() == "predicted"):
        return None
    if isinstance(target, (torch.Tensor, np.ndarray)) and target.ndim == 0:
        target = target.item()
    if isinstance(target, (str, int, float, np.integer)):
        return torch.full((n,), _one_target(target, class_names, ""), dtype=torch.int64)
    if isinstance(target, (torch.Tensor, np.ndarray, Sequence)):
        items = list(target.tolist() if hasattr(target, "tolist") else target)
        if len(items) != n:
            raise ConfigError(f"got {len(items)} targets for {n} images; give one per image")
        values = [_one_target(v, class_names, f" {i}") for i, v in enumerate(items)]
        return torch.tensor(values, dtype=torch.int64)
    raise ConfigError(
        f"target must be None, 'predicted', a class index or name, or one per image; "
        f"got {type(target).__name__}"
    )


def resolve_targets(
    target: torch.Tensor | None, logits: torch.Tensor, offset: int = 0
) -> torch.Tensor:
    """Return the class index per image for one chunk of logits; never silently changed.

    Args:
        target: ``None`` (the predicted class) or the int64 indices of *all* images.
        logits: The model output (chunk, num_classes) for images ``offset:offset + chunk``.
        offset: Index of the chunk's first image in the whole batch.

    Returns:
        int64 tensor (chunk,) on the logits' device.

    Raises:
        ConfigError: An index is outside ``0..num_classes-1`` (names the image and value).
    """
    check_logits(logits)
    if target is None:
        return logits.detach().argmax(dim=1)
    chunk = target[offset : offset + logits.shape[0]]
    num_classes = logits.shape[1]
    bad = ((chunk < 0) | (chunk >= num_classes)).nonzero()
    if len(bad):
        i = int(bad[0, 0])
        raise ConfigError(
            f"target {int(chunk[i])} for image {offset + i} is outside 0..{num_classes - 1} "
            f"(the model has {num_classes} classes)"
        )
    return chunk.to(logits.device)
