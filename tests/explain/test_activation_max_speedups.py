"""Activation maximization's shortcuts compute the same objective as the plain network."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from emotionkit import explain
from emotionkit.errors import ConfigError
from emotionkit.explain.methods.activation_max import mean_adjoint


@pytest.mark.parametrize("stride,padding,dilation,bias", [
    (1, 1, 1, True), (2, 0, 1, False), (2, 2, 1, True), (1, 2, 2, True), (3, 1, 1, False),
])
def test_mean_adjoint_turns_the_channel_mean_into_a_dot_product(stride, padding, dilation, bias):
    gen = torch.Generator().manual_seed(1)
    conv = nn.Conv2d(3, 5, 3, stride=stride, padding=padding, dilation=dilation, bias=bias)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
    x = torch.randn(4, 3, 11, 9, generator=gen, dtype=torch.float64)
    g = mean_adjoint(conv, (3, 11, 9)).double()
    assert g.shape == (5, 3, 11, 9)
    direct = F.conv2d(x, conv.weight.double(), None, stride, padding, dilation).mean(dim=(2, 3))
    via_adjoint = torch.einsum("nchw,ochw->no", x, g)
    torch.testing.assert_close(via_adjoint, direct, rtol=1e-6, atol=1e-6)


class ConvBnNet(nn.Module):
    """conv-BN-ReLU-pool-conv; BatchNorm with non-trivial running statistics."""

    def __init__(self, residual: bool = False):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.residual = residual
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.act1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            self.bn1.running_mean.copy_(torch.randn(6, generator=gen))
            self.bn1.running_var.copy_(torch.rand(6, generator=gen) + 0.5)

    def forward(self, x):
        h = self.conv1(x)
        h = self.bn1(h) + (h if self.residual else 0)  # residual: the conv output is used twice
        h = self.pool1(self.act1(h))
        return self.head(self.conv2(h).mean(dim=(2, 3)))


OPTIONS = {"layer": "conv2", "steps": 5, "input_shape": (1, 12, 12), "seed": 2,
           "precision": "fp32"}


def test_batchnorm_is_folded_without_changing_the_result_or_the_model():
    model = ConvBnNet().eval()
    before = copy.deepcopy(model.state_dict())
    modules = dict(model.named_modules())
    fast = explain.run("activation-max", model, **OPTIONS)
    plain = explain.run("activation-max", model, fold_batchnorm=False, channels_last=False,
                        **OPTIONS)
    assert fast.extras["folded"] == ["conv1+bn1"]
    assert fast.extras["channels_last_layers"] == ["conv1"]
    assert plain.extras["folded"] == [] and plain.extras["channels_last_layers"] == []
    torch.testing.assert_close(fast.maps, plain.maps, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.scores["activation"], plain.scores["activation"],
                               rtol=1e-4, atol=1e-5)
    # the user's modules and weights are the very same afterwards
    assert dict(model.named_modules()) == modules
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert model.conv1.weight.is_contiguous()
    assert not any(p.requires_grad is False for p in model.parameters())


def test_a_fold_that_would_change_the_layer_output_is_not_used():
    model = ConvBnNet(residual=True).eval()
    fast = explain.run("activation-max", model, channels_last=False, **OPTIONS)
    plain = explain.run("activation-max", model, fold_batchnorm=False, channels_last=False,
                        **OPTIONS)
    assert fast.extras["folded"] == []
    assert "changed the layer's output" in fast.extras["prefix_notes"][0]
    torch.testing.assert_close(fast.maps, plain.maps)


def test_the_reported_activation_is_the_layer_mean_in_any_precision():
    model = ConvBnNet().eval()
    for precision in ("fp32", "bf16"):
        result = explain.run("activation-max", model, **{**OPTIONS, "precision": precision})
        assert result.options["precision"] == precision
        outputs = explain.run("layer-outputs", model, result.maps, layer="conv2").maps["conv2"]
        expected = outputs[torch.arange(4), torch.arange(4)].mean(dim=(1, 2))
        torch.testing.assert_close(result.scores["activation"], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("precision,message", [
    ("fp16", "not supported on CPU"), ("half", "unknown precision"),
])
def test_bad_precision_is_refused(precision, message):
    with pytest.raises(ConfigError, match=message):
        explain.run("activation-max", ConvBnNet(), **{**OPTIONS, "precision": precision})
