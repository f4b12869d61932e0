"""emotionkit: facial-expression recognition on FER2013-style data, and explanations of the models.

The public API is importable from the top level; heavy submodules load on first use::

    import emotionkit as ek
    data = ek.Dataset.load("synthetic")
    model = ek.ModelZoo.create("compact")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from .errors import (  # noqa: E402  (light module, no torch)
    CheckpointError,
    ConfigError,
    DataFormatError,
    EmotionKitError,
    ExplainError,
    PluginError,
    TrainingError,
    UnknownExplainerError,
    UnknownLayerError,
    UnknownModelError,
    UnknownNameError,
)

# public name -> module that defines it (imported lazily so `emotionkit --version` stays fast)
_LAZY = {
    "Dataset": "emotionkit.data",
    "CLASS_NAMES": "emotionkit.data.classes",
    "DISPLAY_NAMES": "emotionkit.data.classes",
    "ModelZoo": "emotionkit.models",
    "Trainer": "emotionkit.training",
    "History": "emotionkit.training",
    "load": "emotionkit.training",
    "save": "emotionkit.training",
    "Evaluator": "emotionkit.evaluation",
    "explain": "emotionkit.explain",
    "runtime": "emotionkit.runtime",
    "predict": "emotionkit.inference",
    "Predictor": "emotionkit.inference",
    "math": "emotionkit.math",
    "tune_cpu_allocator": "emotionkit._allocator",
    "eval_mode": "emotionkit._modes",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if module.__name__.endswith("." + name) else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emotionkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "__version__",
    "Dataset",
    "CLASS_NAMES",
    "DISPLAY_NAMES",
    "ModelZoo",
    "Trainer",
    "History",
    "load",
    "save",
    "Evaluator",
    "explain",
    "runtime",
    "predict",
    "Predictor",
    "math",
    "tune_cpu_allocator",
    "eval_mode",
    "EmotionKitError",
    "DataFormatError",
    "UnknownNameError",
    "UnknownModelError",
    "UnknownExplainerError",
    "UnknownLayerError",
    "ConfigError",
    "CheckpointError",
    "TrainingError",
    "ExplainError",
    "PluginError",
]
