"""Fixtures of the training tests: a tiny registered model and small synthetic data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import ek_training_tiny as tiny  # noqa: E402


@pytest.fixture(scope="session")
def tiny_registered():
    """Register ``test-tiny`` for the duration of the training tests."""
    tiny.register()
    yield tiny
    tiny.unregister()


@pytest.fixture
def tiny_model(tiny_registered):
    """A fresh ``test-tiny`` model (seed 0)."""
    return tiny.make(0)


@pytest.fixture(scope="session")
def tiny_data():
    """(train, val) pairs of uint8 images and labels."""
    return tiny.data(96, seed=0), tiny.data(40, seed=1)
