"""Device selection and CPU capability facts shared by training, evaluation and explainers."""

from __future__ import annotations

import os
import platform

import torch

from . import _allocator
from .errors import ConfigError


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
