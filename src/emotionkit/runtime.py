"""The runtime policy: which device, which precision, which memory format, where a model lives.

One module decides these for training, evaluation, explainers, prediction and the CLI, so a
setting means the same everywhere:

* :func:`resolve_device`: ``"auto"`` is CUDA when present, else the CPU.
* :func:`resolve_precision`: ``"auto"`` picks what is fast *and* safe on the device: on CUDA
  bf16 autocast when the GPU supports it, else fp16 autocast with a gradient scaler; on the CPU
  bf16 autocast only when the CPU has native bf16 arithmetic (:func:`cpu_has_fast_bf16`), since
  on AVX2-only CPUs bf16 is emulated and several times slower than fp32.
* :func:`resolve_channels_last`: ``None`` turns the NHWC memory format on for models with 2-D
  convolutions, where oneDNN (CPU) and cuDNN (GPU) run faster kernels for it.
* :func:`model_device`: the device and floating dtype a model's tensors live on, which is where
  its inputs must go.

:func:`describe_machine` is the one-line hardware record every benchmark and run file prints.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import platform
from dataclasses import dataclass

import torch
from torch import nn

from . import _allocator
from ._names import PRECISIONS, unknown_name_message
from .errors import ConfigError

#: The precision settings every command and class accepts: ``"auto"``, ``"fp32"``, ``"bf16"``,
#: ``"fp16"`` (see :func:`resolve_precision`).
PRECISIONS = PRECISIONS


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn a device setting into a :class:`torch.device`.

    Args:
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
            a :class:`torch.device`, or ``None`` (same as ``"auto"``).

    Returns:
        The device to use.

    Raises:
        ConfigError: The device is malformed or CUDA was asked for but is not available.
    """
    if device is None or (isinstance(device, str) and device.lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"invalid device {device!r}: use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for, but CUDA is not available here")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {device!r} asked for, but only {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type not in ("cpu", "mps"):
        raise ConfigError(f"unsupported device {device!r}: use auto, cpu, cuda or cuda:N")
    return dev


def cpu_capability() -> str:
    """Return the SIMD level PyTorch dispatches to on this CPU (e.g. ``"AVX2"``, ``"AVX512"``)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # very old torch
        return "unknown"


def cpu_model() -> str:
    """Return the CPU's model name (from /proc/cpuinfo on Linux), for benchmark headers."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX-512 BF16 or AMX).

    On CPUs without it (AVX2 only, many AMD EPYC), bf16 autocast is emulated and several
    times *slower* than fp32, so ``precision="auto"`` must not pick it there.

    Returns:
        True when /proc/cpuinfo lists ``avx512_bf16`` or ``amx_bf16``.
    """
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = line
                    break
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def describe_machine() -> str:
    """One line naming CPU model, SIMD capability, bf16 support, cores, torch and the allocator."""
    return (
        f"cpu={cpu_model()!r} capability={cpu_capability()} fast_bf16={cpu_has_fast_bf16()} "
        f"cores={os.cpu_count()} torch_threads={torch.get_num_threads()} torch={torch.__version__} "
        f"malloc={'tuned' if _allocator.is_tuned() else 'default'}"
        + (f" cuda={torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "")
    )

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
            name = "bf16" if cpu_has_fast_bf16() else "fp32"
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


def model_device(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Return the device and floating dtype of a model's first floating parameter or buffer.

    Args:
        model: Any module.

    Returns:
        ``(device, dtype)``; CPU and float32 for a module without floating tensors.
    """
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


__all__ = [
    "PRECISIONS",
    "Precision",
    "cpu_capability",
    "cpu_has_fast_bf16",
    "cpu_model",
    "describe_machine",
    "has_conv2d",
    "model_device",
    "resolve_channels_last",
    "resolve_device",
    "resolve_precision",
]
