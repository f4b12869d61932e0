"""Choosing numeric precision and memory format for training on the device at hand.

``precision="auto"`` picks what is fast *and* safe on the device:

* CUDA: bf16 autocast when the GPU supports it, else fp16 autocast with a gradient scaler;
* CPU: bf16 autocast only when the CPU has native bf16 arithmetic
  (:func:`emotionkit._runtime.cpu_has_fast_bf16`); on AVX2-only CPUs bf16 is emulated and several
  times slower than fp32, so fp32 is used there.

``channels_last=None`` turns the NHWC memory format on for models with 2-D convolutions, where
oneDNN (CPU) and cuDNN (GPU) run faster kernels for it; dense-only models gain nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from .._names import unknown_name_message
from ..errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Precision:
    """The resolved precision plan.

    Args:
        name: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        device_type: ``"cpu"`` or ``"cuda"`` (the autocast device type).
        use_scaler: Whether a gradient scaler guards fp16 gradients against underflow.
    """

    name: str
    device_type: str
    use_scaler: bool = False

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or ``None`` for plain fp32."""
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self) -> contextlib.AbstractContextManager:
        """A context manager running the forward pass in this precision."""
        dtype = self.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=dtype)

    def make_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for fp16 on CUDA, else ``None``."""
        if not self.use_scaler:
            return None
        return torch.amp.GradScaler(self.device_type)


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """Turn a precision setting into a :class:`Precision` for ``device``.

    Args:
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        device: The training device.

    Returns:
        The precision plan.

    Raises:
        ConfigError: Unknown name, or a precision the device cannot run (fp16 on CPU, bf16 on a
            GPU without bf16 support).
    """
    name = str(precision).lower()
    if name not in PRECISIONS:
        raise ConfigError(unknown_name_message("precision", str(precision), PRECISIONS))
    dev_type = device.type
    if dev_type == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        if name == "auto":
            name = "bf16" if bf16_ok else "fp16"
        if name == "bf16" and not bf16_ok:
            raise ConfigError("precision 'bf16' asked for, but this GPU does not support bf16; "
                              "use fp16 or auto")
        return Precision(name, "cuda", use_scaler=name == "fp16")
    if dev_type == "cpu":
        if name == "auto":
            from .. import _runtime

            name = "bf16" if _runtime.cpu_has_fast_bf16() else "fp32"
        if name == "fp16":
            raise ConfigError("precision 'fp16' is not supported on CPU; use fp32, bf16 or auto")
        return Precision(name, "cpu")
    # other devices (mps): keep to fp32 unless asked
    if name == "auto":
        name = "fp32"
    if name != "fp32":
        raise ConfigError(f"precision {name!r} is not supported on device {device}; use fp32")
    return Precision(name, dev_type)


def has_conv2d(model: nn.Module) -> bool:
    """Whether ``model`` contains a 2-D convolution."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def resolve_channels_last(
    channels_last: bool | None, model: nn.Module, device: torch.device
) -> bool:
    """Decide whether to train in the channels-last (NHWC) memory format.

    Args:
        channels_last: ``True``/``False`` to force, ``None`` to decide automatically.
        model: The model (``None`` -> on for models with ``nn.Conv2d``).
        device: The training device (CPU and CUDA both profit for conv nets).

    Returns:
        Whether to use channels-last.
    """
    if channels_last is not None:
        return bool(channels_last)
    return device.type in ("cpu", "cuda") and has_conv2d(model)


__all__ = ["PRECISIONS", "Precision", "resolve_precision", "resolve_channels_last", "has_conv2d"]
