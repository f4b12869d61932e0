"""``grad-cam``: class activation maps from a convolutional layer's gradients (Selvaraju et al.).

For the layer's output ``A`` (N, K, h, w) and the target logit ``y``::

    weights_k = mean over (i, j) of dy / dA_k[i, j]
    cam       = relu(sum_k weights_k * A_k)

``maps`` is the CAM resized to the image (bilinear); ``extras["layer_maps"]`` keeps it at the
layer's own resolution. The default layer is the last convolution *by execution order*.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ExplainError
from .._layers import check_single_call, default_conv_layer, find_layer
from .._model_state import ModelState
from ..base import Attribution, AttributionExplainer, check_bool, chunks
from ..inputs import resolve_targets
from ._common import model_trace


def resolve_layer(state: ModelState, x: torch.Tensor, layer: Any, method: str) -> str:
    """Return the checked layer name: ``layer`` or, when ``None``, the last convolution."""
    trace = model_trace(state, x)
    members = getattr(state.model, "members", None)
    if layer is None and isinstance(members, nn.ModuleList) and len(members) > 1:
        raise ExplainError(
            f"{method}: the model is an ensemble of {len(members)} members; the last "
            "convolution belongs to one member only, so pass layer=NAME explicitly "
            "(e.g. a layer under 'members.0.')"
        )
    name = default_conv_layer(trace, method) if layer is None else layer
    find_layer(state.model, name)
    check_single_call(trace, name, method)
    return name


def grad_cam(
    state: ModelState, x: torch.Tensor, target: torch.Tensor | None, layer: str, relu: bool,
    max_batch: int, method: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Layer-resolution Grad-CAM maps.

    Returns:
        ``(cams (N, 1, h, w), targets (N,), logits (N, classes))``.
    """
    module = find_layer(state.model, layer)
    captured: list[torch.Tensor] = []

    def hook(mod, args, output):
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output)
            raise ExplainError(
                f"{method}: layer {layer!r} gives {shape}; Grad-CAM needs a (N, C, h, w) "
                "output such as a convolution's"
            )
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf.clone()  # later in-place ops must not change the saved activation

    cams, targets, logits = [], [], []
    with state.hooks() as hooks:
        hooks.forward(module, hook)
        for start, stop in chunks(len(x), max_batch):
            captured.clear()
            out = state.model(x[start:stop])
            t = resolve_targets(target, out, start)
            (activation,) = captured
            (grad,) = torch.autograd.grad(out.gather(1, t[:, None]).sum(), activation,
                                          allow_unused=True)
            if grad is None:
                grad = torch.zeros_like(activation)
            weights = grad.mean(dim=(2, 3), keepdim=True)
            cam = (weights * activation.detach()).sum(dim=1, keepdim=True)
            cams.append(cam.clamp(min=0) if relu else cam)
            targets.append(t)
            logits.append(out.detach())
    return torch.cat(cams), torch.cat(targets), torch.cat(logits)


class GradCAM(AttributionExplainer):
    """Grad-CAM; see the module docstring.

    Keyword Args:
        layer: A layer name (``emotionkit models summary`` lists them); default: the last
            convolution in execution order.
        relu: Keep only positive evidence (the standard Grad-CAM); ``False`` keeps the sign.
        max_batch: Images per forward/backward pass (default None: 32 on CPU, 256 on GPU).
    """

    name = "grad-cam"
    description = "Class activation map from a conv layer's gradient-weighted channels"
    defaults = MappingProxyType({"layer": None, "relu": True, "max_batch": None})
    smoothable = True

    def attribute(self, state, x, target, options) -> Attribution:
        relu = check_bool(self.name, "relu", options["relu"])
        layer = resolve_layer(state, x, options["layer"], self.name)
        options["layer"] = layer
        cams, targets, logits = grad_cam(state, x, target, layer, relu, options["max_batch"],
                                         self.name)
        maps = F.interpolate(cams, size=tuple(x.shape[-2:]), mode="bilinear",
                             align_corners=False)
        return Attribution(maps, targets, logits, {"layer": layer, "layer_maps": cams})
