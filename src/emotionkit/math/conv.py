"""Convolution and pooling arithmetic: output sizes, parameters, multiplications and additions.

The formulas, for one spatial dimension of size ``n``, kernel ``k``, padding ``p`` on each side,
stride ``s`` and dilation ``d`` (effective kernel ``d*(k-1)+1``)::

    output_size = floor((n + 2p - d*(k-1) - 1) / s) + 1   # floor((n + 2p - k) / s) + 1 for d = 1

A convolution with ``c_in`` input and ``c_out`` output channels, a ``k_h x k_w`` kernel and
``groups`` groups has ``c_out * (c_in/groups) * k_h * k_w`` weights (+ ``c_out`` biases). Each
output value is a dot product of ``K = k_h * k_w * c_in/groups`` terms, so it costs

* ``K`` multiplications and ``K - 1`` additions without bias,
* ``K`` multiplications and ``K`` additions with bias (one more addition for the bias).

A multiply-accumulate (MAC) is one multiplication plus the addition that accumulates it; MACs equal
the multiplications, and "FLOPs" as :mod:`torch.utils.flop_counter` reports them are ``2 * MACs``.
Products with zero padding are counted like any other (they are computed by dense kernels).

Every function takes an ``int`` for a square size or a tuple with one value per spatial dimension
(``(h, w)``); a tuple in gives a tuple out. Whole-model tables are in
:func:`emotionkit.math.model_cost.analyze` (also reachable as ``conv.analyze``).
"""

from __future__ import annotations

import math as _m
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

Size = int | tuple[int, ...]
PaddingSpec = int | str | tuple[int, ...]

__all__ = [
    "ConvCost",
    "output_size",
    "same_padding",
    "pool_output_size",
    "conv_params",
    "conv_macs",
    "conv_ops",
]


