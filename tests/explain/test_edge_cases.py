"""Edge cases of the explainers (issue 16): what cannot be guided, inference mode, inputs the
model cannot take, non-logit outputs, and option values that would exhaust memory or time."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from emotionkit import explain
from emotionkit.errors import ConfigError, ExplainError
from emotionkit.testing import TinyCNN, assert_restored, hook_counts, snapshot

X = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
FAST = {
    "activation-max": {"steps": 2},
    "integrated-gradients": {"steps": 3},
    "smoothgrad": {"samples": 2},
    "occlusion": {"window": 3, "stride": 3},
}
# the methods that take images (activation-max synthesizes its own)
IMAGE_METHODS = [name for name in explain.available() if name != "activation-max"]


class ClampNet(nn.Module):
    """TinyCNN's layers with the ReLU written as ``x.clamp(min=0)``."""

    def __init__(self, where: str = "clamp") -> None:
        super().__init__()
        self.tiny = TinyCNN()
        self.where = where

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tiny.conv(x)
        if self.where == "clamp":
            h = h.clamp(min=0)
        elif self.where == "clamp_min":
            h = torch.clamp_min(h, 0.0)
        else:  # a mask: no activation function at all
            h = h * (h > 0)
        return self.tiny.fc(self.tiny.flatten(self.tiny.pool(h)))


class MyReLU(nn.ReLU):
    """A subclass of nn.ReLU, as a model might define to tag its activations."""


