"""Softmax, cross-entropy and their gradients, computed without overflow.

For logits ``z`` (one row per sample, classes on the last axis) and a target distribution ``y``::

    softmax(z)_c     = exp(z_c - max z) / sum_j exp(z_j - max z)   # no overflow
    log_softmax(z)_c = z_c - max z - log sum_j exp(z_j - max z)
    L(z, y)          = -sum_c y_c log_softmax(z)_c      # cross-entropy of one sample
    dL/dz            = softmax(z) * sum_c y_c - y  =  y_hat - y   # when y sums to 1

With label smoothing ``eps`` the target becomes ``(1 - eps) y + eps / C`` (as in
:func:`torch.nn.functional.cross_entropy`), and the gradient is ``y_hat`` minus that target.

Binary case, one logit ``z`` per output and ``y`` in [0, 1]::

    sigmoid(z) = 1 / (1 + exp(-z))          (computed from exp(-|z|), never overflows)
    L(z, y)    = max(z, 0) - z y + log(1 + exp(-|z|))
    dL/dz      = sigmoid(z) - y

Losses default to ``reduction="sum"``, the loss whose gradient is exactly ``y_hat - y``;
``"mean"`` divides loss and gradient by the number of samples (PyTorch's default) and ``"none"``
returns one loss per sample.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from ..errors import ConfigError
from ._array import ArrayLike, as_tensor, is_torch, like, shape_str

__all__ = [
    "softmax",
    "log_softmax",
    "cross_entropy",
    "cross_entropy_grad",
    "sigmoid",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_grad",
]

_REDUCTIONS = ("sum", "mean", "none")


def _softmax_t(z: torch.Tensor, dim: int) -> torch.Tensor:
    shifted = z - z.amax(dim=dim, keepdim=True)
    e = torch.exp(shifted)
    return e / e.sum(dim=dim, keepdim=True)


def _log_softmax_t(z: torch.Tensor, dim: int) -> torch.Tensor:
    shifted = z - z.amax(dim=dim, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def _sigmoid_t(z: torch.Tensor) -> torch.Tensor:
    e = torch.exp(-z.abs())  # in (0, 1]: no overflow for any finite z
    return torch.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _logits(z: Any, name: str = "logits") -> torch.Tensor:
    t = as_tensor(z, name)
    if t.ndim == 0:
        raise ConfigError(f"{name} must have at least one axis (classes), got a scalar")
    if t.shape[-1] == 0:
        raise ConfigError(f"{name} has no classes: shape {shape_str(t)}")
    return t


def _check_dim(t: torch.Tensor, dim: Any) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or not -t.ndim <= dim < t.ndim:
        raise ConfigError(f"dim must be an integer in [{-t.ndim}, {t.ndim - 1}], got {dim!r}")
    return dim


def softmax(z: ArrayLike, dim: int = -1) -> ArrayLike:
    """Numerically stable softmax along ``dim``.

    Args:
        z: Logits (any shape, at least 1-D).
        dim: The class axis.

    Returns:
        Probabilities of the shape of ``z``, numpy or torch like ``z``.
    """
    t = _logits(z)
    return like(_softmax_t(t, _check_dim(t, dim)), is_torch(z))


def log_softmax(z: ArrayLike, dim: int = -1) -> ArrayLike:
    """Numerically stable log-softmax ``z - max z - log sum exp(z - max z)`` along ``dim``.

    Args:
        z: Logits (any shape, at least 1-D).
        dim: The class axis.

    Returns:
        Log-probabilities of the shape of ``z``, numpy or torch like ``z``.
    """
    t = _logits(z)
    return like(_log_softmax_t(t, _check_dim(t, dim)), is_torch(z))


def _check_reduction(reduction: Any) -> str:
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"reduction must be one of {', '.join(_REDUCTIONS)}; got {reduction!r}")
    return reduction


def _check_smoothing(label_smoothing: Any) -> float:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) or not (
        0.0 <= label_smoothing <= 1.0
    ):
        raise ConfigError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return float(label_smoothing)


def _target_dist(z: torch.Tensor, targets: Any, label_smoothing: float) -> torch.Tensor:
    """The (smoothed) target distribution, shape of ``z``, from indices or probabilities."""
    if z.ndim > 2:
        raise ConfigError(f"logits must have shape (N, C) or (C,), got {shape_str(z)}")
    t = as_tensor(targets, "targets", floating=False, device=z.device)
    c = int(z.shape[-1])
    if t.shape == z.shape:  # one-hot or probabilities
        y = t.to(z.dtype)
        if not bool(torch.isfinite(y).all()) or bool((y < 0).any()):
            raise ConfigError("probability targets must be finite and non-negative")
    elif t.shape == z.shape[:-1]:  # class indices
        if t.is_floating_point():
            raise ConfigError(
                f"targets of shape {shape_str(t)} are read as class indices and must be "
                f"integers; got dtype {t.dtype} (give one-hot/probabilities of shape "
                f"{shape_str(z)} instead)"
            )
        bad = (t < 0) | (t >= c)
        if bool(bad.any()):
            value = int(t[bad].flatten()[0])
            raise ConfigError(f"target class {value} is out of range for {c} classes (0..{c - 1})")
        y = torch.nn.functional.one_hot(t.long(), c).to(z.dtype)
    else:
        index_shape = tuple(int(s) for s in z.shape[:-1])
        raise ConfigError(
            f"targets must be class indices of shape {index_shape} or probabilities of shape "
            f"{tuple(int(s) for s in z.shape)}; got {shape_str(t)}"
        )
    if label_smoothing:
        y = (1.0 - label_smoothing) * y + label_smoothing / c
    return y


def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "mean":
        return per_sample.mean() if per_sample.numel() else per_sample.sum()
    return per_sample


def cross_entropy(
    logits: ArrayLike,
    targets: ArrayLike,
    label_smoothing: float = 0.0,
    reduction: str = "sum",
) -> ArrayLike:
    """Softmax cross-entropy ``-sum_c y_c log softmax(z)_c``, per sample then reduced.

    Args:
        logits: Shape ``(N, C)`` or ``(C,)``.
        targets: Class indices (shape ``(N,)`` or scalar, integers) or one-hot/probability
            targets of the shape of ``logits``; moved to the logits' device.
        label_smoothing: ``eps`` in [0, 1]: the target becomes ``(1 - eps) y + eps / C``.
        reduction: ``"sum"`` (default, the loss whose gradient is ``y_hat - y``), ``"mean"``
            (over samples, PyTorch's default) or ``"none"``.

    Returns:
        The loss (a numpy scalar or 0-d tensor) or, for ``"none"``, one loss per sample;
        numpy or torch like ``logits``.

    Raises:
        ConfigError: Mismatched shapes, non-integer or out-of-range indices, negative
            probabilities, or an invalid option.
    """
    reduction = _check_reduction(reduction)
    z = _logits(logits)
    y = _target_dist(z, targets, _check_smoothing(label_smoothing))
    per_sample = -(y * _log_softmax_t(z, -1)).sum(dim=-1)
    return like(_reduce(per_sample, reduction), is_torch(logits))


def cross_entropy_grad(
    logits: ArrayLike,
    targets: ArrayLike,
    label_smoothing: float = 0.0,
    reduction: str = "sum",
) -> ArrayLike:
    """Gradient of :func:`cross_entropy` with respect to the logits: ``y_hat - y``.

    Exactly ``softmax(z) * sum_c y_c - y`` (the ``sum_c y_c`` factor is 1 for one-hot, index and
    probability targets, smoothed or not).

    Args:
        logits: Shape ``(N, C)`` or ``(C,)``.
        targets: As in :func:`cross_entropy`.
        label_smoothing: As in :func:`cross_entropy`.
        reduction: ``"sum"`` (default) or ``"mean"`` (the gradient divided by ``N``).

    Returns:
        dL/dlogits, shape of ``logits``, numpy or torch like ``logits``.
    """
    reduction = _check_reduction(reduction)
    if reduction == "none":
        raise ConfigError("the gradient needs a scalar loss: use reduction 'sum' or 'mean'")
    z = _logits(logits)
    y = _target_dist(z, targets, _check_smoothing(label_smoothing))
    grad = _softmax_t(z, -1) * y.sum(dim=-1, keepdim=True) - y
    if reduction == "mean" and z.ndim == 2 and z.shape[0]:
        grad = grad / z.shape[0]
    return like(grad, is_torch(logits))


def sigmoid(z: ArrayLike) -> ArrayLike:
    """Numerically stable logistic function ``1 / (1 + exp(-z))``.

    Args:
        z: Any shape.

    Returns:
        Values in [0, 1], shape of ``z``, numpy or torch like ``z``.
    """
    return like(_sigmoid_t(as_tensor(z, "z")), is_torch(z))


def _binary_targets(z: torch.Tensor, targets: Any) -> torch.Tensor:
    y = as_tensor(targets, "targets", device=z.device, dtype=z.dtype)
    if y.shape != z.shape:
        raise ConfigError(
            f"binary targets must have the shape of the logits {shape_str(z)}, got {shape_str(y)}"
        )
    return y


def binary_cross_entropy_with_logits(
    logits: ArrayLike, targets: ArrayLike, reduction: str = "sum"
) -> ArrayLike:
    """Binary cross-entropy of ``sigmoid(logits)`` against ``targets`` in [0, 1].

    Computed as ``max(z, 0) - z y + log1p(exp(-|z|))``, which never overflows.

    Args:
        logits: Any shape.
        targets: Same shape, values in [0, 1].
        reduction: ``"sum"`` (default), ``"mean"`` (over all elements, as PyTorch) or ``"none"``.

    Returns:
        The loss, numpy or torch like ``logits``.
    """
    reduction = _check_reduction(reduction)
    z = as_tensor(logits, "logits")
    y = _binary_targets(z, targets)
    per = z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))
    return like(_reduce(per, reduction), is_torch(logits))


def binary_cross_entropy_grad(
    logits: ArrayLike, targets: ArrayLike, reduction: str = "sum"
) -> ArrayLike:
    """Gradient of :func:`binary_cross_entropy_with_logits`: ``sigmoid(z) - y``.

    Args:
        logits: Any shape.
        targets: Same shape, values in [0, 1].
        reduction: ``"sum"`` (default) or ``"mean"`` (divided by the number of elements).

    Returns:
        dL/dlogits, shape of ``logits``, numpy or torch like ``logits``.
    """
    reduction = _check_reduction(reduction)
    if reduction == "none":
        raise ConfigError("the gradient needs a scalar loss: use reduction 'sum' or 'mean'")
    z = as_tensor(logits, "logits")
    grad = _sigmoid_t(z) - _binary_targets(z, targets)
    if reduction == "mean" and z.numel():
        grad = grad / z.numel()
    return like(grad, is_torch(logits))
