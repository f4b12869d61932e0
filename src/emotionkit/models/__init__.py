"""The model zoo: registry, architectures, parameter-matched DNNs, ensembles, Keras-style summaries.

Importing this package registers every architecture (each file registers its builders)::

    from emotionkit.models import ModelZoo, summary
    model = ModelZoo.create("hw18-cnn")
    print(summary(model))
"""

from __future__ import annotations

from . import compact, dense, resnet, seeds, vgg  # noqa: F401  (registration side effects)
from .dense import dnn_matching, dnn_param_count, match_widths
from .ensemble import Ensemble
from .layers import Normalize
from .registry import ModelInfo, ModelZoo, register_model
from .summaries import ModelSummary, count_params, summary

__all__ = [
    "ModelZoo",
    "ModelInfo",
    "register_model",
    "summary",
    "ModelSummary",
    "count_params",
    "dnn_matching",
    "match_widths",
    "dnn_param_count",
    "Normalize",
    "Ensemble",
]