class OwnForwardReLU(nn.ReLU):
    """A subclass that computes the ReLU its own way (still a ReLU module)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, torch.zeros_like(x))


# ---------------------------------------------------------------- guided backpropagation
@pytest.mark.parametrize("method", ["guided-backprop", "guided-grad-cam"])
def test_clamp_at_zero_is_refused_as_functional(method):
    model = ClampNet("clamp")
    before = snapshot(model)
    with pytest.raises(ExplainError, match=r"functional activations cannot be guided "
                                           r"\(clamp\(min=0\) in the root module\)"):
        explain.run(method, model, X)
    assert_restored(model, before)
    assert hook_counts(model) == {}
    with pytest.raises(ExplainError, match=r"clamp\(min=0\) in the root module"):
        explain.run(method, ClampNet("clamp_min"), X)


def test_nothing_to_guide_is_refused_unless_passed():
    model = ClampNet("mask")
    with pytest.raises(ExplainError, match=r"guided-backprop: nothing to guide: no nn.ReLU module "
                                           r"runs in ClampNet's forward pass, so the map would be "
                                           r"the plain gradient; .*nonrelu='pass'"):
        explain.run("guided-backprop", model, X)
    passed = explain.run("guided-backprop", model, X, nonrelu="pass")
    assert passed.extras["guided_layers"] == [] and passed.extras["unguided"] == []
    plain = explain.run("saliency", model, X, absolute=False)
    torch.testing.assert_close(passed.maps, plain.maps)


def test_clamp_with_an_upper_bound_is_not_an_activation():
    class Clip(nn.Module):  # clipping to [0, 1] around a ReLU module: the ReLU is guided
        def __init__(self) -> None:
            super().__init__()
            self.tiny = TinyCNN()

        def forward(self, x):
            return self.tiny(x.clamp(0.0, 1.0))

    result = explain.run("guided-backprop", Clip(), X)
    assert result.extras["guided_layers"] == ["tiny.act"]


@pytest.mark.parametrize("cls", [MyReLU, OwnForwardReLU])
def test_relu_subclass_is_guided_like_nn_relu(cls):
    model = TinyCNN(biases=(-3.0, 3.5))
    reference = explain.run("guided-backprop", model, X, target=1)
    model.act = cls()
    result = explain.run("guided-backprop", model, X, target=1)
    assert result.extras["guided_layers"] == ["act"] and result.extras["unguided"] == []
    torch.testing.assert_close(result.maps, reference.maps)
    assert hook_counts(model) == {}


def test_subclass_of_other_activation_follows_nonrelu():
    class MyLeaky(nn.LeakyReLU):
        pass

    model = TinyCNN(activation="leaky")
    model.act = MyLeaky(0.1)
    with pytest.raises(ExplainError, match=r"cannot guide non-ReLU activation\(s\) act "
                                           r"\(MyLeaky\)"):
        explain.run("guided-backprop", model, X)
    assert explain.run("guided-backprop", model, X,
                       nonrelu="treat-as-relu").extras["guided_layers"] == ["act"]


# ---------------------------------------------------------------- torch.inference_mode()
@pytest.mark.parametrize("name", explain.available())
def test_every_method_works_inside_inference_mode(name):
    model = TinyCNN()
    images = None if name == "activation-max" else X
    expected = explain.get(name).explain(model, images, **FAST.get(name, {}))
    before = snapshot(model)
    with torch.inference_mode():
        inference_images = None if images is None else images.clone()
        result = explain.get(name).explain(model, inference_images, **FAST.get(name, {}))
        assert torch.is_inference_mode_enabled()  # the caller's mode is back
    assert_restored(model, before)
    maps = result.maps if isinstance(result.maps, dict) else {"": result.maps}
    want = expected.maps if isinstance(expected.maps, dict) else {"": expected.maps}
    for key, value in maps.items():
        assert not value.is_inference()  # ordinary tensors: usable outside the block
        torch.testing.assert_close(value, want[key])


def test_model_made_in_inference_mode_is_refused_clearly():
    with torch.inference_mode():
        model = TinyCNN()
    for name in ("saliency", "occlusion"):
        with pytest.raises(ExplainError, match=r"the model's tensors were created inside "
                                               r"torch.inference_mode\(\) \('conv.weight' and 3 "
                                               r"more\).*create or load the model outside"):
            explain.run(name, model, X, **FAST.get(name, {}))
    assert all(p.requires_grad for p in model.parameters())


# ---------------------------------------------------------------- inputs the model cannot take
@pytest.mark.parametrize("name", IMAGE_METHODS)
def test_three_channel_input_is_one_clear_error(name):
    model = TinyCNN()
    before = snapshot(model)
    with pytest.raises(ExplainError) as info:
        explain.run(name, model, torch.rand(2, 3, 6, 6), **FAST.get(name, {}))
    message = str(info.value)
    assert message.startswith(f"{name}: the model fails on images of shape (2, 3, 6, 6) (its "
                              "first convolution takes 1-channel images): RuntimeError: ")
    assert "\n" not in message
    assert_restored(model, before)
    assert hook_counts(model) == {}


def test_wrong_image_size_names_the_shape_and_the_zoo_input():
    from emotionkit.models import ModelZoo

    model = ModelZoo.create("dnn", seed=0)  # flattens 48x48 pixels: 32x32 cannot work
    with pytest.raises(ExplainError, match=r"^saliency: the model fails on images of shape "
                                           r"\(1, 1, 32, 32\) \(dnn takes \(N, 1, 48, 48\)\): "
                                           r"RuntimeError: "):
        explain.run("saliency", model, torch.rand(1, 1, 32, 32))


class DictNet(nn.Module):
    def __init__(self, kind: str = "dict") -> None:
        super().__init__()
        self.tiny = TinyCNN()
        self.kind = kind

    def forward(self, x):
        logits = self.tiny(x)
        if self.kind == "dict":
            return {"logits": logits, "features": x}
        if self.kind == "tuple":
            return logits, x
        return logits[:, 0]  # (N,): not (N, classes)


@pytest.mark.parametrize("name", IMAGE_METHODS)
def test_dict_output_is_one_clear_error(name):
    with pytest.raises(ExplainError, match=rf"^{name}: the model returns a dict \(keys 'logits', "
                                           r"'features'\), not a logits tensor \(N, classes\); "
                                           r"wrap it in a module whose forward returns the "
                                           r"logits$"):
        explain.run(name, DictNet(), X, **FAST.get(name, {}))


def test_tuple_and_1d_outputs_are_clear_errors():
    with pytest.raises(ExplainError, match=r"returns a tuple of 2 items, not a logits tensor"):
        explain.run("saliency", DictNet("tuple"), X)
    with pytest.raises(ExplainError, match=r"must return logits of shape \(N, classes\), "
                                           r"got \(1,\)"):
        explain.run("saliency", DictNet("1d"), X)


# ---------------------------------------------------------------- option ranges
@pytest.mark.parametrize("name, options, message", [
    ("integrated-gradients", {"steps": 1e12},
     "integrated-gradients: option 'steps' must be <= 1024, got 1e+12"),
    ("integrated-gradients", {"steps": 10**12},
     "integrated-gradients: option 'steps' must be <= 1024, got 1000000000000"),
    ("smoothgrad", {"samples": 1e12},
     "smoothgrad: option 'samples' must be <= 10000, got 1e+12"),
    ("smoothgrad", {"noise": 1e300},
     "smoothgrad: option 'noise' must be <= 10, got 1e+300"),
    ("activation-max", {"steps": 1e12},
     "activation-max: option 'steps' must be <= 100000, got 1e+12"),
    ("activation-max", {"jitter": 1e30},
     "activation-max: option 'jitter' must be <= 10000, got 1e+30"),
    ("activation-max", {"input_shape": [1, 100000, 100000]},
     "activation-max: input_shape (1, 100000, 100000) has 10,000,000,000 pixels; "
     "the limit is 4,194,304"),
])
def test_option_values_that_exhaust_memory_are_refused(name, options, message):
    model = TinyCNN()
    images = None if name == "activation-max" else X
    with pytest.raises(ConfigError) as info:
        explain.get(name).explain(model, images, **options)
    assert str(info.value) == message


def test_largest_allowed_steps_are_fast_to_set_up():
    from emotionkit.explain.methods.integrated_gradients import MAX_STEPS, quadrature

    for rule in ("gausslegendre", "trapezoid", "midpoint"):
        alphas, weights = quadrature(rule, MAX_STEPS)
        assert len(alphas) == MAX_STEPS and abs(weights.sum() - 1.0) < 1e-9
    # past numpy's range scipy's nodes are used: the same rule, so still exact for x^3
    alphas, weights = quadrature("gausslegendre", 300)
    assert abs(float((weights * alphas**3).sum()) - 0.25) < 1e-12


def test_occlusion_masks_over_the_memory_budget_are_refused(monkeypatch):
    from emotionkit.explain import base

    monkeypatch.setattr(base, "MEMORY_BUDGET", 1024**2)
    with pytest.raises(ConfigError, match=r"^occlusion: 2,025 window masks of 48x48 pixels "
                                          r"would need 22.2 MiB of memory \(the limit is 1 MiB\); "
                                          r"use a larger stride or window$"):
        explain.run("occlusion", TinyCNN(), torch.rand(1, 1, 48, 48), window=4, stride=1)


def test_smoothgrad_noise_cache_over_the_budget_is_refused(monkeypatch):
    from emotionkit.explain import base

    monkeypatch.setattr(base, "MEMORY_BUDGET", 1024**2)
    with pytest.raises(ConfigError, match=r"^smoothgrad: 2,000 noisy copies of a \(1, 48, 48\) "
                                          r"image would need 17.6 MiB of memory"):
        explain.run("smoothgrad", TinyCNN(), torch.rand(1, 1, 48, 48), samples=2000)


def test_huge_blur_sigma_skips_the_blur_instead_of_allocating():
    from emotionkit.explain.methods.activation_max import gaussian_blur

    x = torch.rand(1, 1, 6, 6)
    assert torch.equal(gaussian_blur(x, 1e15), x)
    result = explain.run("activation-max", TinyCNN(), None, steps=2, blur_every=1,
                         blur_sigma=1e15, channels=[0])
    assert result.maps.shape == (1, 1, 48, 48)
