"""Analytic BatchNorm gradients against autograd (float64) on random shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from emotionkit.errors import ConfigError
from emotionkit.math import batchnorm

FAST = settings(max_examples=50, deadline=None)


def _autograd(x, gamma, beta, dy, eps):
    """Every intermediate of the textbook graph, and its gradient, from autograd."""
    x = x.clone().requires_grad_(True)
    gamma = gamma.clone().requires_grad_(True)
    beta = beta.clone().requires_grad_(True)
    dims = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(dim=dims)
    var = ((x - mean.reshape(shape)) ** 2).mean(dim=dims)
    x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    y = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    for t in (mean, var, x_hat):
        t.retain_grad()
    (y * dy).sum().backward()
    # d/dmean and d/dvar as *total* derivatives through the graph: autograd's mean.grad is the
    # gradient flowing into mean from x_hat and var, which is the textbook dL/dmean
    return {"y": y.detach(), "dx": x.grad, "dgamma": gamma.grad, "dbeta": beta.grad,
            "dx_hat": x_hat.grad, "dvar": var.grad, "dmean": mean.grad}


shapes = st.one_of(
    st.tuples(st.integers(2, 6), st.integers(1, 5)),
    st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
)


@FAST
@given(shape=shapes, seed=st.integers(0, 2**31 - 1), eps=st.sampled_from([1e-5, 1e-3, 0.1]))
def test_backward_matches_autograd_float64(shape, seed, eps):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 3 + 1
    c = shape[1]
    gamma = torch.randn(c, generator=g, dtype=torch.float64)
    beta = torch.randn(c, generator=g, dtype=torch.float64)
    dy = torch.randn(shape, generator=g, dtype=torch.float64)
    ref = _autograd(x, gamma, beta, dy, eps)
    y, cache = batchnorm.forward(x, gamma, beta, eps)
    torch.testing.assert_close(y, ref["y"], rtol=0, atol=1e-10)
    grads = batchnorm.backward(dy, x, gamma, eps)
    for name in ("dx_hat", "dvar", "dmean", "dx", "dgamma", "dbeta"):
        torch.testing.assert_close(grads[name], ref[name], rtol=0, atol=1e-10, msg=name)
    # the output equals PyTorch's own training-mode batch norm (which refuses m = 1; we give beta)
    if x.numel() // c > 1:
        ref_y = F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)
        torch.testing.assert_close(y, ref_y, rtol=0, atol=1e-10)
    torch.testing.assert_close(cache.var, x.var(dim=(0, *range(2, x.ndim)), correction=0))


def test_compact_formula_and_known_values():
    """dx = inv_std/m * (m dx_hat - sum dx_hat - x_hat sum(dx_hat x_hat)); dx of y.sum() is 0."""
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]])
    gamma, beta = np.array([2.0, -1.0]), np.array([0.5, 0.0])
    y, cache = batchnorm.forward(x, gamma, beta, eps=0.0)
    np.testing.assert_allclose(cache.mean, [3.0, 6.0])
    np.testing.assert_allclose(cache.var, [8 / 3, 32 / 3])
    np.testing.assert_allclose(y[:, 0], 2 * np.array([-2, 0, 2]) / np.sqrt(8 / 3) + 0.5)
    dy = np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 3.0]])
    g = batchnorm.backward(dy, x, gamma, eps=0.0)
    m, dxh, xh = 3, g.dx_hat, cache.x_hat
    compact = cache.inv_std / m * (m * dxh - dxh.sum(0) - xh * (dxh * xh).sum(0))
    np.testing.assert_allclose(g.dx, compact, atol=1e-12)
    ones = batchnorm.backward(np.ones_like(x), x, gamma, eps=0.0)
    np.testing.assert_allclose(ones.dx, 0, atol=1e-12)  # y.sum() does not depend on x
    np.testing.assert_allclose(ones.dbeta, [3.0, 3.0])
    np.testing.assert_allclose(ones.dgamma, 0, atol=1e-12)  # sum of x_hat is 0


def test_grads_are_named_and_dict_like():
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2))
    g = batchnorm.backward(np.ones_like(x), x, np.ones(3))
    assert list(g) == list(g.keys()) == ["dx_hat", "dvar", "dmean", "dx", "dgamma", "dbeta"]
    assert len(g) == 6 and g["dx"] is g.dx and set(dict(g)) == set(g.as_dict())
    assert g.dx.shape == g.dx_hat.shape == x.shape and g.dvar.shape == (3,)
    assert isinstance(g.dx, np.ndarray)
    with pytest.raises(KeyError, match="no gradient 'dy'"):
        g["dy"]  # noqa: B018


def test_defaults_and_kinds():
    x = torch.randn(5, 2, dtype=torch.float32)
    y, cache = batchnorm.forward(x)  # gamma ones, beta zeros
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    torch.testing.assert_close(y, cache.x_hat)
    y_np, _ = batchnorm.forward(x.numpy())
    assert isinstance(y_np, np.ndarray)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: batchnorm.forward(np.ones(4)), r"shape \(N, C\) or \(N, C, H, W\)"),
        (lambda: batchnorm.forward(np.ones((4, 3)), np.ones(2)), r"gamma must have shape \(3,\)"),
        (lambda: batchnorm.forward(np.ones((4, 3)), None, np.ones(4)), r"beta must have shape"),
        (lambda: batchnorm.forward(np.ones((4, 3)), eps=-1.0), "eps must be a non-negative"),
        (lambda: batchnorm.backward(np.ones((4, 2)), np.ones((4, 3))), "dy must have the shape"),
        (lambda: batchnorm.forward(np.ones((0, 3))), "empty"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ConfigError, match=message):
        call()
