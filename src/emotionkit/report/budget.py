"""How much work each ``--budget`` of the study report does (one table, one place)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .._names import unknown_name_message
from ..errors import ConfigError


@dataclass(frozen=True)
class Budget:
    """The sizes of one report budget.

    Attributes:
        name: ``"quick"``, ``"standard"`` or ``"full"``.
        cnn_epochs: Epochs of the CNN (``None``: the model's recipe).
        dnn_epochs: Epochs of the parameter-matched DNN.
        ablation_epochs: Epochs of each normalization/augmentation ablation run.
        ablation_images: Training images of each ablation run at most (``None``: all).
        activation_steps: Gradient-ascent steps of activation maximization.
        filters: Filters shown per layer for activation maximization.
        trust_images: Images of the sanity checks and faithfulness curves.
        faithfulness_steps: Points on each deletion/insertion curve.
        mistakes: Misclassified images shown.
    """

    name: str
    cnn_epochs: int | None
    dnn_epochs: int
    ablation_epochs: int
    ablation_images: int | None
    activation_steps: int
    filters: int
    trust_images: int
    faithfulness_steps: int
    mistakes: int

    def to_dict(self) -> dict[str, Any]:
        """The budget as a JSON-ready dict."""
        return asdict(self)


#: The budgets by name: ``quick``, ``standard`` and ``full``.
BUDGETS: dict[str, Budget] = {
    "quick": Budget("quick", cnn_epochs=3, dnn_epochs=3, ablation_epochs=2,
                    ablation_images=3000, activation_steps=60, filters=6, trust_images=4,
                    faithfulness_steps=12, mistakes=16),
    "standard": Budget("standard", cnn_epochs=12, dnn_epochs=12, ablation_epochs=4,
                       ablation_images=10000, activation_steps=150, filters=8, trust_images=8,
                       faithfulness_steps=25, mistakes=25),
    "full": Budget("full", cnn_epochs=None, dnn_epochs=30, ablation_epochs=10,
                   ablation_images=None, activation_steps=200, filters=12, trust_images=16,
                   faithfulness_steps=50, mistakes=36),
}


def get_budget(name: str | Budget) -> Budget:
    """The :class:`Budget` called ``name`` (or ``name`` itself when it is one).

    Raises:
        ConfigError: An unknown budget name, with the valid ones.
    """
    if isinstance(name, Budget):
        return name
    if name not in BUDGETS:
        raise ConfigError(unknown_name_message("budget", str(name), list(BUDGETS)))
    return BUDGETS[name]
