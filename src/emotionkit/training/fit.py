"""Training as a plain function, for code that takes ``train(model, dataset)`` callables.

The explain package's label-randomization check, for one, trains models without importing
the training package itself: it is handed such a function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn


def train_function(**trainer_options: Any) -> Callable[[nn.Module, Any], nn.Module]:
    """Return ``train(model, dataset)`` that fits ``model`` in place with a :class:`Trainer`.

    Args:
        **trainer_options: Options of :class:`~emotionkit.training.Trainer` (``epochs``,
            ``batch_size``, ``seed``, ``device``, ``quiet``...); the model's recipe fills the
            rest, as for ``Trainer(model)``.

    Returns:
        A function training the model it is given on the dataset it is given (without a
        validation set) and returning the model.

    Raises:
        ConfigError: An option the Trainer does not know (raised at once, not at the first call).
    """
    import inspect

    from ..errors import ConfigError
    from .trainer import Trainer

    known = set(inspect.signature(Trainer).parameters) - {"model"}
    unknown = sorted(set(trainer_options) - known)
    if unknown:
        raise ConfigError(f"unknown Trainer option(s) {', '.join(map(repr, unknown))}; "
                          f"known: {', '.join(sorted(known))}")

    def train(model: nn.Module, dataset: Any) -> nn.Module:
        Trainer(model, **trainer_options).fit(dataset)
        return model

    return train


__all__ = ["train_function"]
