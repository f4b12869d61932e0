"""Method-specific rules: guided backprop's activation policy, layers, options, objectives."""

from __future__ import annotations

import pytest
import torch

from emotionkit import explain
from emotionkit.errors import ConfigError, ExplainError, UnknownLayerError
from emotionkit.explain.methods.activation_max import gaussian_blur, parse_channels, roll_batch
from emotionkit.explain.methods.integrated_gradients import quadrature
from emotionkit.explain.methods.occlusion import positions
from emotionkit.testing import TinyCNN

X = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))


def test_functional_relu_is_refused_with_a_clear_message():
    model = TinyCNN(activation="functional")
    with pytest.raises(ExplainError, match=r"functional activations cannot be guided \(relu in "
                                           r"the root module\); use nn.ReLU modules"):
        explain.run("guided-backprop", model, X)
    passed = explain.run("guided-backprop", model, X, nonrelu="pass")
    plain = explain.run("saliency", model, X, absolute=False)
    torch.testing.assert_close(passed.maps, plain.maps)  # nothing guided: the plain gradient
    assert passed.extras["unguided"] == ["relu in the root module"]


@pytest.mark.parametrize("activation", ["leaky", "prelu"])
def test_relu_like_activations_refused_unless_asked(activation):
    model = TinyCNN(activation=activation, biases=(-3.0, 3.5))
    with pytest.raises(ExplainError, match=r"cannot guide non-ReLU activation\(s\) act "
                                           r"\((LeakyReLU|PReLU)\); use nonrelu='treat-as-relu'"):
        explain.run("guided-backprop", model, X)
    treated = explain.run("guided-backprop", model, X, nonrelu="treat-as-relu", target=1)
    relu = TinyCNN(activation="relu", biases=(-3.0, 3.5))
    # with the ReLU rule the negative part never passes, whatever the slope there
    expected = explain.run("guided-backprop", relu, X, target=1)
    torch.testing.assert_close(treated.maps, expected.maps)
    passed = explain.run("guided-backprop", model, X, nonrelu="pass", target=1)
    assert passed.extras["unguided"] == ["act"]


def test_gelu_cannot_be_treated_as_relu():
    model = TinyCNN(activation="gelu")
    with pytest.raises(ExplainError, match=r"act \(GELU\); use nonrelu='pass'"):
        explain.run("guided-backprop", model, X, nonrelu="treat-as-relu")
    with pytest.raises(ConfigError, match="option 'nonrelu' must be one of"):
        explain.run("guided-backprop", model, X, nonrelu="ignore")


def test_unknown_layer_lists_valid_names():
    with pytest.raises(UnknownLayerError, match=r"unknown layer 'conv1'; did you mean 'conv'\? "
                                                r"Valid layers: act, conv, fc, flatten, pool"):
        explain.run("grad-cam", TinyCNN(), X, layer="conv1")
    for name in ("layer-outputs", "activation-max", "guided-grad-cam"):
        with pytest.raises(UnknownLayerError):
            explain.get(name).explain(TinyCNN(), X if name != "activation-max" else None,
                                      layer="nope")


def test_grad_cam_needs_a_spatial_layer():
    with pytest.raises(ExplainError, match=r"layer 'fc' gives \(2, 3\)"):
        explain.run("grad-cam", TinyCNN(), X, layer="fc")


def test_activation_max_raises_the_objective_and_validates_channels():
    model = TinyCNN(reuse=True)
    result = explain.run("activation-max", model, layer="mix", steps=25, lr=0.1,
                         input_shape=(1, 10, 10), jitter=1, blur_every=5, tv=0.0, l2=0.0)
    history = result.extras["history"]
    assert history.shape == (25, 2)
    assert (history[-1] > history[0]).all()
    assert (result.maps >= 0).all() and (result.maps <= 1).all()
    assert result.options["channels"] == [0, 1] and result.options["layer"] == "mix"
    with pytest.raises(ConfigError, match="channel 2 is outside 0..1 of the layer"):
        explain.run("activation-max", model, layer="mix", channels="0-2", steps=1)
    with pytest.raises(ConfigError, match="takes no target"):
        explain.run("activation-max", model, target=1)
    units = explain.run("activation-max", model, layer="fc", channels=[2], steps=2,
                        input_shape=(1, 5, 5))
    assert units.maps.shape == (1, 1, 5, 5)


