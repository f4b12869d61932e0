"""Fixtures for the model-zoo tests: each zoo model is built once per session (seed 0)."""

from __future__ import annotations

import pytest
import torch

from emotionkit.models import ModelZoo


@pytest.fixture(scope="session")
def zoo_model():
    """Return a function name -> model (seed 0), building each model at most once.

    Tests may run forward/backward passes but must not change parameters.
    """
    cache: dict[str, torch.nn.Module] = {}

    def get(name: str) -> torch.nn.Module:
        if name not in cache:
            cache[name] = ModelZoo.create(name, seed=0)
        return cache[name]

    return get
