"""Batch normalization in training mode: the forward pass and its analytic backward pass.

For each channel ``c`` the statistics run over every axis but the channel axis 1 (``N`` for
``(N, C)``, ``N, H, W`` for ``(N, C, H, W)``), ``m`` values in all::

    mean = sum(x) / m
    var  = sum((x - mean)^2) / m          # biased, as PyTorch normalizes in training mode
    x_hat = (x - mean) / sqrt(var + eps)
    y = gamma * x_hat + beta

:func:`backward` walks the same graph backwards for an upstream gradient ``dy = dL/dy``::

    dx_hat = dy * gamma
    dvar   = sum(dx_hat * (x - mean)) * (-1/2) * (var + eps)^(-3/2)
    dmean  = -sum(dx_hat) / sqrt(var + eps) + dvar * sum(-2 (x - mean)) / m
    dx     = dx_hat / sqrt(var + eps) + dvar * 2 (x - mean) / m + dmean / m
    dgamma = sum(dy * x_hat),   dbeta = sum(dy)

(the second term of ``dmean`` is zero in exact arithmetic because ``sum(x - mean) = 0``; it is
kept so each line is the textbook chain-rule step). PyTorch's *running* statistics use the
unbiased variance; they do not enter the training-mode output or its gradient.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import torch

from ..errors import ConfigError
from ._array import ArrayLike, as_tensor, is_torch, like, shape_str

__all__ = ["BatchNormCache", "BatchNormGrads", "forward", "backward"]


@dataclass(frozen=True)
class BatchNormCache:
    """Intermediate values of :func:`forward` (numpy or torch like ``x``).

    Attributes:
        x_hat: Normalized input, shape of ``x``.
        mean: Per-channel batch mean, shape ``(C,)``.
        var: Per-channel biased batch variance, shape ``(C,)``.
        inv_std: ``1 / sqrt(var + eps)``, shape ``(C,)``.
        eps: The epsilon used.
    """

    x_hat: ArrayLike
    mean: ArrayLike
    var: ArrayLike
    inv_std: ArrayLike
    eps: float


@dataclass(frozen=True, eq=False)
class BatchNormGrads:
    """Gradients of the loss through a training-mode batch norm; also readable like a dict.

    ``grads.dx`` and ``grads["dx"]`` are the same; ``dict(grads)`` gives all six.

    Attributes:
        dx_hat: dL/dx_hat, shape of ``x``.
        dvar: dL/dvar, shape ``(C,)``.
        dmean: dL/dmean, shape ``(C,)``.
        dx: dL/dx, shape of ``x``.
        dgamma: dL/dgamma, shape ``(C,)``.
        dbeta: dL/dbeta, shape ``(C,)``.
    """

    dx_hat: ArrayLike
    dvar: ArrayLike
    dmean: ArrayLike
    dx: ArrayLike
    dgamma: ArrayLike
    dbeta: ArrayLike

    def keys(self) -> list[str]:
        """The gradient names, in derivation order."""
        return [f.name for f in fields(self)]

    def values(self) -> list[ArrayLike]:
        """The gradients, in :meth:`keys` order."""
        return [getattr(self, k) for k in self.keys()]

    def items(self) -> list[tuple[str, ArrayLike]]:
        """``(name, gradient)`` pairs."""
        return list(zip(self.keys(), self.values(), strict=True))

    def __getitem__(self, name: str) -> ArrayLike:
        if name not in self.keys():
            raise KeyError(f"no gradient {name!r}; names: {', '.join(self.keys())}")
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def as_dict(self) -> dict[str, ArrayLike]:
        """A plain dict of the six gradients."""
        return dict(self.items())


def _prepare(x: Any, gamma: Any, eps: Any, name_x: str = "x") -> tuple:
    """Validate and convert ``x``/``gamma``; return tensors, reduce dims and broadcast shape."""
    t = as_tensor(x, name_x)
    if t.ndim < 2:
        raise ConfigError(
            f"{name_x} must have shape (N, C) or (N, C, H, W) (channels on axis 1), "
            f"got {shape_str(t)}"
        )
    c = int(t.shape[1])
    if t.numel() == 0:
        raise ConfigError(f"{name_x} is empty: shape {shape_str(t)}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ConfigError(f"eps must be a non-negative number, got {eps!r}")
    if gamma is None:
        g = torch.ones(c, dtype=t.dtype, device=t.device)
    else:
        g = as_tensor(gamma, "gamma", device=t.device, dtype=t.dtype)
        if g.shape != (c,):
            raise ConfigError(f"gamma must have shape ({c},) for {c} channels, got {shape_str(g)}")
    dims = (0, *range(2, t.ndim))
    bshape = (1, c) + (1,) * (t.ndim - 2)
    return t, g, dims, bshape


def _stats(t: torch.Tensor, dims: tuple, eps: float) -> tuple[torch.Tensor, ...]:
    mean = t.mean(dim=dims)
    var = t.var(dim=dims, correction=0)
    inv_std = torch.rsqrt(var + eps)
    return mean, var, inv_std


def forward(
    x: ArrayLike, gamma: ArrayLike | None = None, beta: ArrayLike | None = None, eps: float = 1e-5
) -> tuple[ArrayLike, BatchNormCache]:
    """Training-mode batch normalization ``y = gamma * (x - mean) / sqrt(var + eps) + beta``.

    Args:
        x: Input of shape ``(N, C)`` or ``(N, C, H, W)`` (any rank >= 2; channels on axis 1).
        gamma: Per-channel scale, shape ``(C,)`` (default ones).
        beta: Per-channel shift, shape ``(C,)`` (default zeros).
        eps: Added to the variance.

    Returns:
        ``(y, cache)``: the output (shape of ``x``) and a :class:`BatchNormCache`, numpy or torch
        like ``x``.

    Raises:
        ConfigError: Wrong shapes, or a negative ``eps``.
    """
    t, g, dims, bshape = _prepare(x, gamma, eps)
    c = t.shape[1]
    if beta is None:
        b = torch.zeros(c, dtype=t.dtype, device=t.device)
    else:
        b = as_tensor(beta, "beta", device=t.device, dtype=t.dtype)
        if b.shape != (c,):
            raise ConfigError(f"beta must have shape ({c},) for {c} channels, got {shape_str(b)}")
    mean, var, inv_std = _stats(t, dims, float(eps))
    x_hat = (t - mean.reshape(bshape)) * inv_std.reshape(bshape)
    y = g.reshape(bshape) * x_hat + b.reshape(bshape)
    out = is_torch(x)
    cache = BatchNormCache(
        x_hat=like(x_hat, out), mean=like(mean, out), var=like(var, out),
        inv_std=like(inv_std, out), eps=float(eps),
    )
    return like(y, out), cache


def backward(
    dy: ArrayLike, x: ArrayLike, gamma: ArrayLike | None = None, eps: float = 1e-5
) -> BatchNormGrads:
    """Analytic gradients of a training-mode batch norm (see the module docstring).

    Args:
        dy: Upstream gradient dL/dy, shape of ``x``.
        x: The forward input, ``(N, C)`` or ``(N, C, H, W)``.
        gamma: Per-channel scale used in the forward pass (default ones).
        eps: The forward pass's epsilon.

    Returns:
        :class:`BatchNormGrads` with ``dx_hat, dvar, dmean, dx, dgamma, dbeta`` (numpy or torch
        like ``x``). ``beta`` does not enter any gradient.

    Raises:
        ConfigError: Wrong shapes, or a negative ``eps``.
    """
    t, g, dims, bshape = _prepare(x, gamma, eps)
    d = as_tensor(dy, "dy", device=t.device, dtype=t.dtype)
    if d.shape != t.shape:
        raise ConfigError(f"dy must have the shape of x {shape_str(t)}, got {shape_str(d)}")
    m = t.numel() // t.shape[1]
    mean, var, inv_std = _stats(t, dims, float(eps))
    xmu = t - mean.reshape(bshape)
    inv_b = inv_std.reshape(bshape)
    x_hat = xmu * inv_b

    dx_hat = d * g.reshape(bshape)
    dvar = (dx_hat * xmu).sum(dim=dims) * -0.5 * inv_std**3
    dmean = (-dx_hat * inv_b).sum(dim=dims) + dvar * (-2.0 * xmu).sum(dim=dims) / m
    dx = dx_hat * inv_b + dvar.reshape(bshape) * 2.0 * xmu / m + dmean.reshape(bshape) / m
    dgamma = (d * x_hat).sum(dim=dims)
    dbeta = d.sum(dim=dims)
    out = is_torch(x)
    return BatchNormGrads(
        dx_hat=like(dx_hat, out), dvar=like(dvar, out), dmean=like(dmean, out),
        dx=like(dx, out), dgamma=like(dgamma, out), dbeta=like(dbeta, out),
    )
