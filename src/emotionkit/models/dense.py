"""Fully connected nets, and :func:`dnn_matching`: a DNN with about as many parameters as a CNN.

The assignment asks for "a DNN with about the same number of parameters" as the CNN.
:func:`dnn_matching` solves for the layer widths deterministically: the hidden widths follow a
geometric schedule ``w_i = round(w_1 * shrink**i)``; the largest ``w_1`` whose count stays at or
under the target is found by bisection, then the first hidden layer alone is re-solved (the count
is linear in it) to land as close to the target as an integer width allows.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..errors import ConfigError
from ._build import FeatureClassifierNet, Stack, check_activation, check_int_list, check_prob
from .registry import ModelInfo, ModelZoo, register_model

IN_FEATURES = 48 * 48
NUM_CLASSES = 7

_RECIPE = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 256,
           "epochs": 50, "scheduler": "cosine", "augment": "light", "label_smoothing": 0.0}


def dnn_param_count(hidden: Sequence[int], batchnorm: bool = False) -> int:
    """Parameters of a ``dnn`` with the given hidden widths (Keras counting).

    Args:
        hidden: Hidden layer widths, input side first.
        batchnorm: Whether each hidden layer has a BatchNorm (4 values per unit).

    Returns:
        ``sum((fan_in + 1) * fan_out)`` over the layers 2304 -> hidden... -> 7, plus BatchNorm.
    """
    widths = [IN_FEATURES, *hidden, NUM_CLASSES]
    count = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return count + (4 * sum(hidden) if batchnorm else 0)


@register_model(ModelInfo(
    description="Plain fully connected net: flatten 2304 -> hidden widths -> 7",
    family="dense", tags=("dnn",), recipe=_RECIPE,
))
def dnn(
    hidden: Sequence[int] = (1024, 512, 256),
    activation: str = "relu",
    dropout: float = 0.0,
    batchnorm: bool = False,
) -> nn.Module:
    """A multilayer perceptron on the flattened 48x48 image.

    Layers are named ``features.fc1``, ``features.act1``, (``features.bn1``,
    ``features.drop1``) ..., and ``classifier.fc1`` for the output layer.

    Args:
        hidden: Hidden layer widths.
        activation: ``"relu"``, ``"leaky_relu"`` or ``"prelu"``.
        dropout: Dropout rate after every hidden layer.
        batchnorm: Put a BatchNorm between each hidden linear layer and its activation.

    Returns:
        The model.
    """
    widths = check_int_list("hidden", hidden)
    check_prob("dropout", dropout)
    if not isinstance(batchnorm, bool):
        raise ConfigError(f"option 'batchnorm' must be true or false, got {batchnorm!r}")
    f = Stack(check_activation(activation)).add("flatten", nn.Flatten(), numbered=False)
    for cin, cout in zip([IN_FEATURES, *widths[:-1]], widths, strict=True):
        f.add("fc", nn.Linear(cin, cout))
        if batchnorm:
            f.add("bn", nn.BatchNorm1d(cout))
        f.act(cout).dropout(dropout)
    c = Stack(activation).add("fc", nn.Linear(widths[-1], NUM_CLASSES))
    return FeatureClassifierNet(f.build(), c.build())


def _target_count(target: int | nn.Module | str) -> int:
    if isinstance(target, nn.Module):
        return sum(p.numel() for p in target.parameters() if p.requires_grad)
    if isinstance(target, str):
        return int(ModelZoo.info(target)["trainable_params"])
    if isinstance(target, bool) or not isinstance(target, int):
        raise ConfigError(
            f"target must be a parameter count, a model or a model name, got {target!r}"
        )
    return target


def _geometric(first: int, depth: int, shrink: float) -> list[int]:
    return [max(1, round(first * shrink**i)) for i in range(depth)]


def match_widths(
    target: int | nn.Module | str, depth: int = 3, tolerance: float = 0.01, shrink: float = 0.5
) -> list[int]:
    """Hidden widths whose ``dnn`` parameter count is within ``tolerance`` of ``target``.

    Args:
        target: A parameter count, a model (its trainable parameters) or a zoo model name.
        depth: Number of hidden layers.
        tolerance: Allowed relative difference, e.g. 0.01 for 1%.
        shrink: Ratio between consecutive hidden widths (0 < shrink <= 1).

    Returns:
        The hidden widths, input side first.

    Raises:
        ConfigError: If the options are invalid, the target is below the smallest net of this
            depth, or no integer widths come within the tolerance.
    """
    count = _target_count(target)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ConfigError(f"depth must be an integer >= 1, got {depth!r}")
    if not (isinstance(tolerance, (int, float)) and 0 <= tolerance < 1):
        raise ConfigError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
    if not (isinstance(shrink, (int, float)) and 0 < shrink <= 1):
        raise ConfigError(f"shrink must be a number in (0, 1], got {shrink!r}")
    smallest = dnn_param_count([1] * depth)
    if count < smallest * (1 - tolerance):
        raise ConfigError(
            f"cannot build a {depth}-hidden-layer DNN with about {count:,} parameters: the "
            f"smallest one (all widths 1) already has {smallest:,}; use fewer layers"
        )
    # bisection on the first width: largest w with count(w) <= target (count grows with w)
    lo, hi = 1, max(2, count // (IN_FEATURES + 1) + 2)
    if dnn_param_count(_geometric(lo, depth, shrink)) > count:
        hi = lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if dnn_param_count(_geometric(mid, depth, shrink)) <= count:
            lo = mid
        else:
            hi = mid
    widths = _geometric(lo, depth, shrink)
    # the count is linear in the first width: re-solve it alone to get as close as possible
    following = widths[1] if depth > 1 else NUM_CLASSES
    per_unit = IN_FEATURES + 1 + following
    rest = dnn_param_count(widths) - widths[0] * per_unit
    widths[0] = max(1, round((count - rest) / per_unit))
    got = dnn_param_count(widths)
    if abs(got - count) > tolerance * count:
        raise ConfigError(
            f"no {depth}-hidden-layer DNN comes within {tolerance:.2%} of {count:,} parameters "
            f"(closest: {got:,} with widths {widths}); allow a larger tolerance or fewer layers"
        )
    return widths


def dnn_matching(
    target: int | nn.Module | str,
    depth: int = 3,
    tolerance: float = 0.01,
    activation: str = "relu",
    dropout: float = 0.0,
    shrink: float = 0.5,
) -> nn.Module:
    """A fully connected net with about as many parameters as ``target`` (the assignment's DNN).

    Deterministic: the same arguments always give the same widths (see :func:`match_widths`).
    The result is a zoo ``dnn`` model, so ``model.emotionkit_config["hidden"]`` holds the widths
    and a checkpoint rebuilds it like any zoo model.

    Args:
        target: A parameter count, a model (its trainable parameters are matched) or a zoo
            model name (its default configuration).
        depth: Number of hidden layers.
        tolerance: Allowed relative difference of the parameter counts.
        activation: ``"relu"``, ``"leaky_relu"`` or ``"prelu"`` (PReLU adds one parameter per
            hidden unit on top of the matched count).
        dropout: Dropout rate after each hidden layer.
        shrink: Ratio between consecutive hidden widths.

    Returns:
        The model.

    Raises:
        ConfigError: If no such net exists (see :func:`match_widths`) or an option is invalid.
    """
    widths = match_widths(target, depth=depth, tolerance=tolerance, shrink=shrink)
    return ModelZoo.create("dnn", hidden=widths, activation=activation, dropout=dropout)