# ----------------------------------------------------------------------------- validation
def _check_int(value: Any, name: str, minimum: int) -> int:
    """Return ``value`` as an ``int`` after checking its type and lower bound."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < minimum:
        what = "positive" if minimum == 1 else f">= {minimum}"
        raise ConfigError(f"{name} must be {what}, got {value}")
    return value


def _spread(values: dict[str, Any], minimums: dict[str, int]) -> tuple[list[dict[str, int]], bool]:
    """Split int-or-tuple arguments into one dict of ints per spatial dimension.

    Returns:
        The per-dimension argument dicts and whether any argument was a tuple (tuple output).
    """
    dims = None
    for name, v in values.items():
        if isinstance(v, (list, tuple)):
            if len(v) == 0:
                raise ConfigError(f"{name} must not be empty")
            if dims is not None and len(v) != dims:
                raise ConfigError(
                    f"tuple arguments disagree on the number of dimensions: {name}={tuple(v)!r} "
                    f"has {len(v)}, another has {dims}"
                )
            dims = len(v)
    ndim = dims or 1
    out: list[dict[str, int]] = [{} for _ in range(ndim)]
    for name, v in values.items():
        items = list(v) if isinstance(v, (list, tuple)) else [v] * ndim
        for i, item in enumerate(items):
            label = f"{name}[{i}]" if isinstance(v, (list, tuple)) else name
            out[i][name] = _check_int(item, label, minimums[name])
    return out, dims is not None


def _pack(values: list[int], as_tuple: bool) -> Size:
    return tuple(values) if as_tuple else values[0]


def _effective(k: int, d: int) -> int:
    return d * (k - 1) + 1


# ----------------------------------------------------------------------------- output sizes
def same_padding(k: Size, *, s: Size = 1, d: Size = 1, n: Size | None = None) -> tuple:
    """Padding that makes a convolution 'same' (output size ``ceil(n / s)``).

    Only the kernel size is positional: the siblings take the input size first
    (``output_size(n, k, ...)``), so a positional ``same_padding(48, 4)`` would silently read 48
    as the kernel; it raises a ``TypeError`` instead.

    The total padding is ``d*(k-1)`` for stride 1 (TensorFlow/Keras and PyTorch agree), or
    ``max((ceil(n/s) - 1)*s + d*(k-1) + 1 - n, 0)`` for stride ``s > 1`` (TensorFlow; PyTorch
    refuses ``padding='same'`` with a stride). When the total is odd, the extra row/column goes
    after (bottom/right), as both frameworks do; a 4x4 kernel gets ``(1, 2)``.

    Args:
        k: Kernel size (int, or one per dimension).
        d: Dilation.
        n: Input size; only needed when ``s > 1``.
        s: Stride.

    Returns:
        ``(before, after)`` for an int kernel; a tuple of such pairs, one per dimension, for a
        tuple kernel.

    Raises:
        ConfigError: A size is not a positive integer, or ``s > 1`` without ``n``.
    """
    args: dict[str, Any] = {"k": k, "d": d, "s": s}
    mins = {"k": 1, "d": 1, "s": 1}
    if n is not None:
        args["n"] = n
        mins["n"] = 1
    per_dim, as_tuple = _spread(args, mins)
    pairs = []
    for a in per_dim:
        if a["s"] == 1:
            total = a["d"] * (a["k"] - 1)
        else:
            if "n" not in a:
                raise ConfigError("same_padding with stride > 1 needs the input size n")
            out = -(-a["n"] // a["s"])
            total = max((out - 1) * a["s"] + _effective(a["k"], a["d"]) - a["n"], 0)
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs) if as_tuple else pairs[0]


def _resolve_padding(p: PaddingSpec) -> tuple[str, Any]:
    """Classify a padding argument as ('same', None), or ('explicit', int-or-tuple)."""
    if isinstance(p, str):
        word = p.strip().lower()
        if word == "valid":
            return "explicit", 0
        if word == "same":
            return "same", None
        try:
            return "explicit", int(word)
        except ValueError:
            raise ConfigError(
                f"padding must be an integer, 'same' or 'valid'; got {p!r}"
            ) from None
    return "explicit", p


def _same_size(n: Size, k: Size, s: Size, d: Size) -> Size:
    """'same' output size ``ceil(n / s)`` (kernel and dilation only validated)."""
    per_dim, as_tuple = _spread({"n": n, "k": k, "s": s, "d": d}, {"n": 1, "k": 1, "s": 1, "d": 1})
    return _pack([-(-a["n"] // a["s"]) for a in per_dim], as_tuple)


def output_size(n: Size, k: Size, p: PaddingSpec = 0, s: Size = 1, d: Size = 1) -> Size:
    """Output size of a convolution: ``floor((n + 2p - d*(k-1) - 1) / s) + 1``.

    Args:
        n: Input size (height = width for an int; ``(h, w)`` otherwise).
        k: Kernel size.
        p: Padding on each side: an int (or one per dimension), ``"valid"`` (0), or ``"same"``
            (output ``ceil(n / s)``, TensorFlow/Keras semantics; equal to ``n`` for stride 1 as
            PyTorch's ``padding='same'``; asymmetric padding as in :func:`same_padding`).
        s: Stride.
        d: Dilation.

    Returns:
        The output size, an int or a tuple like ``n``/``k``.

    Raises:
        ConfigError: A size is negative, zero (except padding) or not an integer, the padding word
            is unknown, or the (dilated) kernel is larger than the padded input.

    Example:
        >>> output_size(48, 3, p=1)
        48
        >>> output_size(48, 5, s=2)
        22
    """
    mode, pad = _resolve_padding(p)
    if mode == "same":
        return _same_size(n, k, s, d)
    per_dim, as_tuple = _spread(
        {"n": n, "k": k, "p": pad, "s": s, "d": d}, {"n": 1, "k": 1, "p": 0, "s": 1, "d": 1}
    )
    sizes = []
    for a in per_dim:
        eff = _effective(a["k"], a["d"])
        padded = a["n"] + 2 * a["p"]
        if eff > padded:
            raise ConfigError(
                f"kernel larger than the padded input: effective kernel d*(k-1)+1 = {eff} "
                f"(k={a['k']}, d={a['d']}) > n + 2p = {padded} (n={a['n']}, p={a['p']})"
            )
        sizes.append((padded - eff) // a["s"] + 1)
    return _pack(sizes, as_tuple)


def pool_output_size(
    n: Size,
    k: Size,
    s: Size | None = None,
    p: Size = 0,
    ceil_mode: bool = False,
    padding: str = "valid",
    d: Size = 1,
) -> Size:
    """Output size of a max/average pooling layer.

    ``padding="valid"`` follows PyTorch's ``MaxPool2d``/``AvgPool2d``: the convolution formula with
    floor, or with ceil when ``ceil_mode`` (dropping a last window that would start inside the
    right padding). ``padding="same"`` follows Keras: ``ceil(n / s)``, whatever the kernel (48 -> 12
    -> 3 -> 1 for ``MaxPooling2D(4, padding='same')`` three times).

    Args:
        n: Input size.
        k: Pooling window.
        s: Stride; defaults to ``k`` as in both frameworks.
        p: Implicit padding on each side (``padding="valid"`` only); PyTorch requires
            ``p <= k // 2``.
        ceil_mode: Use ceil instead of floor (PyTorch's ``ceil_mode``).
        padding: ``"valid"`` or ``"same"``.
        d: Dilation (PyTorch ``MaxPool2d`` only).

    Returns:
        The output size (int, or tuple like ``n``/``k``).

    Raises:
        ConfigError: Invalid sizes, padding larger than half the window, or a window larger
            than the padded input.
    """
    if s is None:
        s = k
    word = str(padding).strip().lower()
    if word not in ("valid", "same"):
        raise ConfigError(f"padding must be 'valid' or 'same', got {padding!r}")
    if word == "same":
        if any(v != 0 for v in (p if isinstance(p, (list, tuple)) else [p])):
            raise ConfigError("give either padding='same' or an explicit p, not both")
        return _same_size(n, k, s, d)
    per_dim, as_tuple = _spread(
        {"n": n, "k": k, "p": p, "s": s, "d": d}, {"n": 1, "k": 1, "p": 0, "s": 1, "d": 1}
    )
    sizes = []
    for a in per_dim:
        eff = _effective(a["k"], a["d"])
        if a["p"] > a["k"] // 2:
            raise ConfigError(
                f"pooling padding p={a['p']} must be at most half the window k={a['k']} "
                f"(p <= {a['k'] // 2})"
            )
        span = a["n"] + 2 * a["p"] - eff
        if span < 0:
            raise ConfigError(
                f"pooling window larger than the padded input: d*(k-1)+1 = {eff} > "
                f"n + 2p = {a['n'] + 2 * a['p']}"
            )
        if ceil_mode:
            out = -(-span // a["s"]) + 1
            if (out - 1) * a["s"] >= a["n"] + a["p"]:
                out -= 1
        else:
            out = span // a["s"] + 1
        sizes.append(out)
    return _pack(sizes, as_tuple)


# ----------------------------------------------------------------------------- params and ops
def _check_groups(c_in: int, c_out: int, groups: Any) -> int:
    groups = _check_int(groups, "groups", 1)
    if c_in % groups or c_out % groups:
        raise ConfigError(
            f"groups={groups} must divide both c_in={c_in} and c_out={c_out}"
        )
    return groups


def _kernel_volume(k: Size) -> int:
    """Number of taps of a kernel: ``k*k`` for an int (2-D, square), the product for a tuple."""
    per_dim, as_tuple = _spread({"k": k}, {"k": 1})
    return _m.prod(a["k"] for a in per_dim) if as_tuple else per_dim[0]["k"] ** 2


def conv_params(c_in: int, c_out: int, k: Size, bias: bool = True, groups: int = 1) -> int:
    """Number of learnable parameters of a convolution layer.

    ``c_out * (c_in / groups) * k_h * k_w`` weights, plus ``c_out`` biases when ``bias``.

    Args:
        c_in: Input channels.
        c_out: Output channels (filters).
        k: Kernel size (int for square, or one per dimension).
        bias: Whether the layer has a bias per output channel.
        groups: Channel groups (``c_in`` for a depthwise convolution).

    Returns:
        The parameter count.

    Raises:
        ConfigError: A size is not a positive integer, or ``groups`` does not divide the channels.
    """
    c_in = _check_int(c_in, "c_in", 1)
    c_out = _check_int(c_out, "c_out", 1)
    groups = _check_groups(c_in, c_out, groups)
    return c_out * (c_in // groups) * _kernel_volume(k) + (c_out if bias else 0)


@dataclass(frozen=True)
class ConvCost:
    """Size and cost of one convolution layer on one input image.

    Attributes:
        output_size: Spatial output size (int, or tuple per dimension).
        output_shape: ``(c_out, h_out, w_out)`` (one spatial entry per dimension).
        params: Learnable parameters.
        multiplications: Multiplications (= MACs).
        additions: Additions (``K - 1`` per output value, plus one with bias).
        per_output_multiplications: ``K = k_h * k_w * c_in / groups``.
        per_output_additions: ``K - 1``, or ``K`` with bias.
        bias: Whether the counts include the bias.
    """

    output_size: Size
    output_shape: tuple[int, ...]
    params: int
    multiplications: int
    additions: int
    per_output_multiplications: int
    per_output_additions: int
    bias: bool

    @property
    def macs(self) -> int:
        """Multiply-accumulates (one per multiplication)."""
        return self.multiplications

    @property
    def flops(self) -> int:
        """Multiplications plus additions (the bias addition included when ``bias``)."""
        return self.multiplications + self.additions

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field plus ``macs`` and ``flops``."""
        d = asdict(self)
        size = self.output_size
        d["output_size"] = list(size) if isinstance(size, tuple) else size
        d["output_shape"] = list(self.output_shape)
        d["macs"] = self.macs
        d["flops"] = self.flops
        return d


def conv_ops(
    n: Size,
    c_in: int,
    c_out: int,
    k: Size,
    p: PaddingSpec = 0,
    s: Size = 1,
    d: Size = 1,
    groups: int = 1,
    bias: bool = True,
) -> ConvCost:
    """Output size, parameters, multiplications and additions of one convolution on one image.

    Every output value ``y = b + sum_{i<K} w_i x_i`` with ``K = k_h * k_w * c_in / groups`` costs
    ``K`` multiplications and ``K - 1`` additions (``K`` with the bias). There are
    ``c_out * h_out * w_out`` output values.

    Args:
        n: Input spatial size (int for square, or ``(h, w)``).
        c_in: Input channels.
        c_out: Output channels.
        k: Kernel size.
        p: Padding (int, ``"same"`` or ``"valid"``), as in :func:`output_size`.
        s: Stride.
        d: Dilation.
        groups: Channel groups.
        bias: Count the bias parameters and the bias additions.

    Returns:
        A :class:`ConvCost`.

    Raises:
        ConfigError: Any invalid size (see :func:`output_size` and :func:`conv_params`).

    Example:
        >>> c = conv_ops(48, 1, 32, 3, p="same")
        >>> c.output_size, c.params, c.multiplications, c.additions
        (48, 320, 663552, 663552)
    """
    params = conv_params(c_in, c_out, k, bias=bias, groups=groups)
    out = output_size(n, k, p=p, s=s, d=d)
    spatial = list(out) if isinstance(out, tuple) else [out, out]  # an int size means square 2-D
    per_mult = _kernel_volume(k) * (c_in // groups)
    per_add = per_mult - 1 + (1 if bias else 0)
    outputs = c_out * _m.prod(spatial)
    return ConvCost(
        output_size=out,
        output_shape=(c_out, *spatial),
        params=params,
        multiplications=outputs * per_mult,
        additions=outputs * per_add,
        per_output_multiplications=per_mult,
        per_output_additions=per_add,
        bias=bool(bias),
    )


def conv_macs(
    n: Size,
    c_in: int,
    c_out: int,
    k: Size,
    p: PaddingSpec = 0,
    s: Size = 1,
    d: Size = 1,
    groups: int = 1,
) -> int:
    """Multiply-accumulates of one convolution on one image.

    ``h_out * w_out * c_out * k_h * k_w * c_in / groups``, the same as the multiplications.

    Args:
        n: Input spatial size.
        c_in: Input channels.
        c_out: Output channels.
        k: Kernel size.
        p: Padding (int, ``"same"`` or ``"valid"``).
        s: Stride.
        d: Dilation.
        groups: Channel groups.

    Returns:
        The MAC count (``torch.utils.flop_counter`` reports twice this as FLOPs).
    """
    return conv_ops(n, c_in, c_out, k, p=p, s=s, d=d, groups=groups, bias=False).multiplications


def __getattr__(name: str) -> Any:
    # analyze()/complexity() live in model_cost.py (they need torch.nn); reachable from here too.
    if name in ("analyze", "complexity", "LayerCost", "CostTable", "Complexity"):
        from . import model_cost

        return getattr(model_cost, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
