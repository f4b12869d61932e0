"""Keras-'same' layers, checked against hand-computed windows."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emotionkit.errors import ConfigError
from emotionkit.models.layers import Conv2dSame, MaxPool2dSame, conv_same, make_activation


def test_maxpool_same_3x3_with_pool_4_takes_the_max_of_all_nine():
    x = -torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # all negative: zero padding would win
    y = MaxPool2dSame(4)(x)
    assert y.shape == (1, 1, 1, 1) and y.item() == -1.0


def test_maxpool_same_5x5_pads_one_before_two_after():
    # out = ceil(5/4) = 2, total pad = (2-1)*4 + 4 - 5 = 3 -> 1 before, 2 after
    pool = MaxPool2dSame(4)
    assert pool.same_padding(5, 5) == (1, 2, 1, 2)
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    y = pool(x)[0, 0]
    # windows cover rows/cols [0..2] and [3..4] of the input
    expected = torch.tensor([[x[0, 0, :3, :3].max(), x[0, 0, :3, 3:].max()],
                             [x[0, 0, 3:, :3].max(), x[0, 0, 3:, 3:].max()]])
    assert torch.equal(y, expected)


def test_maxpool_same_needs_no_padding_when_divisible():
    x = torch.rand(2, 3, 48, 48)
    assert MaxPool2dSame(4).same_padding(48, 48) == (0, 0, 0, 0)
    torch.testing.assert_close(MaxPool2dSame(4)(x), F.max_pool2d(x, 4))


def test_maxpool_same_gradient_reaches_only_real_pixels():
    x = torch.rand(1, 1, 3, 3, requires_grad=True)
    MaxPool2dSame(4)(x).sum().backward()
    assert x.grad.sum() == 1 and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("k", [2, 4])
def test_conv_same_even_kernel_pads_bottom_right(k):
    torch.manual_seed(0)
    conv = Conv2dSame(2, 3, k)
    x = torch.rand(1, 2, 7, 7)
    before, after = (k - 1) // 2, k - 1 - (k - 1) // 2
    ref = F.conv2d(F.pad(x, (before, after, before, after)), conv.weight, conv.bias)
    out = conv(x)
    assert out.shape == (1, 3, 7, 7)
    torch.testing.assert_close(out, ref)


def test_conv_same_odd_kernel_is_a_plain_conv():
    conv = conv_same(1, 4, 5)
    assert type(conv) is torch.nn.Conv2d and conv.padding == (2, 2)
    assert conv(torch.rand(1, 1, 9, 9)).shape == (1, 4, 9, 9)
    assert isinstance(conv_same(1, 4, 4), Conv2dSame)


def test_make_activation_gives_fresh_modules_and_rejects_unknown_names():
    a, b = make_activation("relu"), make_activation("relu")
    assert a is not b
    assert make_activation("prelu", 16).weight.shape == (16,)
    assert make_activation("leaky_relu", negative_slope=0.3).negative_slope == 0.3
    with pytest.raises(ConfigError, match="unknown activation 'swish'.*Valid activations: "
                                          "leaky_relu, prelu, relu"):
        make_activation("swish")
