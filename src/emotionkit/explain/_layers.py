"""Finding layers by the model's own module names (``emotionkit models summary`` shows them)."""

from __future__ import annotations

from torch import nn

from .._names import unknown_name_message
from ..errors import ExplainError, UnknownLayerError
from .trace import ForwardTrace

__all__ = ["layer_names", "find_layer", "default_conv_layer", "check_single_call"]


def layer_names(model: nn.Module) -> list[str]:
    """Return every module name of ``model`` except the root's empty name, in definition order."""
    return [name for name, _ in model.named_modules() if name]


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """Return the module called ``name``.

    Args:
        model: The model.
        name: A dotted module name, e.g. ``"features.conv3"``.

    Returns:
        The module.

    Raises:
        UnknownLayerError: No module has that name; the message lists the valid names.
    """
    modules = dict(model.named_modules())
    if not isinstance(name, str) or not name or name not in modules:
        raise UnknownLayerError(
            unknown_name_message("layer", str(name), layer_names(model), limit=60)
        )
    return modules[name]


def default_conv_layer(trace: ForwardTrace, method: str) -> str:
    """Return the last convolution in execution order.

    Args:
        trace: A forward trace of the model.
        method: Explainer name, for the message.

    Returns:
        The layer name.

    Raises:
        ExplainError: The model runs no convolution.
    """
    convs = trace.conv_layers()
    if not convs:
        raise ExplainError(f"{method}: the model has no convolution layer; pass layer=NAME")
    return convs[-1]


def check_single_call(trace: ForwardTrace, name: str, method: str) -> None:
    """Refuse a layer that runs more than once per forward pass (its output would be ambiguous).

    Args:
        trace: A forward trace of the model.
        name: The layer name.
        method: Explainer name, for the message.

    Raises:
        ExplainError: The layer did not run, or ran several times.
    """
    count = trace.call_counts.get(name, 0)
    if count == 0:
        raise ExplainError(f"{method}: layer {name!r} does not run in the model's forward pass")
    if count > 1:
        raise ExplainError(
            f"{method}: layer {name!r} runs {count} times per forward pass (a reused module), so "
            "its output is ambiguous; pick a layer that runs once"
        )
