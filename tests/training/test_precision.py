"""precision="auto" and channels_last=None decisions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from emotionkit import runtime
from emotionkit.errors import ConfigError
from emotionkit.training import LambdaCallback, Trainer, resolve_channels_last, resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize("fast,expected", [(True, "bf16"), (False, "fp32")])
def test_auto_on_cpu_follows_native_bf16(monkeypatch, fast, expected):
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: fast)
    p = resolve_precision("auto", CPU)
    assert p.name == expected and p.device_type == "cpu" and not p.use_scaler
    assert p.autocast_dtype == (torch.bfloat16 if fast else None)
    assert p.make_scaler() is None


def test_explicit_cpu_precisions(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: False)
    assert resolve_precision("bf16", CPU).name == "bf16"  # asked for: honoured even if slow
    assert resolve_precision("FP32", CPU).name == "fp32"
    with pytest.raises(ConfigError, match="precision 'fp16' is not supported on CPU"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ConfigError, match="unknown precision 'half'"):
        resolve_precision("half", CPU)


@pytest.mark.parametrize("bf16_ok,expected,scaler", [(True, "bf16", False), (False, "fp16", True)])
def test_auto_on_cuda(monkeypatch, bf16_ok, expected, scaler):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)
    p = resolve_precision("auto", torch.device("cuda", 0))
    assert (p.name, p.use_scaler, p.device_type) == (expected, scaler, "cuda")
    if not bf16_ok:
        with pytest.raises(ConfigError, match="does not support bf16"):
            resolve_precision("bf16", torch.device("cuda", 0))


def test_bf16_autocast_really_runs_in_bf16():
    p = resolve_precision("bf16", CPU)
    lin = nn.Linear(4, 3)
    with p.autocast():
        out = lin(torch.ones(2, 4))
    assert out.dtype == torch.bfloat16
    with resolve_precision("fp32", CPU).autocast():
        assert lin(torch.ones(2, 4)).dtype == torch.float32


def test_channels_last_auto():
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    dense = nn.Sequential(nn.Flatten(), nn.Linear(2304, 7))
    assert resolve_channels_last(None, conv, CPU) is True
    assert resolve_channels_last(None, dense, CPU) is False
    assert resolve_channels_last(False, conv, CPU) is False
    assert resolve_channels_last(True, dense, CPU) is True


def test_trainer_uses_the_decisions(monkeypatch, tiny_model, tiny_data):
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: False)
    t = Trainer(tiny_model, device="cpu", quiet=True, epochs=1, batch_size=32)
    assert t.precision.name == "fp32" and t.channels_last
    formats = []

    def check(trainer, **kw):
        formats.append(trainer.model.conv.weight.is_contiguous(memory_format=torch.channels_last))

    t.callbacks.append(LambdaCallback(on_epoch_end=check))
    t.fit(tiny_data[0])
    assert formats == [True]  # trained in NHWC, handed back in the ordinary format
    assert tiny_model.conv.weight.is_contiguous()
    assert t.train_args()["precision"] == "fp32" and t.train_args()["channels_last"] is True
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: True)
    assert Trainer(tiny_model, device="cpu").precision.name == "bf16"
