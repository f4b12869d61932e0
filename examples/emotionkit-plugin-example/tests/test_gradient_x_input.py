"""Tests of the example plugin, written with emotionkit.testing (run: pytest tests/)."""

from __future__ import annotations

import torch
from emotionkit_plugin_example import GradientXInput

from emotionkit.testing import TinyCNN, check_explainer


def test_gradient_x_input_on_a_linear_model_is_complete():
    # bias 10 keeps the ReLU active: the model is linear, so the attributions of an image
    # sum to logit(image) - logit(black)
    model = TinyCNN(scales=(1.0,), biases=(10.0,), head=((2.0,), (-1.0,)))
    x = torch.rand(3, 1, 5, 5)
    result = check_explainer(GradientXInput(), model, x, target=0)
    with torch.no_grad():
        delta = model(x)[:, 0] - model(torch.zeros_like(x))[:, 0]
    torch.testing.assert_close(result.maps.flatten(1).sum(1), delta)
