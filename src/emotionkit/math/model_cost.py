"""Per-layer output shapes, parameters, multiplications and additions of any ``nn.Module``.

:func:`analyze` runs one forward pass on a zero input (in eval mode, without gradients) with a
forward hook on every leaf module, and applies the counting rules below to what each layer
actually received and produced. The model's train/eval flags are restored and every hook is
removed afterwards, even when the forward pass fails.

Counting rules (per forward pass of the whole given input, batch included; ``n`` is the number of
output elements; a division counts as a multiplication; exp/log/tanh/erf/sqrt count as
*transcendentals*; a max/min/sign test counts as a *comparison*):

=====================================  ==========================================================
Layer                                  Cost
=====================================  ==========================================================
Conv1d/2d/3d                           ``K = k_h*k_w*c_in/groups`` per output value: ``K`` mults,
                                       ``K-1`` adds, +1 add with bias; MACs = mults
Linear                                 ``K = in_features``: same rule as a convolution
BatchNorm (eval)                       per element ``(x - mean) * inv_std * gamma + beta``: 2 mults
                                       and 2 adds (1 and 1 without affine); per-channel constants
                                       such as ``1/sqrt(var + eps)`` are taken as precomputed
Normalize (emotionkit input layer)     ``(x - mean) / std``: 1 add, 1 mult per element
MaxPool (window ``w``)                 ``w - 1`` comparisons per output (nominal window, padding
                                       included); adaptive pools use their exact windows
AvgPool (window ``w``)                 ``w - 1`` adds and 1 mult (the division) per output
ReLU / ReLU6, Hardtanh                 1 / 2 comparisons per element
LeakyReLU, PReLU                       1 comparison and 1 mult per element
ELU / SELU                             1 comparison, 1 exp, 1 add, 1 / 2 mults per element
Sigmoid / Tanh / SiLU / GELU           exp + add + division / 1 tanh / sigmoid + mult / erf + 1
                                       add + 3 mults, per element
Softmax, LogSoftmax (size ``m``)       per row: ``m-1`` comparisons (max), ``m`` subtractions,
                                       ``m`` exps, ``m-1`` adds, then ``m`` divisions (Softmax) or
                                       1 log and ``m`` subtractions (LogSoftmax)
Dropout (eval), Identity, Flatten      nothing
anything else                          parameters only; ``counted=False`` in the row
=====================================  ==========================================================

Operations written as functional calls inside a container's ``forward`` (``x + residual``,
``torch.flatten``, ``F.relu``) are not modules and so are not counted; :func:`analyze` sees only
modules.
"""

from __future__ import annotations

import math as _m
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._modes import eval_mode
from ..errors import ConfigError

__all__ = ["LayerCost", "CostTable", "analyze", "Complexity", "ComplexityTerm", "complexity"]


