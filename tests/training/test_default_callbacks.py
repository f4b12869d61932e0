"""The Trainer's own callbacks (best epoch, progress bar, epoch log) and the resume module."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from emotionkit.training import LambdaCallback, Trainer, resume
from emotionkit.training.callbacks import BestModel, EpochLog, ProgressBar


class FakeBar:
    """Stands in for tqdm and records what the progress bar and the log do."""

    events: list = []

    def __init__(self, **kw):
        self.events.append(("open", kw["total"], kw["initial"], kw["desc"]))

    def update(self, n):
        self.events.append(("update", n))

    def set_postfix(self, **kw):
        self.events.append(("postfix",))

    def close(self):
        self.events.append(("close",))

    @classmethod
    def write(cls, line, file=None):
        cls.events.append(("log", line))


@pytest.fixture
def fake_tqdm(monkeypatch):
    FakeBar.events = []
    monkeypatch.setattr("tqdm.tqdm", FakeBar)
    return FakeBar.events


def _trainer(model, **kw):
    kw = {"epochs": 2, "batch_size": 40, "lr": 3e-3, "device": "cpu", "precision": "fp32",
          "progress": True, **kw}
    return Trainer(model, **kw)


def test_defaults_are_not_user_callbacks(tiny_model):
    user = LambdaCallback()
    trainer = _trainer(tiny_model, callbacks=[user], early_stopping=3)
    assert [type(cb).__name__ for cb in trainer.callbacks] == ["LambdaCallback", "EarlyStopping"]
    assert trainer.options["callbacks"] == ["LambdaCallback", "EarlyStopping"]
    order = [type(cb) for cb in trainer._all_callbacks()]
    assert order[0] is BestModel and order[-2:] == [ProgressBar, EpochLog]


def test_progress_bar_counts_every_image_and_log_follows(tiny_model, tiny_data, fake_tqdm):
    _trainer(tiny_model).fit(*tiny_data)  # 96 images, batches of 40, 40, 16
    opens = [e for e in fake_tqdm if e[0] == "open"]
    assert opens == [("open", 96, 0, "epoch 1/2"), ("open", 96, 0, "epoch 2/2")]
    first = fake_tqdm[:fake_tqdm.index(("close",)) + 1]
    assert [e[1] for e in first if e[0] == "update"] == [40, 40, 16]
    assert ("postfix",) in first
    logs = [e[1] for e in fake_tqdm if e[0] == "log"]
    assert len(logs) == 2 and logs[0].startswith("epoch 1/2  train_loss ")
    assert fake_tqdm[len(first)][0] == "log"  # bar closed, then the epoch's line


def test_quiet_shows_nothing(tiny_model, tiny_data, fake_tqdm):
    _trainer(tiny_model, quiet=True).fit(*tiny_data)
    assert fake_tqdm == []


def test_bar_closed_when_the_epoch_fails(tiny_model, tiny_data, fake_tqdm):
    def boom(trainer, epoch, batch, **kw):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _trainer(tiny_model, callbacks=[LambdaCallback(on_batch_end=boom)]).fit(*tiny_data)
    assert fake_tqdm[-1] == ("close",)


def test_user_callbacks_see_the_best_epoch_and_log_follows_the_files(tiny_model, tiny_data,
                                                                     tmp_path, monkeypatch):
    seen, logged = [], []

    def on_epoch_end(trainer, epoch, record, **kw):
        seen.append((epoch, trainer.history.best_epoch, trainer.epoch))

    def write(line, file=None):  # the epoch's line: history.json already holds its epoch
        logged.append(len(json.loads((tmp_path / "history.json").read_text())["epochs"]))

    monkeypatch.setattr("tqdm.tqdm.write", write)
    _trainer(tiny_model, out_dir=tmp_path, progress=False,
             callbacks=[LambdaCallback(on_epoch_end=on_epoch_end)]).fit(*tiny_data)
    assert seen[0] == (1, 1, 0)  # best epoch already marked; the epoch not yet counted
    assert logged == [1, 2]


def test_best_model_keeps_weights_only_when_measured(tiny_model, tiny_data):
    trainer = _trainer(tiny_model, quiet=True, epochs=1)
    trainer.fit(tiny_data[0])  # no validation data, monitor val_acc: nothing to keep
    assert trainer._best.state is None
    trainer = _trainer(tiny_model, quiet=True, epochs=1, monitor="train_loss")
    trainer.fit(tiny_data[0])
    assert trainer._best.state is not None and trainer.history.best_epoch == 1


def test_rng_state_round_trip():
    state = resume.rng_state(torch.device("cpu"))
    a = (torch.rand(3), np.random.rand(), random.random())
    resume.set_rng_state(state, torch.device("cpu"))
    b = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_last_name_is_one_constant():
    from emotionkit.training import trainer

    assert trainer.LAST_NAME == resume.LAST_NAME == "last.safetensors"
