"""Evaluator options: memory format and reduced precision keep the answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ek_eval_helpers import Moody

from emotionkit.data import Dataset
from emotionkit.errors import ConfigError
from emotionkit.evaluation import Evaluator


@pytest.fixture(scope="module")
def faces():
    rng = np.random.default_rng(5)
    return Dataset(rng.integers(0, 256, (16, 48, 48), dtype=np.uint8), rng.integers(0, 7, 16))


def _model():
    torch.manual_seed(0)
    model = Moody()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.2, 0.2)
    return model


def test_channels_last_is_automatic_for_conv_models_and_changes_nothing(faces):
    plain = Evaluator(_model(), device="cpu", channels_last=False)
    nhwc = Evaluator(_model(), device="cpu")
    assert nhwc.channels_last and not plain.channels_last
    assert nhwc.model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(nhwc.predict_proba(faces), plain.predict_proba(faces),
                               rtol=1e-5, atol=1e-6)


def test_bf16_is_close_and_fp16_needs_cuda(faces):
    fp32 = Evaluator(_model(), device="cpu").predict_proba(faces)
    bf16 = Evaluator(_model(), device="cpu", precision="bf16").predict_proba(faces)
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(bf16.sum(axis=1), 1.0, rtol=1e-5)
    assert np.abs(bf16 - fp32).max() < 0.05
    with pytest.raises(ConfigError, match="precision 'fp16' is not supported on CPU"):
        Evaluator(_model(), device="cpu", precision="fp16")
    with pytest.raises(ConfigError, match="unknown precision 'int8'"):
        Evaluator(_model(), device="cpu", precision="int8")


@pytest.mark.parametrize("fast_bf16", [True, False])
def test_auto_precision_is_the_trainers_rule(monkeypatch, fast_bf16):
    """One precision rule: the Evaluator resolves "auto" exactly as the Trainer does."""
    from emotionkit import runtime
    from emotionkit.training import Trainer

    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: fast_bf16)
    evaluator = Evaluator(_model(), device="cpu", precision="auto")
    trainer = Trainer(_model(), device="cpu", precision="auto", quiet=True)
    assert evaluator.precision == trainer.precision.name == ("bf16" if fast_bf16 else "fp32")
