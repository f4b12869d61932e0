"""Training ensembles: :func:`train_ensemble` fits several members and returns an Ensemble.

:class:`~emotionkit.models.ensemble.Ensemble` itself (a model: the log of the mean of its
members' probabilities) lives in :mod:`emotionkit.models.ensemble`; it is re-exported here and
as ``emotionkit.training.Ensemble``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from ..errors import ConfigError
from ..models.ensemble import Ensemble


def train_ensemble(
    factory_or_names: str | Sequence[str] | Callable[[int], nn.Module],
    n: int | None = None,
    seeds: Sequence[int] | None = None,
    train: Any = None,
    val: Any = None,
    **trainer_kwargs: Any,
) -> Ensemble:
    """Train several members one after another and return them as an :class:`Ensemble`.

    Args:
        factory_or_names: One zoo model name (``n`` members differing by seed), a list of zoo
            names (one member each, e.g. different architectures), or a function
            ``seed -> nn.Module``.
        n: Number of members (default: ``len(seeds)``, the number of names, or 5).
        seeds: One seed per member (default ``0..n-1``); used for the weights and the Trainer.
        train: Training data (as for :meth:`Trainer.fit`).
        val: Optional validation data.
        **trainer_kwargs: Passed to every member's :class:`~emotionkit.training.Trainer`
            (``out_dir`` and ``resume`` are not allowed: save the ensemble with
            :func:`emotionkit.training.save`).

    Returns:
        The ensemble (in eval mode); ``ensemble.histories`` holds each member's History.
    """
    from ..models import ModelZoo
    from .trainer import Trainer

    if train is None:
        raise ConfigError("train_ensemble() needs training data (train=...)")
    for key in ("out_dir", "resume", "seed"):
        if key in trainer_kwargs:
            raise ConfigError(f"train_ensemble() does not take {key!r}; members are seeded by "
                              "'seeds' and the ensemble is saved with emotionkit.training.save")
    names = [factory_or_names] if isinstance(factory_or_names, str) else factory_or_names
    if not callable(names):
        names = list(names)
        if not names:
            raise ConfigError("train_ensemble() needs at least one model name")
    if n is None:
        n = len(seeds) if seeds is not None else (len(names) if isinstance(names, list)
                                                  and len(names) > 1 else 5)
    if n < 1:
        raise ConfigError(f"an ensemble needs n >= 1 members, got {n}")
    seeds = list(range(n)) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != n:
        raise ConfigError(f"got {len(seeds)} seeds for {n} members")
    if isinstance(names, list) and len(names) not in (1, n):
        raise ConfigError(f"got {len(names)} model names for {n} members")

    members, histories = [], []
    for i, seed in enumerate(seeds):
        if callable(names):
            model = names(seed)
        else:
            model = ModelZoo.create(names[i if len(names) > 1 else 0], seed=seed)
        trainer = Trainer(model, seed=seed, **trainer_kwargs)
        histories.append(trainer.fit(train, val))
        members.append(trainer.model.cpu())
    ensemble = Ensemble(members).eval()
    ensemble.histories = histories
    return ensemble


__all__ = ["train_ensemble"]
