"""Explain what facial-expression models learn: saliency, guided backpropagation, Grad-CAM,
SmoothGrad, integrated gradients, occlusion, activation maximization and layer outputs.

Every method is an explainer registered through the plugin hook (the built-ins too)::

    from emotionkit import explain
    explain.available()                      # ['activation-max', 'grad-cam', ...]
    result = explain.get("guided-backprop").explain(model, images, target="happy")
    result.maps                              # raw maps (N, 1, 48, 48) on the CPU
    result.save("out/")                      # original, heatmap, overlay, masked PNGs

    explain.run("saliency", model, images)   # the same in one call

Third-party explainers arrive through the entry-point group ``emotionkit`` (see
:mod:`emotionkit.explain.hookspecs` and the plugin guide).
"""

from __future__ import annotations

from typing import Any

from ._model_state import HookSet, ModelState
from .base import Attribution, AttributionExplainer, Explainer
from .explanation import Explanation
from .faithfulness_curves import FaithfulnessResult, faithfulness, faithfulness_markdown
from .hookspecs import hookimpl
from .methods._common import clean_logits, input_gradients
from .plugins import (
    available,
    get,
    load_plugins,
    plugins_info,
    register_plugin,
    unregister_plugin,
)
from .sanity import (
    SanityCheckResult,
    label_randomization_check,
    plot_sanity,
    sanity_check,
    sanity_check_many,
    sanity_markdown,
)
from .trace import ForwardTrace, trace_forward


def run(method: str, model: Any, images: Any = None, target: Any = None, **options: Any):
    """Run explainer ``method``: ``get(method).explain(model, images, target, **options)``.

    Args:
        method: An explainer name (see :func:`available`).
        model: The model.
        images: The images (not needed by ``activation-max``).
        target: ``None``/``"predicted"``, a class index or name, or one per image.
        **options: The method's options.

    Returns:
        The :class:`Explanation`.
    """
    return get(method).explain(model, images, target, **options)


__all__ = [
    "Explainer",
    "AttributionExplainer",
    "Attribution",
    "Explanation",
    "ModelState",
    "HookSet",
    "hookimpl",
    "input_gradients",
    "clean_logits",
    "get",
    "available",
    "run",
    "plugins_info",
    "load_plugins",
    "register_plugin",
    "unregister_plugin",
    "sanity_check",
    "sanity_check_many",
    "label_randomization_check",
    "plot_sanity",
    "sanity_markdown",
    "SanityCheckResult",
    "faithfulness",
    "faithfulness_markdown",
    "FaithfulnessResult",
    "trace_forward",
    "ForwardTrace",
]
