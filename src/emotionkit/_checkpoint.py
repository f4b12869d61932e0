"""The checkpoint file format: safetensors weights plus JSON metadata, read without pickle.

This module is the codec only (no model building), so every layer can read and write emotionkit
checkpoints: ``training.checkpoint`` builds models from them, ``models.pretrained`` loads the
shipped weights. See :mod:`emotionkit.training.checkpoint` for the metadata layout.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._io import atomic_write_bytes
from .errors import CheckpointError

FORMAT = "emotionkit.checkpoint"
VERSION = 1
META_KEY = "emotionkit"
KINDS = ("model", "ensemble", "resume")
_MAX_HEADER = 100_000_000  # the safetensors format's own limit


# ---------------------------------------------------------------------- nested state <-> JSON
def pack_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Turn nested state (optimizer, scheduler, RNG, callback state) into JSON plus tensors.

    Tensors and numpy arrays go into ``tensors`` under keys starting with ``prefix`` and are
    replaced by references; tuples and dicts with non-string keys are tagged so that
    :func:`unpack_state` restores them exactly (an optimizer's state is keyed by int).

    Args:
        obj: The state (dicts, lists, tuples, numbers, strings, None, tensors, arrays).
        prefix: Key prefix for the tensors of this state, e.g. ``"optimizer"``.
        tensors: Dict that receives the tensors.

    Returns:
        A JSON-ready value.

    Raises:
        CheckpointError: If the state holds something that is neither (a function, a module).
    """
    if isinstance(obj, torch.Tensor):
        key = prefix
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):  # raw bytes + dtype: exact for every numpy dtype
        key = prefix
        raw = np.ascontiguousarray(obj)
        tensors[key] = torch.from_numpy(raw.view(np.uint8).reshape(-1).copy())
        return {"__ndarray__": [key, raw.dtype.str, list(raw.shape)]}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [pack_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [pack_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: pack_state(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[pack_state(k, f"{prefix}.k{i}", tensors),
                               pack_state(v, f"{prefix}.{k}", tensors)]
                              for i, (k, v) in enumerate(obj.items())]}
    raise CheckpointError(f"cannot store state value of type {type(obj).__name__} at {prefix!r}")


def unpack_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Invert :func:`pack_state`.

    Args:
        obj: The JSON value.
        tensors: The tensors it references.

    Returns:
        The original nested state.

    Raises:
        CheckpointError: If a referenced tensor is missing.
    """
    if isinstance(obj, list):
        return [unpack_state(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (tag, value), = obj.items()
        if tag == "__tensor__":
            if value not in tensors:
                raise CheckpointError(f"state tensor {value!r} is missing from the checkpoint")
            return tensors[value]
        if tag == "__ndarray__":
            key, dtype, shape = value
            if key not in tensors:
                raise CheckpointError(f"state array {key!r} is missing from the checkpoint")
            return tensors[key].numpy().view(np.dtype(dtype)).reshape(shape).copy()
        if tag == "__float__":
            return float(value)
        if tag == "__tuple__":
            return tuple(unpack_state(v, tensors) for v in value)
        if tag == "__items__":
            return {unpack_state(k, tensors): unpack_state(v, tensors) for k, v in value}
    return {k: unpack_state(v, tensors) for k, v in obj.items()}


# ---------------------------------------------------------------------- low-level file access
def _payload_sha256(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{str(t.dtype)}|{tuple(t.shape)}\n".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Versions of emotionkit, torch and safetensors, for checkpoint metadata."""
    import safetensors

    from . import __version__

    return {"emotionkit": __version__, "torch": torch.__version__,
            "safetensors": getattr(safetensors, "__version__", "unknown")}


def write_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                     meta: dict[str, Any]) -> None:
    """Write tensors and metadata as one safetensors file, atomically.

    Args:
        path: Destination file.
        tensors: Name -> tensor (copied to CPU; shared storage is fine).
        meta: JSON-ready metadata; must hold ``kind``. ``format``, ``version``, ``versions``
            and ``payload_sha256`` are filled in.

    Raises:
        CheckpointError: If the metadata is not JSON data or ``kind`` is unknown.
    """
    from safetensors.torch import save as st_save

    if meta.get("kind") not in KINDS:
        raise CheckpointError(f"checkpoint kind must be one of {', '.join(KINDS)}, "
                              f"got {meta.get('kind')!r}")
    cpu = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    full = {"format": FORMAT, "version": VERSION, **meta, "versions": versions(),
            "payload_sha256": _payload_sha256(cpu)}
    try:
        text = json.dumps(full, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint metadata is not JSON data: {exc}") from exc
    atomic_write_bytes(path, st_save(cpu, metadata={META_KEY: text}))


def _sniff(path: Path, head: bytes) -> str | None:
    """Name a well-known non-safetensors format from the first bytes, or None."""
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (the torch.save/.pt format, which holds a pickle)"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] in range(2, 6):
        return "a Python pickle (torch.save/.pt/.pth/.pkl)"
    if head.startswith((b"\x93NUMPY", b"\x89HDF")):
        return "a numpy/HDF5 file"
    if path.suffix.lower() in (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt"):
        return f"a {path.suffix} file"
    return None


def read_checkpoint(
    path: str | os.PathLike, kinds: tuple[str, ...] = KINDS
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and validate an emotionkit checkpoint, without unpickling anything.

    Args:
        path: The checkpoint file.
        kinds: Kinds accepted by the caller.

    Returns:
        ``(tensors, meta)``: CPU tensors by name, and the metadata dict.

    Raises:
        CheckpointError: The file is missing, is not safetensors, is truncated or corrupt, is
            not an emotionkit checkpoint, has an unsupported version or an unexpected kind.
    """
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint not found: {p}")
    if p.is_dir():
        if not (p / "model.safetensors").is_file():
            raise CheckpointError(f"{p}: a directory without model.safetensors (not a run "
                                  "directory of emotionkit train)")
        p = p / "model.safetensors"
    if not p.is_file():
        raise CheckpointError(f"{p}: not a file")
    data = p.read_bytes()
    refused = ("{p}: not an emotionkit checkpoint: the file is {what}; emotionkit never "
               "unpickles files (they can run code). Save weights with emotionkit.save() or "
               "safetensors instead")
    if len(data) < 8:
        what = _sniff(p, data)
        if what:
            raise CheckpointError(refused.format(p=p, what=what))
        raise CheckpointError(f"{p}: not a safetensors file (only {len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    header = None
    if 2 <= header_len <= min(_MAX_HEADER, len(data) - 8):
        try:
            header = json.loads(data[8:8 + header_len].decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            header = None
    if not isinstance(header, dict):
        what = _sniff(p, data[:16])
        if what:
            raise CheckpointError(refused.format(p=p, what=what))
        if header_len > len(data) - 8 and data[8:9] == b"{":
            raise CheckpointError(f"{p}: truncated safetensors file (header of {header_len} bytes, "
                                  f"file has {len(data)} bytes)")
        raise CheckpointError(f"{p}: not a safetensors file (invalid header)")
    meta_strings = header.get("__metadata__") or {}
    if not isinstance(meta_strings, dict) or META_KEY not in meta_strings:
        raise CheckpointError(f"{p}: a safetensors file without emotionkit metadata; not an "
                              "emotionkit checkpoint")
    try:
        meta = json.loads(meta_strings[META_KEY])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{p}: emotionkit metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{p}: emotionkit metadata lacks the format tag {FORMAT!r}; not "
                              "an emotionkit checkpoint")
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{p}: invalid checkpoint format version {version!r}")
    if version > VERSION:
        raise CheckpointError(f"{p}: checkpoint format version {version} is newer than this "
                              f"emotionkit reads ({VERSION}); upgrade emotionkit")
    kind = meta.get("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{p}: unknown checkpoint kind {kind!r}")
    if kind not in kinds:
        raise CheckpointError(f"{p}: a {kind!r} checkpoint, expected {' or '.join(kinds)}")
    end = 8 + header_len + max((int(v["data_offsets"][1]) for k, v in header.items()
                                if k != "__metadata__" and isinstance(v, dict)
                                and "data_offsets" in v), default=0)
    if end > len(data):
        raise CheckpointError(f"{p}: truncated checkpoint ({len(data)} bytes, the header "
                              f"describes {end})")
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{p}: corrupt safetensors data ({exc})") from None
    expected = meta.get("payload_sha256")
    if expected is not None and _payload_sha256(tensors) != expected:
        raise CheckpointError(f"{p}: tensor data does not match its checksum (file corrupted)")
    return tensors, meta


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel and/or ``torch.compile`` wrapper."""
    while True:
        if hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def check_weights(target: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], prefix: str,
                  where: str) -> dict[str, torch.Tensor]:
    """The ``prefix``-ed tensors, after checking names, shapes and dtypes against ``target``.

    Args:
        target: A state dict to match (real or on the meta device).
        tensors: Tensors from :func:`read_checkpoint`.
        prefix: Key prefix of this module's tensors (``""``, ``"model."``, ``"members.0."``).
        where: The file, for messages.

    Returns:
        The matching tensors, prefix removed.

    Raises:
        CheckpointError: On missing or unexpected keys, or a shape or dtype mismatch.
    """
    given = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(target) - set(given))
    unexpected = sorted(set(given) - set(target))
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s) ({', '.join(missing[:5])}"
                        f"{', ...' if len(missing) > 5 else ''})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s) ({', '.join(unexpected[:5])}"
                        f"{', ...' if len(unexpected) > 5 else ''})")
    for k in sorted(set(target) & set(given)):
        if tuple(target[k].shape) != tuple(given[k].shape):
            problems.append(f"{k} has shape {tuple(given[k].shape)} in the file, the model "
                            f"expects {tuple(target[k].shape)}")
        elif target[k].dtype != given[k].dtype:
            problems.append(f"{k} has dtype {given[k].dtype} in the file, the model expects "
                            f"{target[k].dtype}")
    if problems:
        raise CheckpointError(f"{where}: weights do not match the model: "
                              + "; ".join(problems[:6]))
    return given


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], prefix: str,
                 where: str) -> None:
    """Load ``prefix``-ed tensors into ``model``, requiring exactly matching keys and shapes.

    Args:
        model: The module to fill.
        tensors: Tensors from :func:`read_checkpoint`.
        prefix: Key prefix of this module's tensors (``""``, ``"model."``, ``"members.0."``).
        where: The file, for messages.

    Raises:
        CheckpointError: On missing or unexpected keys, or a shape or dtype mismatch.
    """
    given = check_weights(unwrap(model).state_dict(), tensors, prefix, where)
    unwrap(model).load_state_dict(given, strict=True)
