"""A Keras-style summary of a model: layers, output shapes, parameters and multiply-accumulates.

Counting follows Keras, so the seed architectures' totals match their reports: trainable
parameters are those with ``requires_grad``; non-trainable ones are frozen parameters plus the
BatchNorm running mean and variance (Keras' "moving" statistics). Other buffers, such as
``Normalize``'s mean/std and BatchNorm's ``num_batches_tracked``, are not parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


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

    Shapes and multiply-accumulates are :func:`emotionkit.math.analyze`'s rows (one counting
    rule for the package); the parameter columns add the Keras view (BatchNorm running
    statistics as non-trainable parameters). The model runs in eval mode under
    ``torch.no_grad()`` on the device of its parameters; each module's train/eval flag is
    restored and every hook removed afterwards, even if the forward pass fails.

    Args:
        model: The model to summarise.
        input_size: Input shape including the batch dimension.

    Returns:
        A :class:`ModelSummary`.

    Raises:
        ConfigError: The forward pass fails on ``input_size`` (the message has torch's reason).
    """
    from ..math.model_cost import analyze

    table = analyze(model, input_size)
    by_name = {name: m for name, m in model.named_modules(remove_duplicate=False)}
    batch = max(int(input_size[0]), 1)
    rows: list[LayerRow] = []
    seen: set[nn.Module] = set()
    for cost in table:
        module = by_name.get(cost.name)
        first = module is not None and module not in seen
        trainable, frozen = _own_counts(module) if first else (0, 0)
        if module is not None:
            seen.add(module)
        rows.append(LayerRow(cost.name, cost.type, cost.output_shape or None, trainable + frozen,
                             trainable, frozen, cost.macs // batch))
    # modules with parameters of their own that the forward pass never called come last
    for name, m in model.named_modules():
        if m not in seen and sum(_own_counts(m)):
            trainable, frozen = _own_counts(m)
            rows.append(LayerRow(name, type(m).__name__, None, trainable + frozen, trainable,
                                 frozen, 0))
    counts = count_params(model)
    return ModelSummary(
        rows=rows,
        total_params=counts["total"],
        trainable_params=counts["trainable"],
        non_trainable_params=counts["non_trainable"],
        total_macs=sum(r.macs for r in rows),
        input_size=tuple(input_size),
        name=getattr(model, "emotionkit_name", None),
        output_shape=table.output_shape,
    )


__all__ = ["summary", "ModelSummary", "LayerRow", "count_params"]
