"""The one conversion of Python, NumPy and torch values into JSON data.

Run files, explanation and check reports, the study report and option records all go through
:func:`json_ready`, so they agree on what a tuple, a NumPy scalar, a tensor, a NaN or an object
becomes. (Checking that user-given values *are* JSON, refusing the rest, is a different job:
see ``models.registry``.)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def json_ready(value: Any, *, limit: int = 64, large: str = "summary", other: str = "repr") -> Any:
    """Return ``value`` as JSON data (dicts with string keys, lists, str, int, float, bool, None).

    Args:
        value: Any value: mappings and sequences are converted item by item; tensors and arrays
            become lists; NumPy scalars their Python value; dataclasses their ``to_dict()`` or
            fields; NaN and infinities ``None`` (JSON has no NaN).
        limit: Tensors and arrays with more elements than this are not listed but described.
        large: How a large tensor/array is described: ``"summary"`` (``{"shape", "dtype",
            "mean"}``) or ``"shape"`` (the text ``"tensor(2, 3)"`` / ``"array(2, 3)"``).
        other: Any other object becomes its ``"repr"`` or its ``"type"`` name.

    Returns:
        The JSON-ready value.
    """
    def convert(v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, dict):
            return {str(k): convert(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [convert(x) for x in v]
        if isinstance(v, np.generic):
            return convert(v.item())
        if hasattr(v, "detach") and hasattr(v, "numel"):  # a torch tensor (no torch import)
            if v.numel() > limit and large == "shape":
                return f"tensor{tuple(v.shape)}"
            v = v.detach().cpu().numpy()
        if isinstance(v, np.ndarray):
            if v.size > limit:
                if large == "shape":
                    return f"array{tuple(v.shape)}"
                return {"shape": list(v.shape), "dtype": str(v.dtype),
                        "mean": convert(float(v.mean())) if v.size else None}
            return convert(v.tolist())
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            if hasattr(v, "to_dict"):
                return convert(v.to_dict())
            return convert({f.name: getattr(v, f.name) for f in dataclasses.fields(v)})
        return type(v).__name__ if other == "type" else repr(v)

    return convert(value)
