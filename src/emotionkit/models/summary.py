"""A Keras-style summary of a model: layers, output shapes, parameters and multiply-accumulates.

Counting follows Keras, so the seed architectures' totals match their reports: trainable
parameters are those with ``requires_grad``; non-trainable ones are frozen parameters plus the
BatchNorm running mean and variance (Keras' "moving" statistics). Other buffers, such as
``Normalize``'s mean/std and BatchNorm's ``num_batches_tracked``, are not parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from .._modes import eval_mode


def _own_counts(module: nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) parameters held by ``module`` itself, not its children."""
    trainable = frozen = 0
    for p in module.parameters(recurse=False):
        if p.requires_grad:
            trainable += p.numel()
        else:
            frozen += p.numel()
    if isinstance(module, _BatchNorm) and module.track_running_stats:
        for buf in (module.running_mean, module.running_var):
            if buf is not None:
                frozen += buf.numel()
    return trainable, frozen


def count_params(model: nn.Module) -> dict[str, int]:
    """Count a model's parameters the Keras way, without running it.

    Args:
        model: Any module (a model on the ``meta`` device works too).

    Returns:
        ``{"total": ..., "trainable": ..., "non_trainable": ...}``.
    """
    trainable = frozen = 0
    for module in model.modules():
        t, f = _own_counts(module)
        trainable += t
        frozen += f
    return {"total": trainable + frozen, "trainable": trainable, "non_trainable": frozen}


def _macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Multiply-accumulates of one call, per sample (batch dimension excluded)."""
    batch = output.shape[0] if output.dim() > 0 else 1
    per_sample = output.numel() // max(batch, 1)
    if isinstance(module, _ConvNd) and not module.transposed:
        k = 1
        for size in module.kernel_size:
            k *= size
        return per_sample * k * (module.in_channels // module.groups)
    if isinstance(module, nn.Linear):
        return per_sample * module.in_features
    return 0


@dataclass
class LayerRow:
    """One row of a :class:`ModelSummary`: one call of one module.

    Args:
        name: Qualified module name (``features.conv1``), usable as an explainer layer name.
        type: Module class name.
        output_shape: Output shape including the batch dimension (``None`` if never called).
        params: Parameters of the module (trainable + non-trainable; 0 on repeated calls).
        trainable: Trainable parameters.
        non_trainable: Non-trainable parameters (BatchNorm running statistics, frozen weights).
        macs: Multiply-accumulates per sample for this call (conv and linear layers).
    """

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    params: int
    trainable: int
    non_trainable: int
    macs: int


@dataclass
class ModelSummary:
    """The result of :func:`summary`; ``str()`` gives the table, :meth:`to_dict` the data.

    Args:
        rows: One :class:`LayerRow` per module call, in execution order (modules with
            parameters that the forward never called come last, without a shape).
        total_params: All parameters, Keras counting.
        trainable_params: Trainable parameters.
        non_trainable_params: Non-trainable parameters.
        total_macs: Sum of the rows' multiply-accumulates, per sample.
        input_size: The input shape used.
        name: The model's zoo name, if it has one.
    """

    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    total_macs: int
    input_size: tuple[int, ...]
    name: str | None = None
    output_shape: tuple[int, ...] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready dict."""
        return {
            "name": self.name,
            "input_size": list(self.input_size),
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
            "layers": [
                {
                    "name": r.name,
                    "type": r.type,
                    "output_shape": list(r.output_shape) if r.output_shape is not None else None,
                    "params": r.params,
                    "trainable": r.trainable,
                    "non_trainable": r.non_trainable,
                    "macs": r.macs,
                }
                for r in self.rows
            ],
        }

    def to_text(self) -> str:
        """Return the Keras-style table."""
        table = [("Layer (type)", "Output shape", "Param #", "MACs")]
        for r in self.rows:
            shape = "(" + ", ".join(str(s) for s in r.output_shape) + ")" if r.output_shape else "-"
            table.append((f"{r.name} ({r.type})", shape, f"{r.params:,}", f"{r.macs:,}"))
        widths = [max(len(row[i]) for row in table) for i in range(4)]

        def line(row: tuple[str, ...]) -> str:
            return "  ".join(
                [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
                + [row[i].rjust(widths[i]) for i in (2, 3)]
            )

        rule_len = sum(widths) + 6
        head = [f"Model: {self.name}"] if self.name else []
        out = head + [line(table[0]), "=" * rule_len]
        out += [line(row) for row in table[1:]]
        out += [
            "=" * rule_len,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            f"Multiply-accumulates per image: {self.total_macs:,}",
        ]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()


def summary(model: nn.Module, input_size: tuple[int, ...] = (1, 1, 48, 48)) -> ModelSummary:
    """Run one forward pass and tabulate every layer, Keras style.

    The model runs in eval mode under ``torch.no_grad()`` on a constant grey image on the device
    of its parameters; its train/eval mode is restored and every hook is removed afterwards,
    even if the forward pass fails.

    Args:
        model: The model to summarise.
        input_size: Input shape including the batch dimension.

    Returns:
        A :class:`ModelSummary`.
    """
    names = {m: n for n, m in model.named_modules()}
    rows: list[LayerRow] = []
    seen: set[nn.Module] = set()

    def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
        out = output
        while isinstance(out, (tuple, list)) and out:
            out = out[0]
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
        trainable, frozen = (0, 0) if module in seen else _own_counts(module)
        seen.add(module)
        macs = _macs(module, inputs, out) if isinstance(out, torch.Tensor) else 0
        rows.append(
            LayerRow(names[module] or type(module).__name__, type(module).__name__, shape,
                     trainable + frozen, trainable, frozen, macs)
        )

    # leaves, plus containers that hold parameters of their own
    tracked = [m for m in model.modules() if not next(m.children(), None) or sum(_own_counts(m))]
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    handles = []
    try:
        handles = [m.register_forward_hook(hook) for m in tracked]
        with eval_mode(model), torch.no_grad():
            output = model(torch.full(tuple(input_size), 0.5, device=device))
    finally:
        for h in handles:
            h.remove()
    for m in tracked:
        if m not in seen:
            trainable, frozen = _own_counts(m)
            if trainable + frozen:
                rows.append(LayerRow(names[m], type(m).__name__, None, trainable + frozen,
                                     trainable, frozen, 0))
    counts = count_params(model)
    out_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
    return ModelSummary(
        rows=rows,
        total_params=counts["total"],
        trainable_params=counts["trainable"],
        non_trainable_params=counts["non_trainable"],
        total_macs=sum(r.macs for r in rows),
        input_size=tuple(input_size),
        name=getattr(model, "emotionkit_name", None),
        output_shape=out_shape,
    )


__all__ = ["summary", "ModelSummary", "LayerRow", "count_params"]
