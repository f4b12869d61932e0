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
import reprlib
import struct
from collections.abc import Callable
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
#: The largest header read (the safetensors format allows 100 MB; emotionkit's own headers are
#: kilobytes, and 16 MB of JSON already takes a few hundred MB of Python objects).
MAX_HEADER_BYTES = 16 * 1024 * 1024
#: The deepest nesting of JSON arrays/objects read in a header or the metadata (emotionkit's
#: own go about 10 deep); deeper JSON would exhaust Python's recursion limit.
MAX_JSON_DEPTH = 64
#: Most dimensions a stored tensor may have.
MAX_TENSOR_DIMS = 32
#: Bytes per element of the safetensors dtypes emotionkit reads (those torch >= 2.2 has).
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "F16": 2, "BF16": 2, "I32": 4, "F32": 4,
               "I64": 8, "F64": 8, "C64": 8, "F8_E4M3": 1, "F8_E5M2": 1}
if hasattr(torch, "uint64"):  # torch 2.3+
    DTYPE_BYTES.update({"U16": 2, "U32": 4, "U64": 8})


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
        CheckpointError: If a referenced tensor is missing or a tagged value is malformed.
    """
    if isinstance(obj, list):
        return [unpack_state(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (tag, value), = obj.items()
        if tag in _STATE_TAGS:
            try:
                _STATE_TAGS[tag](value)  # the shape of the tagged value
            except _Invalid as exc:
                raise CheckpointError(f"invalid {tag} state value: expected {exc.expected}, "
                                      f"got {_short(exc.value)}") from None
        if tag == "__tensor__":
            if value not in tensors:
                raise CheckpointError(f"state tensor {value!r} is missing from the checkpoint")
            return tensors[value]
        if tag == "__ndarray__":
            key, dtype, shape = value
            if key not in tensors:
                raise CheckpointError(f"state array {key!r} is missing from the checkpoint")
            raw = tensors[key]
            try:
                if raw.dtype != torch.uint8:
                    raise ValueError(f"stored as {raw.dtype}, not raw bytes")
                return raw.numpy().view(np.dtype(dtype)).reshape(shape).copy()
            except (TypeError, ValueError) as exc:
                raise CheckpointError(f"state array {key!r} does not fit its dtype {dtype!r} "
                                      f"and shape {shape} ({exc})") from None
        if tag == "__float__":
            return float(value)
        if tag == "__tuple__":
            return tuple(unpack_state(v, tensors) for v in value)
        if tag == "__items__":
            out = {}
            for k, v in value:
                key = unpack_state(k, tensors)
                try:
                    hash(key)
                except TypeError:
                    raise CheckpointError(f"state key {_short(k)} is not hashable") from None
                out[key] = unpack_state(v, tensors)
            return out
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
        CheckpointError: If the metadata is not JSON data, ``kind`` is unknown, or a field does
            not fit :data:`METADATA_SCHEMA` (a file :func:`read_checkpoint` would refuse is
            never written).
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
    try:
        validate_metadata(loads_json(text), str(path))
    except ValueError as exc:  # nested too deeply to be read back
        raise CheckpointError(f"checkpoint metadata is not JSON data: {exc}") from None
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


# ---------------------------------------------------------------------- untrusted JSON
class _JSONLimit(ValueError):
    """JSON that breaks one of the reader's limits (the message says which)."""


