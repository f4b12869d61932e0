"""Fixtures of the evaluation tests: hand-made prediction sets and tiny models."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import ek_eval_helpers as helpers  # noqa: E402
from ek_eval_helpers import HAND_SET, RUNNER_UP_LOGIT  # noqa: E402


@pytest.fixture(scope="session")
def hand_set():
    """(Dataset, model, logits table) of the hand-checked set."""
    from emotionkit.data import Dataset

    n = len(HAND_SET)
    table = np.zeros((n, 7), np.float32)
    labels = np.zeros(n, np.int64)
    for i, (true, pred, logit, runner_up) in enumerate(HAND_SET):
        labels[i] = true
        table[i, pred] = logit
        table[i, runner_up] = RUNNER_UP_LOGIT
    ds = Dataset(helpers.indexed_images(n), labels, "PublicTest", source="hand")
    return ds, helpers.IndexedLogits(table), table


@pytest.fixture
def classes_model_registered():
    """Register ``test-eval-classes`` for one test."""
    helpers.register_classes_model()
    yield helpers
    helpers.unregister_classes_model()