@dataclass(frozen=True)
class LayerCost:
    """Shape and cost of one call of one layer.

    Attributes:
        name: Qualified module name (``features.0``); ``"name (call 2)"`` for a second call.
        type: The module's class name.
        input_shape: Shape of the first tensor input.
        output_shape: Shape of the (first tensor) output.
        params: Learnable parameters owned directly by the module (0 on repeated calls and for
            parameters already counted in an earlier row, as with shared weights).
        multiplications: Multiplications (divisions included).
        additions: Additions and subtractions.
        comparisons: Comparisons (max pooling, ReLU and the like).
        transcendentals: exp/log/tanh/erf/sqrt evaluations.
        macs: Multiply-accumulates of convolution and linear layers (0 for other layers); this is
            what ``torch.utils.flop_counter`` counts, as ``2 * macs`` FLOPs.
        counted: False when the layer type has no counting rule (its ops are reported as 0).
        details: Layer settings used by :func:`complexity` (kernel, channels, groups).
    """

    name: str
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    multiplications: int = 0
    additions: int = 0
    comparisons: int = 0
    transcendentals: int = 0
    macs: int = 0
    counted: bool = True
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the row."""
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["output_shape"] = list(self.output_shape)
        d["details"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.details.items()}
        return d


class CostTable(list):
    """The rows of :func:`analyze` (a list of :class:`LayerCost`) plus totals and a text table.

    Attributes:
        input_shape: The input shape that was analyzed.
        total_params: ``sum(p.numel() for p in model.parameters())`` (unique learnable
            parameters; :func:`emotionkit.models.summary` adds the BatchNorm running statistics
            as non-trainable parameters, the Keras way).
        trainable_params: The same, over parameters with ``requires_grad``.
        output_shape: Shape of the model's (first tensor) output.
    """

    def __init__(
        self,
        rows: Iterable[LayerCost],
        input_shape: tuple[int, ...],
        total_params: int,
        trainable_params: int,
        output_shape: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__(rows)
        self.input_shape = tuple(input_shape)
        self.total_params = int(total_params)
        self.trainable_params = int(trainable_params)
        self.output_shape = tuple(output_shape) if output_shape is not None else None

    def _sum(self, attr: str) -> int:
        return int(sum(getattr(r, attr) for r in self))

    @property
    def total_multiplications(self) -> int:
        """Sum of the rows' multiplications."""
        return self._sum("multiplications")

    @property
    def total_additions(self) -> int:
        """Sum of the rows' additions."""
        return self._sum("additions")

    @property
    def total_comparisons(self) -> int:
        """Sum of the rows' comparisons."""
        return self._sum("comparisons")

    @property
    def total_transcendentals(self) -> int:
        """Sum of the rows' transcendental evaluations."""
        return self._sum("transcendentals")

    @property
    def total_macs(self) -> int:
        """Multiply-accumulates of all convolution and linear layers."""
        return self._sum("macs")

    @property
    def uncounted(self) -> list[str]:
        """Layer types without a counting rule that appeared in the model (sorted)."""
        return sorted({r.type for r in self if not r.counted})

    def totals(self) -> dict[str, int]:
        """The totals as a dict (params, multiplications, additions, comparisons, ...)."""
        return {
            "params": self.total_params,
            "trainable_params": self.trainable_params,
            "multiplications": self.total_multiplications,
            "additions": self.total_additions,
            "comparisons": self.total_comparisons,
            "transcendentals": self.total_transcendentals,
            "macs": self.total_macs,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: input shape, one dict per layer, totals and uncounted layer types."""
        return {
            "input_shape": list(self.input_shape),
            "layers": [r.to_dict() for r in self],
            "totals": self.totals(),
            "uncounted": self.uncounted,
        }

    def to_text(self) -> str:
        """A fixed-width table: layer, type, output shape, params, mults, adds, comparisons."""
        header = ("layer", "type", "output shape", "params", "mults", "adds", "cmps")
        body = [
            (
                r.name,
                r.type + ("" if r.counted else " *"),
                "x".join(str(s) for s in r.output_shape),
                f"{r.params:,}",
                f"{r.multiplications:,}",
                f"{r.additions:,}",
                f"{r.comparisons:,}",
            )
            for r in self
        ]
        t = self.totals()
        total = (
            "total", "", "",
            f"{t['params']:,}", f"{t['multiplications']:,}", f"{t['additions']:,}",
            f"{t['comparisons']:,}",
        )
        widths = [max(len(row[i]) for row in [header, *body, total]) for i in range(len(header))]

        def fmt(row: Sequence[str]) -> str:
            left = [row[i].ljust(widths[i]) for i in range(3)]
            right = [row[i].rjust(widths[i]) for i in range(3, len(row))]
            return "  ".join(left + right).rstrip()

        rule = "-" * len(fmt(header))
        lines = [f"input {'x'.join(map(str, self.input_shape))}", fmt(header), rule]
        lines += [fmt(row) for row in body]
        lines += [rule, fmt(total), f"MACs (conv + linear): {t['macs']:,}"]
        if self.uncounted:
            lines.append("* no counting rule for: " + ", ".join(self.uncounted))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return (
            f"CostTable({len(self)} layers, params={self.total_params:,}, "
            f"macs={self.total_macs:,})"
        )


# ----------------------------------------------------------------------------- counting rules
_ZERO_COST = (nn.Identity, nn.Flatten, nn.Unflatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d,
              nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def _adaptive_window_total(in_size: int, out_size: int) -> int:
    """Sum of the window lengths of an adaptive pool along one dimension (PyTorch's windows)."""
    return sum(
        -(-((i + 1) * in_size) // out_size) - (i * in_size) // out_size for i in range(out_size)
    )


def _spatial_dims(module: nn.Module) -> int:
    """1, 2 or 3 for the ``...1d/2d/3d`` layer classes (2 when the name does not say)."""
    tail = type(module).__name__[-2:]
    return int(tail[0]) if tail in ("1d", "2d", "3d") else 2


def _ops(module: nn.Module, x: torch.Tensor | None, out: torch.Tensor) -> dict[str, Any] | None:
    """Counts for one call, or None when there is no rule for the module's type."""
    n = out.numel()
    if isinstance(module, nn.modules.conv._ConvNd):
        if module.transposed:
            return None
        k = _m.prod(module.kernel_size) * (module.in_channels // module.groups)
        bias = module.bias is not None
        return {
            "multiplications": n * k, "additions": n * (k - 1 + bias), "macs": n * k,
            "details": {
                "kernel_size": tuple(module.kernel_size), "in_channels": module.in_channels,
                "out_channels": module.out_channels, "groups": module.groups,
            },
        }
    if isinstance(module, nn.Linear):
        k = module.in_features
        bias = module.bias is not None
        return {"multiplications": n * k, "additions": n * (k - 1 + bias), "macs": n * k,
                "details": {"in_features": k, "out_features": module.out_features}}
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        per = 2 if module.affine else 1
        return {"multiplications": per * n, "additions": per * n}
    if type(module).__name__ == "Normalize" and hasattr(module, "mean") and hasattr(module, "std"):
        return {"multiplications": n, "additions": n}
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
        ks = module.kernel_size
        window = _m.prod(ks) if isinstance(ks, (tuple, list)) else ks ** _spatial_dims(module)
        if isinstance(module, nn.modules.pooling._MaxPoolNd):
            return {"comparisons": n * (window - 1)}
        return {"additions": n * (window - 1), "multiplications": n}
    adaptive = (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
    if isinstance(module, adaptive) and x is not None:
        dims = _spatial_dims(module)
        lead = out.numel() // max(_m.prod(out.shape[-dims:]), 1)
        total_window = lead * _m.prod(
            _adaptive_window_total(int(i), int(o))
            for i, o in zip(x.shape[-dims:], out.shape[-dims:], strict=True)
        )
        if isinstance(module, nn.modules.pooling._AdaptiveMaxPoolNd):
            return {"comparisons": total_window - n}
        return {"additions": total_window - n, "multiplications": n}
    if isinstance(module, (nn.ReLU, nn.Threshold)):
        return {"comparisons": n}
    if isinstance(module, (nn.ReLU6, nn.Hardtanh)):
        return {"comparisons": 2 * n}
    if isinstance(module, (nn.LeakyReLU, nn.PReLU)):
        return {"comparisons": n, "multiplications": n}
    if isinstance(module, nn.ELU):
        return {"comparisons": n, "transcendentals": n, "additions": n, "multiplications": n}
    if isinstance(module, nn.SELU):
        return {"comparisons": n, "transcendentals": n, "additions": n, "multiplications": 2 * n}
    if isinstance(module, nn.Sigmoid):
        return {"transcendentals": n, "additions": n, "multiplications": n}
    if isinstance(module, nn.Tanh):
        return {"transcendentals": n}
    if isinstance(module, nn.SiLU):
        return {"transcendentals": n, "additions": n, "multiplications": 2 * n}
    if isinstance(module, nn.GELU):
        return {"transcendentals": n, "additions": n, "multiplications": 3 * n}
    if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
        dim = module.dim if module.dim is not None else -1
        m = out.shape[dim] if out.ndim else 1
        rows = n // max(m, 1)
        cost = {"comparisons": rows * (m - 1), "transcendentals": n,
                "additions": n + rows * (m - 1)}
        if isinstance(module, nn.Softmax):
            cost["multiplications"] = n
        else:
            cost["transcendentals"] += rows
            cost["additions"] += n
        return cost
    if isinstance(module, _ZERO_COST):
        return {}
    return None


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for item in obj:
            t = _first_tensor(item)
            if t is not None:
                return t
    if isinstance(obj, dict):
        for item in obj.values():
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


def _check_shape(input_shape: Any) -> tuple[int, ...]:
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise ConfigError(
            f"input_shape must be a sequence of positive integers, got {input_shape!r}"
        )
    shape = tuple(input_shape)
    if not shape:
        raise ConfigError("input_shape must not be empty")
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ConfigError(
                f"input_shape must hold positive integers, got {input_shape!r} (bad value {s!r})"
            )
    return tuple(int(s) for s in shape)


def analyze(model: nn.Module, input_shape: Sequence[int] = (1, 1, 48, 48)) -> CostTable:
    """Per-layer output shape, parameters, multiplications and additions of ``model``.

    Args:
        model: Any ``nn.Module`` (a zoo model, or your own).
        input_shape: Shape of the zero input fed through the model, batch included (the counts
            cover the whole batch; the default batch of 1 gives per-image counts).

    Returns:
        A :class:`CostTable` (a list of :class:`LayerCost`, one per leaf-module call in call
        order, with totals; ``str()`` gives a text table).

    Raises:
        ConfigError: ``model`` is not a module, ``input_shape`` is malformed, or the forward pass
            fails on that shape (the message includes torch's reason).
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"analyze() needs a torch.nn.Module, got {type(model).__name__}")
    shape = _check_shape(input_shape)
    ref = next(model.parameters(), None)
    if ref is None:
        ref = next(model.buffers(), None)
    device = ref.device if ref is not None else torch.device("cpu")
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.get_default_dtype()

    names = {module: name for name, module in model.named_modules(remove_duplicate=False)}
    rows: list[LayerCost] = []
    calls: dict[int, int] = {}
    seen_params: set[int] = set()

    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        out = _first_tensor(output)
        x = _first_tensor(args)
        calls[id(module)] = calls.get(id(module), 0) + 1
        name = names.get(module) or type(module).__name__
        if calls[id(module)] > 1:
            name = f"{name} (call {calls[id(module)]})"
        params = 0
        for p in module.parameters(recurse=False):
            if id(p) not in seen_params:
                seen_params.add(id(p))
                params += p.numel()
        is_leaf = next(module.children(), None) is None
        cost = _ops(module, x, out) if (out is not None and is_leaf) else None
        rows.append(
            LayerCost(
                name=name,
                type=type(module).__name__,
                input_shape=tuple(x.shape) if x is not None else (),
                output_shape=tuple(out.shape) if out is not None else (),
                params=params,
                counted=cost is not None,
                **({k: int(v) for k, v in cost.items() if k != "details"} if cost else {}),
                details=(cost or {}).get("details", {}),
            )
        )

    handles = []
    try:
        for module in model.modules():
            leaf = next(module.children(), None) is None
            if leaf or next(module.parameters(recurse=False), None) is not None:
                handles.append(module.register_forward_hook(hook))
        with eval_mode(model), torch.no_grad(), warnings.catch_warnings():
            # torch's own note on even kernels with padding='same' says nothing about the counts
            warnings.filterwarnings("ignore", message="Using padding='same'")
            try:
                output = _first_tensor(model(torch.zeros(shape, dtype=dtype, device=device)))
            except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                msg = " ".join(str(exc).split())
                raise ConfigError(
                    f"forward pass of {type(model).__name__} failed on an input of shape "
                    f"{shape}: {msg}"
                ) from exc
    finally:
        for handle in handles:
            handle.remove()
    unique = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in unique.values())
    trainable = sum(p.numel() for p in unique.values() if p.requires_grad)
    out_shape = tuple(output.shape) if output is not None else None
    return CostTable(rows, shape, total, trainable, out_shape)


# ----------------------------------------------------------------------------- complexity
_TEXT = "O(sum_{l=1}^{L} n_l^2 * k_l^2 * c_{l-1} * c_l)"
_LATEX = r"\mathcal{O}\!\left(\sum_{l=1}^{L} n_l^{2}\, k_l^{2}\, c_{l-1}\, c_l\right)"
_SYMBOLS = (
    "L: number of conv layers; n_l: side of layer l's output feature map (n_l^2 = h_l*w_l); "
    "k_l: side of its kernel (k_l^2 = k_h*k_w); c_{l-1}, c_l: its input and output channels "
    "(c_{l-1}/groups for grouped convolutions). Each term is layer l's multiply-accumulates "
    "for one image; pooling, activations and normalization add O(sum_l n_l^2 c_l), a lower order."
)


@dataclass(frozen=True)
class ComplexityTerm:
    """One conv layer's term ``n_l^2 k_l^2 c_{l-1} c_l`` with its numbers.

    Attributes:
        name: Layer name (or ``layer l`` for a hand-given list).
        n: Output spatial size ``(h, w)``.
        k: Kernel size ``(k_h, k_w)``.
        c_in: Input channels per group (``c_{l-1} / groups``).
        c_out: Output channels.
        value: ``h * w * k_h * k_w * c_in * c_out``.
    """

    name: str
    n: tuple[int, int]
    k: tuple[int, int]
    c_in: int
    c_out: int
    value: int

    @property
    def expression(self) -> str:
        """The product written out, e.g. ``48^2 * 3^2 * 1 * 32``."""
        n = f"{self.n[0]}^2" if self.n[0] == self.n[1] else f"{self.n[0]}*{self.n[1]}"
        k = f"{self.k[0]}^2" if self.k[0] == self.k[1] else f"{self.k[0]}*{self.k[1]}"
        return f"{n} * {k} * {self.c_in} * {self.c_out}"


@dataclass(frozen=True)
class Complexity:
    """The big-O time of an L-layer CNN, and its evaluated terms when a model was given.

    Attributes:
        text: Plain-text expression.
        latex: The expression in LaTeX.
        symbols: What each symbol means.
        terms: One :class:`ComplexityTerm` per conv layer (empty without a model).
    """

    text: str
    latex: str
    symbols: str
    terms: tuple[ComplexityTerm, ...] = ()

    @property
    def total(self) -> int | None:
        """Sum of the terms (the conv layers' MACs per image), or None without terms."""
        return sum(t.value for t in self.terms) if self.terms else None

    @property
    def expanded(self) -> str:
        """The sum written out with the model's numbers (empty without terms)."""
        if not self.terms:
            return ""
        return " + ".join(t.expression for t in self.terms) + f" = {self.total:,}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "text": self.text, "latex": self.latex, "symbols": self.symbols,
            "terms": [
                {**asdict(t), "n": list(t.n), "k": list(t.k), "expression": t.expression}
                for t in self.terms
            ],
            "total": self.total,
        }

    def __str__(self) -> str:
        lines = [self.text, self.symbols]
        if self.terms:
            lines += [f"{t.name}: {t.expression} = {t.value:,}" for t in self.terms]
            lines.append(f"total: {self.total:,}")
        return "\n".join(lines)


def _terms_from_layers(layers: Iterable[Any]) -> list[ComplexityTerm]:
    terms = []
    for i, layer in enumerate(layers, start=1):
        if isinstance(layer, dict):
            try:
                values = (layer["n"], layer["k"], layer["c_in"], layer["c_out"])
            except KeyError as exc:
                raise ConfigError(
                    f"layer {i}: a dict needs the keys n, k, c_in, c_out (missing {exc})"
                ) from None
        else:
            values = tuple(layer)
            if len(values) != 4:
                raise ConfigError(
                    f"layer {i}: give (n, k, c_in, c_out), got {layer!r}"
                )
        n, k, c_in, c_out = values
        for label, v in (("n", n), ("k", k), ("c_in", c_in), ("c_out", c_out)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"layer {i}: {label} must be a positive integer, got {v!r}")
        terms.append(ComplexityTerm(f"layer {i}", (n, n), (k, k), c_in, c_out,
                                    n * n * k * k * c_in * c_out))
    return terms


def complexity(
    model_or_layers: nn.Module | Iterable[Any] | None = None,
    input_shape: Sequence[int] = (1, 1, 48, 48),
) -> Complexity:
    """The big-O time of an L-layer CNN: ``O(sum_l n_l^2 k_l^2 c_{l-1} c_l)``.

    Args:
        model_or_layers: Nothing (just the expression), an ``nn.Module`` (its 2-D convolutions
            are found with :func:`analyze`), or a list of ``(n, k, c_in, c_out)`` tuples or dicts
            with those keys (``n`` = output side, ``k`` = kernel side).
        input_shape: Input shape for a model (per-image terms whatever the batch).

    Returns:
        A :class:`Complexity` with ``.text``, ``.latex`` and, for a model or list, ``.terms``,
        ``.total`` and ``.expanded``.

    Raises:
        ConfigError: A malformed layer list, or see :func:`analyze`.
    """
    terms: list[ComplexityTerm] = []
    if isinstance(model_or_layers, nn.Module):
        for row in analyze(model_or_layers, input_shape):
            det = row.details
            if "kernel_size" in det and len(det["kernel_size"]) == 2 and len(row.output_shape) >= 2:
                h, w = (int(s) for s in row.output_shape[-2:])
                kh, kw = det["kernel_size"]
                c_in = det["in_channels"] // det["groups"]
                c_out = det["out_channels"]
                terms.append(ComplexityTerm(row.name, (h, w), (kh, kw), c_in, c_out,
                                            h * w * kh * kw * c_in * c_out))
    elif model_or_layers is not None:
        if isinstance(model_or_layers, (str, bytes)) or not isinstance(model_or_layers, Iterable):
            raise ConfigError(
                "complexity() takes an nn.Module or a list of (n, k, c_in, c_out), "
                f"got {type(model_or_layers).__name__}"
            )
        terms = _terms_from_layers(model_or_layers)
    return Complexity(_TEXT, _LATEX, _SYMBOLS, tuple(terms))