def json_depth(raw: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest, without parsing it (vectorized).

    Brackets inside strings do not count; a quote is escaped when an odd number of backslashes
    precedes it. Multi-byte UTF-8 never holds ASCII bytes, so this works on the raw bytes.
    Memory: a few bytes per input byte plus 8 per quote and bracket.

    Args:
        raw: The JSON text, UTF-8 encoded.

    Returns:
        The nesting depth (0 for a scalar).
    """
    a = np.frombuffer(raw, dtype=np.uint8)
    quotes = np.flatnonzero(a == ord('"'))
    slashes = np.flatnonzero(a == ord("\\"))
    if quotes.size and slashes.size:  # drop the quotes escaped by an odd run of backslashes
        breaks = np.flatnonzero(np.diff(slashes) != 1)
        ends = np.append(slashes[breaks], slashes[-1])
        starts = np.insert(slashes[breaks + 1], 0, slashes[0])
        k = np.minimum(np.searchsorted(ends, quotes - 1), ends.size - 1)
        run = np.where(ends[k] == quotes - 1, ends[k] - starts[k] + 1, 0)
        quotes = quotes[run % 2 == 0]
    brackets = np.flatnonzero((a == ord("[")) | (a == ord("{")) | (a == ord("]"))
                              | (a == ord("}")))
    brackets = brackets[np.searchsorted(quotes, brackets) % 2 == 0]  # outside strings
    if not brackets.size:
        return 0
    kinds = a[brackets]
    step = np.where((kinds == ord("[")) | (kinds == ord("{")), 1, -1)
    return int(np.cumsum(step).max(initial=0))


def _refuse_constant(name: str) -> Any:
    raise _JSONLimit(f"{name} is not a JSON value")


def loads_json(raw: bytes | str) -> Any:
    """Parse untrusted JSON: at most :data:`MAX_JSON_DEPTH` deep, without NaN/Infinity.

    Args:
        raw: The JSON text.

    Returns:
        The parsed value.

    Raises:
        ValueError: If it is not JSON (``_JSONLimit``, a ValueError, for the limits), or not
            UTF-8.
    """
    data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise _JSONLimit(f"nested {depth:,} levels deep, more than the {MAX_JSON_DEPTH} accepted")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:  # unreachable after the depth check; kept as a last guard
        raise _JSONLimit("nested too deeply") from None


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 100
_REPR.maxlevel = 3


def _short(value: Any) -> str:
    """A bounded repr of an untrusted value, for messages."""
    return _REPR.repr(value)


# ---------------------------------------------------------------------- the header's tensors
def _check_entries(p: Path, header: dict[str, Any], header_len: int, file_len: int) -> None:
    """Check every tensor entry of a safetensors header before safetensors reads the data.

    Raises:
        CheckpointError: An entry's dtype, shape or data_offsets is malformed, its offsets do
            not fit its shape, lie beyond the file, overlap another tensor, or leave bytes
            that belong to no tensor.
    """
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        what = f"{p}: tensor {_short(name)}"
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
            raise CheckpointError(f"{what}: the header entry {_short(entry)} is not an object "
                                  "with dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
            raise CheckpointError(f"{what}: unknown dtype {_short(dtype)} (known: "
                                  f"{', '.join(DTYPE_BYTES)})")
        if (not isinstance(shape, list) or len(shape) > MAX_TENSOR_DIMS
                or not all(_is_int(d) and d >= 0 for d in shape)):
            raise CheckpointError(f"{what}: invalid shape {_short(shape)} (expected a list of at "
                                  f"most {MAX_TENSOR_DIMS} integers >= 0)")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_int(o) and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
            raise CheckpointError(f"{what}: invalid data_offsets {_short(offsets)} (expected "
                                  "[begin, end] with 0 <= begin <= end)")
        nbytes, span = math.prod(shape) * DTYPE_BYTES[dtype], offsets[1] - offsets[0]
        if span != nbytes:
            raise CheckpointError(f"{what}: data_offsets {offsets} span {span:,} bytes, its "
                                  f"shape {tuple(shape)} of {dtype} needs {nbytes:,}")
        spans.append((offsets[0], offsets[1], str(name)))
    end = 8 + header_len + max((e for _, e, _ in spans), default=0)
    if end > file_len:
        raise CheckpointError(f"{p}: truncated checkpoint ({file_len} bytes, the header "
                              f"describes {end})")
    pos, previous = 0, None
    for begin, stop, name in sorted(spans):
        if begin < pos:
            raise CheckpointError(f"{p}: tensors {_short(previous)} and {_short(name)} overlap "
                                  "in the file (corrupt header)")
        if begin > pos:
            raise CheckpointError(f"{p}: {begin - pos:,} bytes before tensor {_short(name)} "
                                  "belong to no tensor (corrupt header)")
        pos, previous = stop, name
    if 8 + header_len + pos != file_len:
        raise CheckpointError(f"{p}: {file_len - 8 - header_len - pos:,} bytes after the last "
                              "tensor belong to no tensor (corrupt file)")


def read_checkpoint(
    path: str | os.PathLike, kinds: tuple[str, ...] = KINDS
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and validate an emotionkit checkpoint, without unpickling anything.

    Everything in the file is untrusted: the header is parsed under size and depth limits,
    every tensor entry is checked before safetensors reads the data, and the metadata is
    checked against :data:`METADATA_SCHEMA`.

    Args:
        path: The checkpoint file.
        kinds: Kinds accepted by the caller.

    Returns:
        ``(tensors, meta)``: CPU tensors by name, and the metadata dict.

    Raises:
        CheckpointError: The file is missing, is not safetensors, is truncated or corrupt, is
            not an emotionkit checkpoint, has an unsupported version or an unexpected kind, or
            a metadata field outside the schema.
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
    header, reason = None, None
    if 2 <= header_len <= min(MAX_HEADER_BYTES, len(data) - 8):
        try:
            header = loads_json(data[8:8 + header_len])
        except _JSONLimit as exc:
            reason = str(exc)
        except (UnicodeDecodeError, ValueError):
            header = None
    if not isinstance(header, dict):
        what = _sniff(p, data[:16])
        if what:
            raise CheckpointError(refused.format(p=p, what=what))
        if header_len > len(data) - 8 and data[8:9] == b"{":
            raise CheckpointError(f"{p}: truncated safetensors file (header of {header_len} bytes, "
                                  f"file has {len(data)} bytes)")
        if MAX_HEADER_BYTES < header_len <= len(data) - 8 and data[8:9] == b"{":
            raise CheckpointError(f"{p}: safetensors header of {header_len:,} bytes, more than "
                                  f"the {MAX_HEADER_BYTES:,} accepted")
        if reason:
            raise CheckpointError(f"{p}: not a safetensors file (invalid header: {reason})")
        raise CheckpointError(f"{p}: not a safetensors file (invalid header)")
    meta_strings = header.get("__metadata__") or {}
    if not isinstance(meta_strings, dict) or META_KEY not in meta_strings:
        raise CheckpointError(f"{p}: a safetensors file without emotionkit metadata; not an "
                              "emotionkit checkpoint")
    if not isinstance(meta_strings[META_KEY], str):
        raise CheckpointError(f"{p}: emotionkit metadata is not valid JSON (not a string)")
    try:
        meta = loads_json(meta_strings[META_KEY])
    except ValueError as exc:
        raise CheckpointError(f"{p}: emotionkit metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{p}: emotionkit metadata lacks the format tag {FORMAT!r}; not "
                              "an emotionkit checkpoint")
    version = meta.get("version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"{p}: invalid checkpoint format version {_short(version)}")
    if version > VERSION:
        raise CheckpointError(f"{p}: checkpoint format version {version} is newer than this "
                              f"emotionkit reads ({VERSION}); upgrade emotionkit")
    kind = meta.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise CheckpointError(f"{p}: unknown checkpoint kind {_short(kind)}")
    if kind not in kinds:
        raise CheckpointError(f"{p}: a {kind!r} checkpoint, expected {' or '.join(kinds)}")
    validate_metadata(meta, str(p))
    _check_entries(p, header, header_len, len(data))
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{p}: corrupt safetensors data ({text})") from None
    expected = meta.get("payload_sha256")
    if expected is not None and _payload_sha256(tensors) != expected:
        raise CheckpointError(f"{p}: tensor data does not match its checksum (file corrupted)")
    return tensors, meta


# ---------------------------------------------------------------------- the metadata schema
class _Invalid(Exception):
    """A metadata value outside the schema; ``path`` says where inside the field it sits."""

    def __init__(self, expected: str, value: Any, path: str = "") -> None:
        super().__init__(expected)
        self.expected, self.value, self.path = expected, value, path

    def at(self, step: str) -> _Invalid:
        self.path = step + self.path
        return self


Check = Callable[[Any], None]
_MISSING = object()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _integer(lo: int = 0, hi: int | None = None) -> Check:
    what = f"an integer >= {lo}" if hi is None else f"an integer from {lo} to {hi}"

    def check(v: Any) -> None:
        if not _is_int(v) or v < lo or (hi is not None and v > hi):
            raise _Invalid(what, v)
    return check


def _number(lo: float | None = None, *, above: bool = False) -> Check:
    what = ("a finite number" if lo is None
            else f"a finite number {'>' if above else '>='} {lo:g}")

    def check(v: Any) -> None:
        ok = (isinstance(v, (int, float)) and not isinstance(v, bool)
              and (_is_int(v) or math.isfinite(v)))
        if ok and lo is not None:
            ok = v > lo if above else v >= lo
        if not ok:
            raise _Invalid(what, v)
    return check


def _text(max_len: int = 1000) -> Check:
    what = f"a string of 1 to {max_len:,} characters"

    def check(v: Any) -> None:
        if not isinstance(v, str) or not 1 <= len(v) <= max_len:
            raise _Invalid(what, v)
    return check


def _boolean(v: Any) -> None:
    if not isinstance(v, bool):
        raise _Invalid("true or false", v)


def _optional(check: Check) -> Check:
    def optional(v: Any) -> None:
        if v is not None:
            check(v)
    return optional


def _either(what: str, *checks: Check) -> Check:
    def either(v: Any) -> None:
        for check in checks:
            try:
                return check(v)
            except _Invalid:
                pass
        raise _Invalid(what, v)
    return either


def _list_of(item: Check, what: str, *, min_len: int = 0, max_len: int = 100_000,
             unique: bool = False) -> Check:
    def check(v: Any) -> None:
        if not isinstance(v, list) or not min_len <= len(v) <= max_len:
            raise _Invalid(what, v)
        for i, x in enumerate(v):
            try:
                item(x)
            except _Invalid as exc:
                raise exc.at(f"[{i}]") from None
        if unique and len(set(v)) != len(v):
            raise _Invalid(f"{what} (without repeats)", v)
    return check


def _mapping(values: Check | None = None, *, max_items: int = 100_000) -> Check:
    def check(v: Any) -> None:
        if not isinstance(v, dict) or len(v) > max_items:
            raise _Invalid(f"an object of at most {max_items:,} entries", v)
        for k, x in v.items() if values is not None else ():
            try:
                values(x)
            except _Invalid as exc:
                raise exc.at(f".{k}") from None
    return check


def _record(fields: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """An object whose listed fields fit their checks (others are allowed and not checked)."""
    def check(v: Any) -> None:
        if not isinstance(v, dict):
            raise _Invalid("an object", v)
        for k in required:
            if k not in v:
                raise _Invalid("present", _MISSING, f".{k}")
        for k, field_check in fields.items():
            if k in v:
                try:
                    field_check(v[k])
                except _Invalid as exc:
                    raise exc.at(f".{k}") from None
    return check


def _sha256(v: Any) -> None:
    if not (isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)):
        raise _Invalid("64 lowercase hex digits", v)


def _model_config(v: Any) -> None:
    _mapping(max_items=1000)(v)
    for k in ("seed", "pretrained"):  # ModelZoo.create's own keywords, not model options
        if k in v:
            raise _Invalid(f"no {k!r} (a keyword of ModelZoo.create, not a model option)",
                           v[k], f".{k}")


def _numpy_dtype(v: Any) -> None:
    try:
        dtype = np.dtype(v) if isinstance(v, str) and len(v) <= 16 else None
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in "biufc":
        raise _Invalid("a numeric numpy dtype", v)


def _ndarray_ref(v: Any) -> None:
    if not (isinstance(v, list) and len(v) == 3):
        raise _Invalid("[tensor name, numpy dtype, shape]", v)
    _text()(v[0])
    _numpy_dtype(v[1])
    _list_of(_integer(0), f"a shape of at most {MAX_TENSOR_DIMS} integers >= 0",
             max_len=MAX_TENSOR_DIMS)(v[2])


def _float_text(v: Any) -> None:
    try:
        float(v if isinstance(v, str) and len(v) <= 40 else "x")
    except ValueError:
        raise _Invalid("a float written as text ('inf', 'nan', ...)", v) from None


def _pair(v: Any) -> None:
    if not (isinstance(v, list) and len(v) == 2):
        raise _Invalid("a [key, value] pair", v)


#: The tags of :func:`pack_state` and the shape of their values.
_STATE_TAGS: dict[str, Check] = {
    "__tensor__": _text(),
    "__ndarray__": _ndarray_ref,
    "__float__": _float_text,
    "__tuple__": _list_of(lambda x: None, "a list"),
    "__items__": _list_of(_pair, "a list of [key, value] pairs"),
}


def _packed(v: Any) -> None:
    """A value written by :func:`pack_state`: JSON whose tagged objects are well-formed."""
    if isinstance(v, list):
        items: Any = enumerate(v)
    elif isinstance(v, dict):
        if len(v) == 1 and next(iter(v)) in _STATE_TAGS:
            (tag, value), = v.items()
            try:
                _STATE_TAGS[tag](value)
            except _Invalid as exc:
                raise exc.at(f".{tag}") from None
            if tag in ("__tuple__", "__items__"):
                _packed(value)
            return
        items = v.items()
    else:
        return
    for k, x in items:
        try:
            _packed(x)
        except _Invalid as exc:
            raise exc.at(f"[{k}]" if isinstance(k, int) else f".{k}") from None


_NAME = _text(200)
_CLASS_NAMES = _list_of(_text(100), "a list of 1 to 1,000 class names", min_len=1,
                        max_len=1000, unique=True)
_NORMALIZATION = _optional(_record({"mean": _number(), "std": _number(0, above=True)},
                                   required=("mean", "std")))
_SCALAR = _either("a finite number, a string, true/false or null",
                  _optional(_number()), _text(10_000), _boolean)
_HISTORY = _optional(_record({
    "epochs": _list_of(_record({"epoch": _integer(0)}), "a list of epoch records",
                       max_len=1_000_000),
    "best_epoch": _optional(_integer(0)),
    "monitor": _optional(_text(100)),
    "model_name": _optional(_NAME),
}, required=("epochs",)))
_MEMBER = _record({"model_name": _optional(_NAME), "model_config": _optional(_model_config),
                   "normalization": _NORMALIZATION, "history": _HISTORY})
_RESUME = _record({
    "epoch": _integer(0),
    "partial": _optional(_record({"batch": _integer(0), "loss_sum": _number(),
                                  "correct": _integer(0), "count": _integer(0),
                                  "lr": _number(), "seconds": _number(0)},
                                 required=("batch",))),
    "should_stop": _boolean,
    "best_stored": _boolean,
    "world_size": _integer(1),
    "batch_size": _integer(1),
    "data": _record({"n_train": _optional(_integer(0)), "n_val": _optional(_integer(0))}),
    "optimizer": _packed,
    "scheduler": _optional(_packed),
    "scaler": _optional(_packed),
    "callbacks": _list_of(_record({"class": _NAME, "state": _packed},
                                  required=("class", "state")), "a list of callback states"),
    "rng": _list_of(_packed, "a list of random states (one per process)"),
}, required=("epoch", "optimizer"))
_PRETRAINED = _record({
    "class_names": _CLASS_NAMES,
    "params": _integer(0),
    "trainable_params": _integer(0),
    "accuracy": _mapping(_SCALAR),
    "emotionkit": _text(100),
    "dtype": _text(100),
    "preprocessing": _mapping(),
    "training": _mapping(),
    "dataset": _mapping(),
})

#: Every metadata field emotionkit reads, and what it must hold (``format``, ``version`` and
#: ``kind`` are checked first, with messages of their own). Other fields (the JSON extras of
#: :func:`emotionkit.save`) are kept as they are.
METADATA_SCHEMA: dict[str, Check] = {
    "model_name": _optional(_NAME),
    "model_config": _optional(_model_config),
    "normalization": _NORMALIZATION,
    "class_names": _optional(_CLASS_NAMES),
    "train_args": _optional(_mapping()),
    "history": _HISTORY,
    "versions": _mapping(_text(200), max_items=100),
    "payload_sha256": _optional(_sha256),
    "members": _list_of(_MEMBER, "a list of 1 to 256 ensemble members", min_len=1,
                        max_len=256),
    "resume": _RESUME,
    "pretrained": _PRETRAINED,
}
#: Fields a checkpoint of each kind must have.
REQUIRED_FIELDS = {"model": (), "ensemble": ("members",), "resume": ("resume",)}


def validate_metadata(meta: dict[str, Any], where: str) -> None:
    """Check checkpoint metadata against :data:`METADATA_SCHEMA`.

    Args:
        meta: The metadata (its ``kind`` already checked).
        where: The file, for messages.

    Raises:
        CheckpointError: A required field is missing or a field does not fit the schema; the
            message names the file and the field (``members[0].normalization.std``).
    """
    for field in REQUIRED_FIELDS.get(meta.get("kind"), ()):
        if field not in meta:
            raise CheckpointError(f"{where}: metadata field {field!r} is missing (required in a "
                                  f"{meta['kind']!r} checkpoint)")
    for field, check in METADATA_SCHEMA.items():
        if field not in meta:
            continue
        try:
            check(meta[field])
        except _Invalid as exc:
            name = field + exc.path
            if exc.value is _MISSING:
                raise CheckpointError(f"{where}: metadata field {name!r} is missing") from None
            raise CheckpointError(f"{where}: invalid metadata field {name!r}: expected "
                                  f"{exc.expected}, got {_short(exc.value)}") from None


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
    check_finite(given, prefix, where)
    unwrap(model).load_state_dict(given, strict=True)


def check_finite(tensors: dict[str, torch.Tensor], prefix: str, where: str) -> None:
    """Refuse weights holding NaN or infinite values (they would only predict NaN).

    Args:
        tensors: A module's tensors (prefix removed).
        prefix: Their key prefix in the file, for messages.
        where: The file, for messages.

    Raises:
        CheckpointError: Naming the first such tensor and how many of its values are bad.
    """
    for k in sorted(tensors):
        t = tensors[k]
        if not (t.is_floating_point() or t.is_complex()) or not t.numel():
            continue
        try:
            finite = torch.isfinite(t)
        except (RuntimeError, NotImplementedError):  # float8 on some builds
            finite = torch.isfinite(t.float())
        if not bool(finite.all()):
            bad = int(finite.numel() - finite.sum())
            raise CheckpointError(f"{where}: tensor {prefix + k!r} holds {bad:,} NaN or infinite "
                                  f"value(s) of {t.numel():,}; these weights cannot predict")
