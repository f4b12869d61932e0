"""The built-in explainers: one module per method, registered through the plugin hook.

This module *is* emotionkit's own plugin (named ``"emotionkit"``): it implements
:func:`~emotionkit.explain.hookspecs.register_explainers` exactly as a third-party plugin would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..hookspecs import hookimpl
from .activation_max import ActivationMax
from .grad_cam import GradCAM
from .guided_backprop import GuidedBackprop
from .guided_grad_cam import GuidedGradCAM
from .integrated_gradients import IntegratedGradients
from .layer_outputs import LayerOutputs
from .occlusion import Occlusion
from .saliency import Saliency
from .smoothgrad import SmoothGrad

BUILTIN_EXPLAINERS = (
    Saliency,
    GuidedBackprop,
    GradCAM,
    GuidedGradCAM,
    SmoothGrad,
    IntegratedGradients,
    Occlusion,
    ActivationMax,
    LayerOutputs,
)

__all__ = [cls.__name__ for cls in BUILTIN_EXPLAINERS]
__all__ += ["BUILTIN_EXPLAINERS", "register_explainers"]


@hookimpl
def register_explainers(register: Callable[[Any], None]) -> None:
    """Register every built-in explainer."""
    for cls in BUILTIN_EXPLAINERS:
        register(cls)
