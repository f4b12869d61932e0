"""``saliency``: the vanilla gradient of the target logit with respect to the pixels."""

from __future__ import annotations

from types import MappingProxyType

from ..base import Attribution, AttributionExplainer, check_bool
from ._common import input_gradients


class Saliency(AttributionExplainer):
    """Vanilla saliency (Simonyan et al., 2014): ``d logit_target / d pixel``.

    Keyword Args:
        absolute: Return ``|gradient|`` (default) or the signed gradient.
        max_batch: Images per forward/backward pass (default None: 32 on CPU, 256 on GPU).
    """

    name = "saliency"
    description = "Gradient of the target logit with respect to each pixel (absolute or signed)"
    defaults = MappingProxyType({"absolute": True, "max_batch": None})
    smoothable = True

    def attribute(self, state, x, target, options) -> Attribution:
        absolute = check_bool(self.name, "absolute", options["absolute"])
        grads, targets, logits = input_gradients(state.model, x, target, options["max_batch"])
        return Attribution(grads.abs() if absolute else grads, targets, logits)
