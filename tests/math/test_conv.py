"""Shape, parameter and operation formulas of emotionkit.math.conv against torch and by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from emotionkit.errors import ConfigError
from emotionkit.math import conv

FAST = settings(max_examples=50, deadline=None)


# ----------------------------------------------------------------------------- output sizes
@FAST
@given(
    n=st.integers(1, 40), k=st.integers(1, 7), p=st.integers(0, 3), s=st.integers(1, 4),
    d=st.integers(1, 3),
)
def test_output_size_matches_conv2d(n, k, p, s, d):
    if d * (k - 1) + 1 > n + 2 * p:
        with pytest.raises(ConfigError, match="kernel larger than the padded input"):
            conv.output_size(n, k, p, s, d)
        return
    out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), padding=p, stride=s,
                   dilation=d)
    assert conv.output_size(n, k, p, s, d) == out.shape[-1]


@FAST
@given(h=st.integers(5, 30), w=st.integers(5, 30), kh=st.integers(1, 5), kw=st.integers(1, 5),
       sh=st.integers(1, 3), sw=st.integers(1, 3))
def test_output_size_tuples_match_conv2d(h, w, kh, kw, sh, sw):
    out = F.conv2d(torch.zeros(1, 1, h, w), torch.zeros(1, 1, kh, kw), stride=(sh, sw))
    assert conv.output_size((h, w), (kh, kw), s=(sh, sw)) == tuple(out.shape[-2:])


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@FAST
@given(n=st.integers(1, 40), k=st.integers(1, 7), d=st.integers(1, 3))
def test_same_padding_stride1_matches_torch_same(n, k, d):
    out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), padding="same", dilation=d)
    assert conv.output_size(n, k, "same", 1, d) == out.shape[-1] == n
    before, after = conv.same_padding(k, d=d)
    assert before + after == d * (k - 1) and after - before in (0, 1)


@FAST
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 5))
def test_same_padding_with_stride_gives_ceil(n, k, s):
    """Padding by same_padding() then a 'valid' strided conv yields ceil(n / s) (TensorFlow)."""
    before, after = conv.same_padding(k, n=n, s=s)
    x = F.pad(torch.zeros(1, 1, n, n), (before, after, before, after))
    out = F.conv2d(x, torch.zeros(1, 1, k, k), stride=s)
    assert out.shape[-1] == math.ceil(n / s) == conv.output_size(n, k, "same", s)


def test_padding_words_and_hand_values():
    assert conv.output_size(48, 3, p=1) == 48
    assert conv.output_size(48, 3, "valid") == 46
    assert conv.output_size(48, 5, s=2) == 22  # floor((48 - 5) / 2) + 1
    assert conv.output_size(48, 4, "same") == 48
    assert conv.same_padding(3) == (1, 1)
    assert conv.same_padding(4) == (1, 2)
    assert conv.same_padding((3, 4)) == ((1, 1), (1, 2))
    assert conv.output_size(7, 3, "2") == 9


@FAST
@given(n=st.integers(1, 40), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3),
       ceil_mode=st.booleans(), d=st.integers(1, 2))
def test_pool_output_size_matches_maxpool2d(n, k, s, p, ceil_mode, d):
    if p > k // 2 or d * (k - 1) + 1 > n + 2 * p:
        with pytest.raises(ConfigError):
            conv.pool_output_size(n, k, s, p, ceil_mode=ceil_mode, d=d)
        return
    pool = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil_mode)
    out = pool(torch.zeros(1, 1, n, n))
    assert conv.pool_output_size(n, k, s, p, ceil_mode=ceil_mode, d=d) == out.shape[-1]
    avg = nn.AvgPool2d(k, s, p, ceil_mode=ceil_mode)(torch.zeros(1, 1, n, n)) if d == 1 else None
    if avg is not None:
        assert conv.pool_output_size(n, k, s, p, ceil_mode=ceil_mode) == avg.shape[-1]


def test_pool_same_is_keras_ceil():
    # the 2019 report: MaxPooling2D(4, padding='same') three times: 48 -> 12 -> 3 -> 1
    sizes = [48]
    for _ in range(3):
        sizes.append(conv.pool_output_size(sizes[-1], 4, padding="same"))
    assert sizes == [48, 12, 3, 1]
    assert conv.pool_output_size(5, 2, padding="same") == 3
    assert conv.pool_output_size(5, 2) == 2  # default stride = kernel, floor
    assert conv.pool_output_size(5, 2, ceil_mode=True) == 3


# ----------------------------------------------------------------------------- params and ops
@FAST
@given(c_in=st.integers(1, 8), c_out=st.integers(1, 8), kh=st.integers(1, 5),
       kw=st.integers(1, 5), bias=st.booleans(), groups=st.sampled_from([1, 2, 4]))
def test_conv_params_match_torch(c_in, c_out, kh, kw, bias, groups):
    c_in, c_out = c_in * groups, c_out * groups
    layer = nn.Conv2d(c_in, c_out, (kh, kw), bias=bias, groups=groups)
    expected = sum(p.numel() for p in layer.parameters())
    assert conv.conv_params(c_in, c_out, (kh, kw), bias=bias, groups=groups) == expected
    if kh == kw:
        assert conv.conv_params(c_in, c_out, kh, bias=bias, groups=groups) == expected


def _naive_conv_count(n, c_in, c_out, k, bias):
    """Run a literal loop convolution (stride 1, no padding) counting each * and +."""
    x = torch.arange(c_in * n * n, dtype=torch.float64).reshape(c_in, n, n)
    w = torch.ones(c_out, c_in, k, k, dtype=torch.float64)
    out_n = n - k + 1
    mults = adds = 0
    y = torch.zeros(c_out, out_n, out_n, dtype=torch.float64)
    for o in range(c_out):
        for i in range(out_n):
            for j in range(out_n):
                acc = None
                for c in range(c_in):
                    for a in range(k):
                        for b in range(k):
                            term = x[c, i + a, j + b] * w[o, c, a, b]
                            mults += 1
                            if acc is None:
                                acc = term
                            else:
                                acc = acc + term
                                adds += 1
                if bias:
                    acc = acc + 0.5
                    adds += 1
                y[o, i, j] = acc
    ref = F.conv2d(x[None], w, torch.full((c_out,), 0.5, dtype=torch.float64) if bias else None)
    assert torch.allclose(y, ref[0])
    return mults, adds


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("n,c_in,c_out,k", [(3, 1, 1, 2), (5, 2, 3, 3)])
def test_ops_counted_by_a_literal_loop(n, c_in, c_out, k, bias):
    mults, adds = _naive_conv_count(n, c_in, c_out, k, bias)
    cost = conv.conv_ops(n, c_in, c_out, k, bias=bias)
    assert (cost.multiplications, cost.additions) == (mults, adds)
    assert cost.macs == mults == conv.conv_macs(n, c_in, c_out, k)


def test_ops_hand_values_first_layer_of_the_reports():
    # conv 3x3 'same' 1 -> 32 on 48x48: 48*48*32 outputs, 9 products each
    with_bias = conv.conv_ops(48, 1, 32, 3, p="same")
    assert with_bias.output_shape == (32, 48, 48)
    assert with_bias.params == 32 * 9 + 32 == 320
    assert with_bias.multiplications == 48 * 48 * 32 * 9 == 663_552
    assert with_bias.additions == 48 * 48 * 32 * 9
    no_bias = conv.conv_ops(48, 1, 32, 3, p="same", bias=False)
    assert no_bias.additions == 48 * 48 * 32 * 8 == 589_824
    assert no_bias.params == 288
    assert (no_bias.per_output_multiplications, no_bias.per_output_additions) == (9, 8)
    assert with_bias.per_output_additions == 9
    assert with_bias.flops == with_bias.multiplications + with_bias.additions
    d = with_bias.to_dict()
    assert d["output_shape"] == [32, 48, 48] and d["macs"] == 663_552


@FAST
@given(n=st.integers(4, 16), c_in=st.integers(1, 4), c_out=st.integers(1, 4),
       k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2),
       groups=st.sampled_from([1, 2]))
def test_conv_macs_match_flop_counter(n, c_in, c_out, k, s, p, groups):
    c_in, c_out = c_in * groups, c_out * groups
    layer = nn.Conv2d(c_in, c_out, k, stride=s, padding=p, groups=groups)
    with FlopCounterMode(display=False) as counter:
        layer(torch.zeros(1, c_in, n, n))
    macs = conv.conv_macs(n, c_in, c_out, k, p=p, s=s, groups=groups)
    assert counter.get_total_flops() == 2 * macs


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: conv.output_size(-1, 3), "n must be positive, got -1"),
        (lambda: conv.output_size(48, 0), "k must be positive, got 0"),
        (lambda: conv.output_size(48, 3, p=-1), "p must be >= 0, got -1"),
        (lambda: conv.output_size(48, 3, s=0), "s must be positive"),
        (lambda: conv.output_size(48.0, 3), "n must be an integer, got 48.0"),
        (lambda: conv.output_size(48, 2.5), "k must be an integer"),
        (lambda: conv.output_size(48, True), "k must be an integer"),
        (lambda: conv.output_size(4, 7), r"kernel larger than the padded input.*7.*> n \+ 2p = 4"),
        (lambda: conv.output_size(48, 3, p="half"), "must be an integer, 'same' or 'valid'"),
        (lambda: conv.output_size((4, 5), (3, 3, 3)), "disagree on the number of dimensions"),
        (lambda: conv.pool_output_size(8, 2, p=2), "at most half the window"),
        (lambda: conv.pool_output_size(8, 2, padding="full"), "'valid' or 'same'"),
        (lambda: conv.pool_output_size(8, 2, p=1, padding="same"), "not both"),
        (lambda: conv.conv_params(3, 4, 3, groups=2), "groups=2 must divide both c_in=3"),
        (lambda: conv.conv_params(0, 4, 3), "c_in must be positive"),
        (lambda: conv.same_padding(3, s=2), "needs the input size n"),
    ],
)
def test_bad_input_raises_config_error(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_analyze_reachable_from_conv():
    assert conv.analyze is not None and callable(conv.complexity)
    with pytest.raises(AttributeError):
        conv.no_such_thing  # noqa: B018


def test_same_padding_takes_only_the_kernel_positionally():
    """``same_padding(48, 4)`` (input size first, as in output_size) must not read 48 as k."""
    with pytest.raises(TypeError):
        conv.same_padding(48, 4)
    assert conv.same_padding(4, d=1) == (1, 2)
