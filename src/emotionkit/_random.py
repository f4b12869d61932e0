"""Seeded random generators: the one rule for reproducible, batch-independent randomness.

Every draw that must repeat exactly (an epoch's shuffle, SmoothGrad's noise per image,
activation maximization's start per channel, a sanity check's re-initialized layer) takes a
fresh CPU :class:`torch.Generator` seeded from the user's seed and the draw's own keys, so the
result depends on nothing else: not on the batch it was computed in, the global RNG or the
order of other draws.
"""

from __future__ import annotations

import numpy as np
import torch


def seeded_generator(seed: int, *keys: int) -> torch.Generator:
    """A CPU generator whose state is a hash of ``seed`` and ``keys`` (NumPy's SeedSequence).

    Args:
        seed: The user's seed (its low 32 bits are used).
        *keys: Non-negative integers naming the draw (epoch, channel, layer position, a
            checksum of the image...).

    Returns:
        A new generator; equal arguments give equal streams, any difference a different one.
    """
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *map(int, keys)]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
