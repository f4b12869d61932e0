"""An example emotionkit plugin: the ``gradient-x-input`` explainer.

Gradient x input (Shrikumar et al., 2016) multiplies the gradient of the target logit by the
pixel values, so dark pixels (value 0) get no attribution. For a model that is linear in its
input the attributions of an image sum to ``logit(image) - logit(black image)``.
"""

from __future__ import annotations

from types import MappingProxyType

from emotionkit.explain import Attribution, AttributionExplainer, hookimpl, input_gradients

__version__ = "0.1.0"


class GradientXInput(AttributionExplainer):
    """Gradient of the target logit times the input.

    Keyword Args:
        max_batch: Images per forward/backward pass.
    """

    name = "gradient-x-input"
    description = "Input gradient times the pixel values (from emotionkit-plugin-example)"
    defaults = MappingProxyType({"max_batch": None})
    smoothable = True  # SmoothGrad may use it as its base method

    def attribute(self, state, x, target, options) -> Attribution:
        """Compute the maps; emotionkit prepared ``x`` and cleans up ``state`` afterwards."""
        grads, targets, logits = input_gradients(state.model, x, target, options["max_batch"])
        return Attribution(grads * x, targets, logits)


@hookimpl
def register_explainers(register):
    """Register this plugin's explainers with emotionkit."""
    register(GradientXInput)
