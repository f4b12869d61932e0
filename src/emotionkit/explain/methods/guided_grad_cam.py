"""``guided-grad-cam``: guided backpropagation multiplied by the upsampled Grad-CAM map.

Two passes with the same targets: one with guided ReLU hooks (pixel detail), one plain pass
for Grad-CAM (class localisation); their element-wise product is the map.
"""

from __future__ import annotations

from types import MappingProxyType

import torch.nn.functional as F

from ..base import Attribution, AttributionExplainer, check_choice
from ._common import input_gradients
from .grad_cam import grad_cam, resolve_layer
from .guided_backprop import NONRELU_CHOICES, install_guided_hooks


class GuidedGradCAM(AttributionExplainer):
    """Guided Grad-CAM (Selvaraju et al., 2017).

    Keyword Args:
        layer: Grad-CAM layer (default: the last convolution in execution order).
        nonrelu: How guided backpropagation treats non-ReLU activations (see
            ``guided-backprop``).
        max_batch: Images per forward/backward pass (default None: 32 on CPU, 256 on GPU).
    """

    name = "guided-grad-cam"
    description = "Guided backpropagation times the upsampled Grad-CAM map"
    defaults = MappingProxyType({"layer": None, "nonrelu": "refuse", "max_batch": None})
    smoothable = True

    def attribute(self, state, x, target, options) -> Attribution:
        nonrelu = check_choice(self.name, "nonrelu", options["nonrelu"], NONRELU_CHOICES)
        layer = resolve_layer(state, x, options["layer"], self.name)
        options["layer"] = layer
        with state.hooks() as hooks:
            info = install_guided_hooks(state, hooks, x, nonrelu, self.name)
            guided, targets, logits = input_gradients(state.model, x, target,
                                                      options["max_batch"])
        cams, _, _ = grad_cam(state, x, targets, layer, True, options["max_batch"], self.name)
        up = F.interpolate(cams, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
        return Attribution(guided * up, targets, logits,
                           {"layer": layer, "layer_maps": cams, "guided_layers": info["guided"],
                            "unguided": info["unguided"]})