def test_activation_max_defaults_to_a_zoo_models_input_size():
    from emotionkit.models import ModelZoo

    torch.manual_seed(0)
    model = ModelZoo.create("compact", width=0.25)
    result = explain.run("activation-max", model, channels="0-1", steps=1)
    assert result.maps.shape == (2, 1, 48, 48)
    assert result.options["layer"] == "features.conv7"  # the last conv by execution order


def test_helpers():
    assert parse_channels("0-2,5", 8) == [0, 1, 2, 5]
    assert parse_channels(None, 3) == [0, 1, 2]
    with pytest.raises(ConfigError, match="cannot read channels"):
        parse_channels("a-b", 3)
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(2, 1, 1, 1)
    rolled = roll_batch(x, torch.tensor([1, 0]), torch.tensor([0, -1]))
    assert torch.equal(rolled[0], torch.roll(x[0], 1, dims=1))
    assert torch.equal(rolled[1], torch.roll(x[1], -1, dims=2))
    flat = torch.full((1, 1, 8, 8), 0.3)
    torch.testing.assert_close(gaussian_blur(flat, 1.0), flat)
    for rule in ("gausslegendre", "trapezoid", "midpoint", "left", "right"):
        alphas, weights = quadrature(rule, 7)
        assert weights.sum() == pytest.approx(1.0)
        assert (weights * alphas**2).sum() == pytest.approx(1 / 3, abs=0.1)
    assert positions(48, 8, 4)[-1] == 40 and positions(10, 4, 4) == [0, 4, 6]


def test_smoothgrad_noise_is_relative_to_the_image_range():
    model = TinyCNN()
    dark = X * 0.01  # a tiny pixel range: absolute noise of 1.0 would drown it
    result = explain.run("smoothgrad", model, dark, samples=2, noise=0.2)
    flat = dark.flatten(1)
    expected = 0.2 * (flat.max(1).values - flat.min(1).values)
    torch.testing.assert_close(result.extras["noise_std"], expected)
    with pytest.raises(ConfigError, match="base method 'occlusion' cannot be smoothed"):
        explain.run("smoothgrad", model, X, base="occlusion")
    guided = explain.run("smoothgrad", model, X, base="guided-backprop", samples=2, noise=0.0)
    plain = explain.run("guided-backprop", model, X)
    torch.testing.assert_close(guided.maps, plain.maps)  # zero noise: the base map itself


def test_occlusion_probability_and_mean_baseline():
    model = TinyCNN()
    result = explain.run("occlusion", model, X, window=3, stride=3, baseline="mean",
                         score="probability")
    assert result.maps.shape == X.shape
    assert result.extras["windows"] == 4
    with pytest.raises(ConfigError, match="window"):
        explain.run("occlusion", model, X, window=7)


def test_activation_max_channel_sliced_conv_equals_the_full_layer():
    """On a plain Conv2d the optimizer computes one channel per image; same numbers."""
    model = TinyCNN(reuse=True, scales=(1.0, -2.0, 0.5), biases=(0.1, 0.2, -0.3),
                    head=((1.0, 0.0, 1.0),), mix=((1.0, 0.5, 0.0), (0.0, -1.0, 2.0),
                                                   (0.3, 0.3, 0.3)), mix_bias=(0.0, 0.1, 0.2))
    result = explain.run("activation-max", model, layer="mix", channels=[2, 0, 1], steps=3,
                         input_shape=(1, 7, 7))
    full = explain.run("layer-outputs", model, result.maps, layer="mix")
    expected = full.maps["mix"][torch.arange(3), torch.tensor([2, 0, 1])].mean(dim=(1, 2))
    torch.testing.assert_close(result.scores["activation"], expected)


def test_grad_cam_on_an_ensemble_needs_an_explicit_layer():
    class Ensemble(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.members = torch.nn.ModuleList([TinyCNN(), TinyCNN()])

        def forward(self, x):
            return torch.stack([m(x) for m in self.members]).mean(0)

    model = Ensemble()
    with pytest.raises(ExplainError, match="ensemble of 2 members"):
        explain.run("grad-cam", model, X)
    result = explain.run("grad-cam", model, X, layer="members.1.conv")
    assert result.maps.shape == X.shape
