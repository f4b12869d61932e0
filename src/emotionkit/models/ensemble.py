"""Ensembles: several models whose predicted probabilities are averaged.

An :class:`Ensemble` is an ``nn.Module`` whose output is the *log* of the mean of its members'
softmax probabilities, so ``softmax(ensemble(x))`` is exactly that mean and the output can be
used wherever logits are expected (argmax, cross-entropy). It saves as one checkpoint
(:func:`emotionkit.training.save`); :func:`emotionkit.training.train_ensemble` trains one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError


class Ensemble(nn.Module):
    """Average the class probabilities of several models.

    Args:
        members: The member models (each maps (N, 1, 48, 48) images in [0, 1] to logits).
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise ConfigError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``log(mean_i softmax(member_i(x)))``, shape (N, classes)."""
        logp = torch.stack([torch.log_softmax(m(x).float(), dim=1) for m in self.members])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))

    def __len__(self) -> int:
        return len(self.members)


__all__ = ["Ensemble"]
