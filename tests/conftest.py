"""Shared fixtures. Plugins are restricted to the built-ins unless a test opts in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Only the built-in explainers load in tests, whatever is installed in the environment;
# tests that exercise third-party plugins set the variable themselves.
os.environ.setdefault("EMOTIONKIT_LOAD_PLUGINS", "")
os.environ.setdefault("MPLBACKEND", "Agg")

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013.csv.gz"


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    """Path of the real FER2013 file; the test is skipped when it is absent."""
    if not REAL_DATA.exists():
        pytest.skip(f"real FER2013 data not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def synthetic_small():
    """A small synthetic set (20 faces per class), shared read-only across tests."""
    from emotionkit.data import synthetic

    return synthetic(20, seed=0)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the data cache of each test session out of the user's cache dir."""
    monkeypatch.setenv("EMOTIONKIT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def fake_weights(tmp_path_factory):
    """Tiny stand-in shipped weights for ``compact`` (made-up accuracies), undone afterwards.

    Tests of predict / the default model use it so they do not depend on the real shipped file.
    """
    from emotionkit.testing.weights import install_fake_weights, restore_weights

    path = install_fake_weights(tmp_path_factory.mktemp("weights"))
    yield path
    restore_weights()
