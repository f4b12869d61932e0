"""Trainer API: fit, history, callbacks, optimizers, schedulers, regularizers, early stopping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import emotionkit
from emotionkit.errors import ConfigError
from emotionkit.training import Callback, EarlyStopping, History, LambdaCallback, Trainer
from emotionkit.training.trainer import epoch_permutation


def _trainer(model, **kw):
    kw.setdefault("epochs", 2)
    kw.setdefault("batch_size", 32)
    kw.setdefault("quiet", True)
    kw.setdefault("device", "cpu")
    kw.setdefault("precision", "fp32")
    return Trainer(model, **kw)


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, trainer, **kw):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, trainer, epoch, **kw):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, trainer, epoch, batch, loss, **kw):
        assert loss.ndim == 0 and math.isfinite(float(loss))
        self.calls.append(("batch", epoch, batch))

    def on_epoch_end(self, trainer, epoch, record, **kw):
        assert record["epoch"] == epoch
        self.calls.append(("epoch_end", epoch))

    def on_train_end(self, trainer, **kw):
        self.calls.append(("train_end",))


def test_fit_history_and_callback_order(tiny_model, tiny_data):
    train, val = tiny_data
    rec = Recorder()
    trainer = _trainer(tiny_model, callbacks=[rec], epochs=3, lr=1e-2)
    history = trainer.fit(train, val)
    assert isinstance(history, History) and history is trainer.history
    assert len(history) == 3 and history["epoch"] == [1, 2, 3]
    d = history.to_dict()
    assert set(d) == {"model_name", "epochs", "best_epoch", "monitor"}
    assert d["model_name"] == "test-tiny" and d["monitor"] == "val_acc"
    for e in d["epochs"]:
        assert set(e) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                          "seconds"}
        assert 0 <= e["train_acc"] <= 1 and 0 <= e["val_acc"] <= 1 and e["seconds"] > 0
        assert e["lr"] == pytest.approx(1e-2)
    # the tiny task is learnable: loss falls
    assert history["train_loss"][-1] < history["train_loss"][0]
    # 96 images / batch 32 = 3 steps per epoch; hooks run in order
    expected = [("train_begin",)]
    for ep in (1, 2, 3):
        expected += [("epoch_begin", ep)] + [("batch", ep, b) for b in range(3)]
        expected += [("epoch_end", ep)]
    assert rec.calls == expected + [("train_end",)]
    # val metrics agree with a direct evaluation of the final (restored-best) model
    best = history.best
    assert best is not None and best["val_acc"] == max(history["val_acc"])
    again = trainer.evaluate(val)
    assert again["acc"] == pytest.approx(best["val_acc"])
    assert again["loss"] == pytest.approx(best["val_loss"], rel=1e-5)


def test_train_metrics_match_hand_count(tiny_model):
    """With lr ~ 0 the weights do not move, so train accuracy equals an eval-mode count
    (no dropout: p=0) over all images, and the epoch mean loss equals the mean batch loss."""
    from ek_training_tiny import Tiny, data

    model = Tiny(dropout=0.0)
    x, y = data(64)
    trainer = _trainer(model, epochs=1, batch_size=64, optimizer="sgd", lr=1e-12)
    hist = trainer.fit((x, y))
    # BatchNorm in train mode normalizes with batch statistics: one batch = the whole set
    model.train()
    with torch.no_grad():
        logits = model(x.float() / 255)
    assert hist[0]["train_loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, y)),
                                                  rel=1e-5)
    assert hist[0]["train_acc"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert hist[0]["val_loss"] is None and hist.best_epoch is None


def test_input_norm_stats_set_from_train(tiny_model, tiny_data):
    train, _ = tiny_data
    _trainer(tiny_model, epochs=1).fit(train)
    xs = train[0].double() / 255
    assert float(tiny_model.input_norm.mean) == pytest.approx(float(xs.mean()), rel=1e-5)
    assert float(tiny_model.input_norm.std) == pytest.approx(float(xs.std(unbiased=False)),
                                                             rel=1e-4)


def test_fit_on_dataset_object(tiny_model):
    ds = emotionkit.Dataset.load("synthetic:3")
    hist = _trainer(tiny_model, epochs=1, batch_size=8).fit(ds.split("Training"),
                                                             ds.split("PublicTest"))
    assert hist[0]["val_acc"] is not None


def test_should_stop_from_callback(tiny_model, tiny_data):
    def stop(trainer, epoch, **kw):
        if epoch == 2:
            trainer.should_stop = True

    hist = _trainer(tiny_model, epochs=5, callbacks=[LambdaCallback(on_epoch_end=stop)]).fit(
        tiny_data[0])
    assert len(hist) == 2


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                      ("sgd", torch.optim.SGD)])
def test_optimizer_names(tiny_model, tiny_data, name, cls):
    trainer = _trainer(tiny_model, optimizer=name, lr=0.05, weight_decay=1e-3, epochs=1)
    trainer.fit(tiny_data[0])
    assert type(trainer.optimizer) is cls
    group = trainer.optimizer.param_groups[0]
    assert group["lr"] == 0.05 and group["weight_decay"] == 1e-3


def test_optimizer_instance_and_factory(tiny_model, tiny_data):
    opt = torch.optim.SGD(tiny_model.parameters(), lr=0.01)
    trainer = _trainer(tiny_model, optimizer=opt, epochs=1)
    trainer.fit(tiny_data[0])
    assert trainer.optimizer is opt
    trainer = _trainer(tiny_model, optimizer=lambda p: torch.optim.RMSprop(p, lr=1e-3), epochs=1)
    trainer.fit(tiny_data[0])
    assert isinstance(trainer.optimizer, torch.optim.RMSprop)


def test_cosine_and_onecycle_schedules(tiny_model, tiny_data):
    trainer = _trainer(tiny_model, scheduler="cosine", lr=0.1, epochs=3)
    hist = trainer.fit(tiny_data[0])
    lrs = hist["lr"]  # lr at the start of each epoch: 3 steps/epoch of a 9-step cosine
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[1] == pytest.approx(0.05 * (1 + math.cos(math.pi * 3 / 9)))
    assert lrs[2] == pytest.approx(0.05 * (1 + math.cos(math.pi * 6 / 9)))
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    trainer = _trainer(tiny_model, scheduler="onecycle", lr=0.1, epochs=2)
    hist = trainer.fit(tiny_data[0])
    assert isinstance(trainer.scheduler, torch.optim.lr_scheduler.OneCycleLR)
    assert hist["lr"][0] == pytest.approx(0.1 / 25)  # OneCycle starts at max_lr / div_factor


def test_plateau_and_custom_scheduler(tiny_model, tiny_data):
    train, val = tiny_data
    # the optimizer holds a parameter outside the model and there are no BatchNorm statistics,
    # so val_acc cannot change: after the first epoch, 4 bad epochs (> patience 3) halve the lr
    tiny_model.bn = nn.Identity()
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    trainer = _trainer(tiny_model, scheduler="plateau", optimizer=opt, epochs=5)
    hist = trainer.fit(train, val)
    assert isinstance(trainer.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert len(set(hist["val_acc"])) == 1
    assert hist["lr"] == [1.0] * 5
    assert opt.param_groups[0]["lr"] == 0.5
    trainer = _trainer(tiny_model, lr=0.1, epochs=2,
                       scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.1))
    assert trainer.fit(train)["lr"] == pytest.approx([0.1, 0.01])


def test_regularizers_add_hand_computed_penalty(tiny_model):
    l1, l2 = 3e-5, 5e-5
    trainer = _trainer(tiny_model, regularizers={"l1": l1, "l2": l2})
    kernels = [tiny_model.conv.weight, tiny_model.fc.weight]  # 2+-dim params only
    with torch.no_grad():
        expected = sum(l1 * w.abs().sum() + l2 * (w ** 2).sum() for w in kernels)
    assert float(trainer.regularization_penalty().detach()) == pytest.approx(float(expected),
                                                                     rel=1e-6)
    logits = torch.randn(5, 7)
    y = torch.tensor([0, 1, 2, 3, 4])
    plain = nn.functional.cross_entropy(logits, y)
    assert float(trainer.compute_loss(logits, y).detach()) == pytest.approx(float(plain + expected),
                                                                   rel=1e-6)
    # the gradient of the penalty is sign(w)*l1 + 2*l2*w on kernels and nothing on biases
    tiny_model.zero_grad()
    trainer.regularization_penalty().backward()
    w = tiny_model.fc.weight
    assert torch.allclose(w.grad, l1 * w.sign() + 2 * l2 * w.detach(), atol=1e-9)
    assert tiny_model.fc.bias.grad is None and tiny_model.bn.weight.grad is None


def test_regularizers_from_model_attribute(tiny_model):
    assert _trainer(tiny_model).regularizers is None
    tiny_model.regularization = {"l1": 0.0, "l2": 0.5}
    trainer = _trainer(tiny_model)
    assert trainer.regularizers == {"l1": 0.0, "l2": 0.5}
    w = [tiny_model.conv.weight, tiny_model.fc.weight]
    assert float(trainer.regularization_penalty().detach()) == pytest.approx(
        float(sum(0.5 * (p ** 2).sum() for p in w).detach()), rel=1e-6)
    assert _trainer(tiny_model, regularizers=None).regularizers is None


def test_label_smoothing_changes_training_loss(tiny_model):
    logits = torch.tensor([[3.0, 0, 0, 0, 0, 0, 0]])
    y = torch.tensor([0])
    t = _trainer(tiny_model, label_smoothing=0.1)
    # smoothed target: 0.9 + 0.1/7 on class 0, 0.1/7 elsewhere
    logp = torch.log_softmax(logits, 1)[0]
    target = torch.full((7,), 0.1 / 7)
    target[0] += 0.9
    assert float(t.compute_loss(logits, y)) == pytest.approx(float(-(target * logp).sum()))


def test_early_stopping_patience(tiny_model, tiny_data):
    train, val = tiny_data
    es = EarlyStopping(monitor="val_acc", patience=2)
    trainer = _trainer(tiny_model, epochs=10, lr=1e-12, optimizer="sgd", callbacks=[es])
    hist = trainer.fit(train, val)
    # weights cannot move: epoch 1 sets the best, epochs 2 and 3 do not improve -> stop
    assert len(hist) == 3 and es.stopped_epoch == 3 and hist.best_epoch == 1
    trainer = _trainer(tiny_model, epochs=10, lr=1e-12, optimizer="sgd", early_stopping=1)
    assert len(trainer.fit(train, val)) == 2


def test_early_stopping_rules():
    class T:
        should_stop = False

    es = EarlyStopping(monitor="val_loss", patience=2, min_delta=0.1)
    t = T()
    for epoch, v in enumerate([1.0, 0.95, 0.85, 0.8, 0.79], start=1):
        es.on_epoch_end(t, epoch=epoch, record={"val_loss": v})
        if t.should_stop:
            break
    # 0.95 is not 0.1 better than 1.0; 0.85 is (best=0.85); 0.8 and 0.79 are not -> stop at 5
    assert epoch == 5 and es.best == 0.85 and es.stopped_epoch == 5
    state = es.state_dict()
    es2 = EarlyStopping(monitor="val_loss", patience=2)
    es2.load_state_dict(state)
    assert es2.state_dict() == state
    with pytest.raises(ConfigError, match="no validation data"):
        EarlyStopping().on_epoch_end(t, epoch=1, record={"val_acc": None})
    with pytest.raises(ConfigError, match="patience"):
        EarlyStopping(patience=0)


def test_restore_best_weights(tiny_model, tiny_data):
    train, val = tiny_data
    snapshots = {}

    def snap(trainer, epoch, **kw):
        snapshots[epoch] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    cb = LambdaCallback(on_epoch_end=snap)
    trainer = _trainer(tiny_model, epochs=4, lr=0.05, callbacks=[cb], monitor="val_loss")
    hist = trainer.fit(train, val)
    assert hist.best_epoch == min(range(1, 5), key=lambda e: hist["val_loss"][e - 1])
    final = tiny_model.state_dict()
    for k, v in snapshots[hist.best_epoch].items():
        assert torch.equal(final[k], v), k
    # restore_best=False keeps the last epoch
    snapshots.clear()
    trainer = _trainer(tiny_model, epochs=2, lr=0.05, callbacks=[cb], restore_best=False)
    trainer.fit(train, val)
    assert all(torch.equal(tiny_model.state_dict()[k], v) for k, v in snapshots[2].items())


def test_epoch_permutation_is_seeded():
    a = epoch_permutation(50, 3, 1)
    assert torch.equal(a, epoch_permutation(50, 3, 1))
    assert not torch.equal(a, epoch_permutation(50, 3, 2))
    assert not torch.equal(a, epoch_permutation(50, 4, 1))
    assert sorted(a.tolist()) == list(range(50))


def test_last_singleton_batch_is_dropped(tiny_registered):
    from ek_training_tiny import data, make

    rec = Recorder()
    _trainer(make(), epochs=1, batch_size=32, callbacks=[rec]).fit(data(65))  # 32+32+1
    assert [c for c in rec.calls if c[0] == "batch"] == [("batch", 1, 0), ("batch", 1, 1)]


@pytest.mark.parametrize("kw,match", [
    ({"optimizer": "adagrad"}, "unknown optimizer 'adagrad'"),
    ({"scheduler": "cosin"}, "unknown scheduler 'cosin'; did you mean 'cosine'"),
    ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
    ({"batch_size": 2.5}, "batch_size must be an integer >= 1"),
    ({"lr": -1}, "lr must be a number > 0"),
    ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\)"),
    ({"regularizers": {"l3": 1}}, "unknown regularizer"),
    ({"regularizers": {"l1": -1}}, "regularizer 'l1' must be a number >= 0"),
    ({"monitor": "acc"}, "unknown monitor 'acc'"),
    ({"resume": True}, "resume needs out_dir"),
    ({"precision": "fp8"}, "unknown precision 'fp8'"),
    ({"device": "tpu"}, "invalid device 'tpu'"),
])
def test_bad_options(tiny_model, kw, match):
    with pytest.raises(ConfigError, match=match):
        Trainer(tiny_model, **kw)


def test_bad_data(tiny_model):
    t = _trainer(tiny_model)
    x = torch.zeros(4, 1, 48, 48)
    with pytest.raises(ConfigError, match="label 7 at index 2 is outside 0..6"):
        t.fit((x, torch.tensor([0, 1, 7, 2])))
    with pytest.raises(ConfigError, match="4 images but labels of shape"):
        t.fit((x, torch.tensor([0, 1])))
    with pytest.raises(ConfigError, match="has no labels"):
        t.fit(emotionkit.Dataset(torch.zeros(2, 48, 48, dtype=torch.uint8).numpy()))
    with pytest.raises(ConfigError, match="must be an emotionkit Dataset or an"):
        t.fit("train.csv")


def test_augmentation_runs_on_training_batches_only(tiny_model, tiny_data):
    from emotionkit.data.augment import AugmentConfig, Augmenter

    trainer = _trainer(tiny_model, augment="rotation=10,flip", epochs=2)
    assert trainer.augment == AugmentConfig(rotation_range=10, horizontal_flip=True)
    hist = trainer.fit(*tiny_data)
    assert isinstance(trainer.augmenter, Augmenter)
    assert trainer.augmenter.calls == 2 * 3  # one call per training batch, none for validation
    assert trainer.train_args()["augment"]["rotation_range"] == 10
    assert len(hist) == 2
    assert _trainer(tiny_model, augment="none").augment is None
    assert _trainer(tiny_model, augment=AugmentConfig.preset("light")).augment.horizontal_flip
    with pytest.raises(ConfigError, match="unknown augmentation option 'spin'"):
        _trainer(tiny_model, augment="spin=3")


def test_history_json_and_plot(tmp_path):
    h = History("m", monitor="val_loss")
    h.append({"epoch": 1, "train_loss": 2.0, "train_acc": 0.2, "val_loss": 1.5, "val_acc": 0.3,
              "lr": 0.1, "seconds": 1.0})
    h.append({"epoch": 2, "train_loss": 1.0, "train_acc": 0.5, "lr": 0.1, "seconds": 1.0})
    assert h.improved(1.4) and not h.improved(None)
    h.best_epoch = 1
    assert h.improved(1.4) and not h.improved(1.5) and not h.improved(1.45, min_delta=0.1)
    h.save(tmp_path / "h.json")
    back = History.load(tmp_path / "h.json")
    assert back == h and back[1]["val_acc"] is None and back["train_loss"] == [2.0, 1.0]
    with pytest.raises(ValueError, match="expected epoch 3, got 5"):
        h.append({"epoch": 5})
    h.plot(tmp_path / "c.png")
    History().plot(tmp_path / "empty.png")  # no epochs: still a valid figure
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(emotionkit.CheckpointError, match="must be a dict with an 'epochs' list"):
        History.load(tmp_path / "bad.json")


def test_python_trainer_takes_the_zoo_recipe_like_the_cli(tmp_path):
    """``Trainer(ModelZoo.create("compact"))`` resolves the settings `emotionkit train` uses."""
    import json

    from click.testing import CliRunner

    from emotionkit.cli.main import cli
    from emotionkit.models import ModelZoo

    recipe = ModelZoo.get_info("compact").recipe
    trainer = Trainer(ModelZoo.create("compact", seed=0), device="cpu", precision="fp32",
                      quiet=True)
    opts = trainer.options
    for key in ("optimizer", "lr", "weight_decay", "batch_size", "epochs", "scheduler",
                "label_smoothing"):
        assert opts[key] == recipe[key], key
    assert opts["augment"] is not None and opts["augment"]["horizontal_flip"]
    # the CLI writes the same resolved options to run.json
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--data", "synthetic:40", "--model", "compact",
                                      "--epochs", "1", "--set", "width=0.25", "--device", "cpu",
                                      "--precision", "fp32", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    written = json.loads((out / "run.json").read_text())["options"]
    assert {k: v for k, v in written.items() if k != "epochs"} == \
        {k: v for k, v in opts.items() if k != "epochs"}
    # explicit values win over the recipe, and "none" turns the recipe's augmentation off
    plain = Trainer(ModelZoo.create("compact", seed=0), optimizer="adam", augment="none",
                    device="cpu", quiet=True).options
    assert plain["optimizer"] == "adam" and plain["augment"] is None
    assert plain["scheduler"] == recipe["scheduler"]


def test_validation_is_fp32_whatever_the_training_precision(tiny_model, tiny_data):
    """bf16 training validates in fp32, so history and the Evaluator agree on the weights."""
    import torch.nn.functional as F

    train, val = tiny_data
    trainer = _trainer(tiny_model, precision="bf16", epochs=1, restore_best=False)
    record = trainer.fit(train, val)[-1]
    x = torch.as_tensor(val[0]).float().div(255)
    y = torch.as_tensor(val[1]).long()
    with torch.no_grad():
        logits = tiny_model.eval()(x).double()
    assert record["val_loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert record["val_acc"] == pytest.approx((logits.argmax(1) == y).double().mean().item())
