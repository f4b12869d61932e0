"""Softmax, cross-entropy and binary cross-entropy against torch.nn.functional and autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from emotionkit.errors import ConfigError
from emotionkit.math import softmax as sm

FAST = settings(max_examples=50, deadline=None)


def _logits(seed: int, n: int, c: int, scale: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g, dtype=torch.float64) * scale


@FAST
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), c=st.integers(1, 8),
       smoothing=st.sampled_from([0.0, 0.1, 0.3, 1.0]),
       reduction=st.sampled_from(["sum", "mean", "none"]))
def test_cross_entropy_index_targets_match_torch_and_autograd(seed, n, c, smoothing, reduction):
    z = _logits(seed, n, c)
    targets = torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(seed))
    ours = sm.cross_entropy(z, targets, label_smoothing=smoothing, reduction=reduction)
    ref = F.cross_entropy(z, targets, label_smoothing=smoothing, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    if reduction == "none":
        return
    zg = z.clone().requires_grad_(True)
    F.cross_entropy(zg, targets, label_smoothing=smoothing, reduction=reduction).backward()
    grad = sm.cross_entropy_grad(z, targets, label_smoothing=smoothing, reduction=reduction)
    torch.testing.assert_close(grad, zg.grad, rtol=1e-12, atol=1e-12)


@FAST
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), c=st.integers(2, 8),
       smoothing=st.sampled_from([0.0, 0.2]))
def test_cross_entropy_probability_targets(seed, n, c, smoothing):
    z = _logits(seed, n, c)
    y = torch.softmax(_logits(seed + 1, n, c), dim=1)
    ours = sm.cross_entropy(z, y, label_smoothing=smoothing)
    ref = F.cross_entropy(z, y, label_smoothing=smoothing, reduction="sum")
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    zg = z.clone().requires_grad_(True)
    F.cross_entropy(zg, y, label_smoothing=smoothing, reduction="sum").backward()
    torch.testing.assert_close(sm.cross_entropy_grad(z, y, label_smoothing=smoothing), zg.grad)


def test_gradient_is_y_hat_minus_y_by_hand():
    z = np.array([[2.0, 1.0, 0.1]])
    y_hat = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(sm.softmax(z), y_hat)
    np.testing.assert_allclose(sm.cross_entropy_grad(z, np.array([0])), y_hat - [1, 0, 0])
    assert sm.cross_entropy(z, np.array([0])) == pytest.approx(-np.log(y_hat[0, 0]))
    one_hot = np.array([[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(sm.cross_entropy_grad(z, one_hot), y_hat - one_hot)
    # smoothing eps: target (1 - eps) y + eps / C
    smooth = 0.9 * one_hot + 0.1 / 3
    np.testing.assert_allclose(sm.cross_entropy_grad(z, [1], label_smoothing=0.1), y_hat - smooth)
    # a single sample given as (C,) logits and a scalar index
    np.testing.assert_allclose(sm.cross_entropy_grad(z[0], 1), (y_hat - one_hot)[0])
    # the mean loss divides by N
    z2 = np.vstack([z, z])
    assert sm.cross_entropy(z2, [0, 0], reduction="mean") == pytest.approx(
        sm.cross_entropy(z, [0])
    )


def test_extreme_logits_do_not_overflow():
    for dtype in (torch.float32, torch.float64):
        z = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
        t = torch.tensor([1, 2])
        p = sm.softmax(z)
        lp = sm.log_softmax(z)
        loss = sm.cross_entropy(z, t, reduction="none")
        grad = sm.cross_entropy_grad(z, t)
        for v in (p, lp, loss, grad):
            assert torch.isfinite(v).all()
        torch.testing.assert_close(p[0], torch.tensor([1.0, 0.0, 0.0], dtype=dtype))
        torch.testing.assert_close(p[1], torch.full((3,), 1 / 3, dtype=dtype))
        torch.testing.assert_close(loss, torch.tensor([2e4, np.log(3)], dtype=dtype))
        torch.testing.assert_close(loss, F.cross_entropy(z, t, reduction="none"))
        zb = torch.tensor([1e4, -1e4, 0.0, 30.0], dtype=dtype)
        yb = torch.tensor([0.0, 1.0, 0.5, 1.0], dtype=dtype)
        s = sm.sigmoid(zb)
        torch.testing.assert_close(s[:2], torch.tensor([1.0, 0.0], dtype=dtype))
        bce = sm.binary_cross_entropy_with_logits(zb, yb, reduction="none")
        assert torch.isfinite(bce).all()
        assert torch.isfinite(sm.binary_cross_entropy_grad(zb, yb)).all()
        ref = F.binary_cross_entropy_with_logits(zb, yb, reduction="none")
        torch.testing.assert_close(bce, ref)
        assert float(bce[0]) == pytest.approx(1e4) and float(bce[1]) == pytest.approx(1e4)


@FAST
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 10),
       reduction=st.sampled_from(["sum", "mean"]))
def test_binary_cross_entropy_matches_torch_and_autograd(seed, n, reduction):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator=g, dtype=torch.float64) * 5
    y = torch.rand(n, generator=g, dtype=torch.float64)
    torch.testing.assert_close(sm.sigmoid(z), torch.sigmoid(z))
    ours = sm.binary_cross_entropy_with_logits(z, y, reduction=reduction)
    torch.testing.assert_close(ours, F.binary_cross_entropy_with_logits(z, y, reduction=reduction))
    zg = z.clone().requires_grad_(True)
    F.binary_cross_entropy_with_logits(zg, y, reduction=reduction).backward()
    grad = sm.binary_cross_entropy_grad(z, y, reduction=reduction)
    torch.testing.assert_close(grad, zg.grad)
    if reduction == "sum":
        torch.testing.assert_close(grad, torch.sigmoid(z) - y)


def test_softmax_dims_and_log_softmax():
    z = _logits(0, 3, 4)
    torch.testing.assert_close(sm.softmax(z, dim=0), torch.softmax(z, dim=0))
    torch.testing.assert_close(sm.log_softmax(z), torch.log_softmax(z, dim=-1))
    assert isinstance(sm.softmax(z.numpy()), np.ndarray)
    assert isinstance(sm.cross_entropy(z.numpy(), [0, 1, 2]), np.floating)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: sm.cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])), "must be integers"),
        (lambda: sm.cross_entropy(np.zeros((2, 3)), [0, 3]), r"class 3 is out of range .*0\.\.2"),
        (lambda: sm.cross_entropy(np.zeros((2, 3)), [-1, 0]), "class -1 is out of range"),
        (lambda: sm.cross_entropy(np.zeros((2, 3)), [0, 1, 2]), r"indices of shape \(2,\)"),
        (lambda: sm.cross_entropy(np.zeros((2, 3)), -np.ones((2, 3))), "non-negative"),
        (lambda: sm.cross_entropy(np.zeros((2, 3)), [0, 1], reduction="avg"), "reduction must"),
        (lambda: sm.cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=1.5), r"\[0, 1\]"),
        (lambda: sm.cross_entropy(np.zeros((2, 3, 4)), [0, 1]), r"shape \(N, C\) or \(C,\)"),
        (lambda: sm.cross_entropy_grad(np.zeros((2, 3)), [0, 1], reduction="none"), "scalar"),
        (lambda: sm.softmax(np.float64(1.0)), "at least one axis"),
        (lambda: sm.softmax(np.zeros(3), dim=1), "dim must be"),
        (lambda: sm.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(2)), "shape of the"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ConfigError, match=message):
        call()
