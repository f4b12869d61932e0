"""numpy/torch dispatch for :mod:`emotionkit.math`.

Every public function of the package does its arithmetic in torch, on the device of the tensor it
is given (so a CUDA tensor is worked on the GPU), and hands back the kind of array it received:
numpy in, numpy out; torch in, torch out (same device). Nested Python lists count as numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError

ArrayLike = np.ndarray | torch.Tensor


def is_torch(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (the result should then be a tensor too)."""
    return isinstance(x, torch.Tensor)


def as_tensor(
    x: Any,
    name: str,
    *,
    floating: bool = True,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Convert an array-like argument to a tensor without copying where possible.

    Args:
        x: A numpy array, a torch tensor, or nested lists of numbers.
        name: The argument's name, used in error messages.
        floating: Convert integer and boolean input to float64 (tensors too); floating input
            keeps its precision (float16 numpy input becomes float32).
        device: Move the result to this device (used for secondary arguments such as targets).
        dtype: Cast the result to this dtype.

    Returns:
        The tensor.

    Raises:
        ConfigError: ``x`` is not numeric or is complex.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if floating and not (t.is_floating_point() or t.is_complex()):
            t = t.to(torch.float64)
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{name} must be a numeric array; got {type(x).__name__}") from exc
        if arr.dtype.kind not in "biuf":
            raise ConfigError(
                f"{name} must be a numeric array (int or float); got dtype {arr.dtype}"
            )
        if floating and arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
        elif arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        if not (arr.flags.c_contiguous and arr.flags.writeable):
            arr = arr.copy(order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)
        t = torch.from_numpy(arr)
    if t.is_complex():
        raise ConfigError(f"{name} must be real-valued; got dtype {t.dtype}")
    if dtype is not None or device is not None:
        t = t.to(device=device if device is not None else t.device, dtype=dtype or t.dtype)
    return t


def like(t: torch.Tensor, torch_out: bool) -> ArrayLike:
    """Return ``t`` as a tensor (``torch_out``) or as a numpy array (copied to the CPU).

    Args:
        t: The result tensor.
        torch_out: Whether the caller gave a tensor.

    Returns:
        ``t`` itself (detached), or ``t`` as a numpy array (a numpy scalar for a 0-d result).
    """
    t = t.detach()
    if torch_out:
        return t
    arr = t.cpu().numpy()
    return arr[()] if arr.ndim == 0 else arr


def check_finite(t: torch.Tensor, name: str) -> None:
    """Raise :class:`ConfigError` when ``t`` holds NaN or infinite values.

    Args:
        t: A floating tensor.
        name: The argument's name, used in the message.
    """
    if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ConfigError(f"{name} holds {bad} NaN or infinite value(s)")


def shape_str(t: torch.Tensor | np.ndarray) -> str:
    """Format a shape as ``(2, 3)`` for messages."""
    return "(" + ", ".join(str(int(s)) for s in t.shape) + ("," if t.ndim == 1 else "") + ")"
