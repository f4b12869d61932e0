"""Resume: Ctrl-C and SIGKILL mid-training, then resume -> bitwise the uninterrupted weights;
NaN losses stop training with the last good checkpoint intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from emotionkit.errors import CheckpointError, TrainingError
from emotionkit.training import EarlyStopping, LambdaCallback, Trainer, TrainingInterrupted
from emotionkit.training.checkpoint import read_checkpoint

HERE = Path(__file__).resolve().parent

# a run that exercises every piece of resume state: Adam moments, a per-step schedule,
# dropout RNG, early-stopping counters and the kept best weights
SETTINGS = dict(epochs=3, batch_size=16, lr=3e-3, optimizer="adam", scheduler="onecycle",
                quiet=True, device="cpu")


def _augment_or_none():
    try:
        from emotionkit.data.augment import AugmentConfig, Augmenter  # noqa: F401
    except ImportError:
        return None
    return "standard"


def _run(model, data, out_dir=None, callbacks=(), **kw):
    cbs = [EarlyStopping(monitor="val_loss", patience=10), *callbacks]
    trainer = Trainer(model, **{**SETTINGS, **kw}, out_dir=out_dir, callbacks=cbs,
                      augment=_augment_or_none())
    return trainer, trainer.fit(*data)


def _strip_seconds(history):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in history.to_dict()["epochs"]]


@pytest.fixture(scope="module")
def reference(tiny_registered, tiny_data):
    """The uninterrupted run: final state dict, history and early-stopping state."""
    import ek_training_tiny as tiny

    trainer, hist = _run(tiny.make(0), tiny_data)
    return ({k: v.clone() for k, v in trainer.model.state_dict().items()}, hist,
            trainer.callbacks[0].state_dict())


def _assert_same_weights(model, ref_state):
    state = model.state_dict()
    assert state.keys() == ref_state.keys()
    for k, v in ref_state.items():
        assert torch.equal(state[k], v), f"{k} differs"


def test_ctrl_c_mid_epoch_then_resume_is_bitwise_identical(reference, tiny_data, tmp_path):
    import ek_training_tiny as tiny

    ref_state, ref_hist, ref_es = reference
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN when started in the background

    def interrupt(trainer, epoch, batch, **kw):
        if epoch == 2 and batch == 2:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    with pytest.raises(TrainingInterrupted) as exc:
        _run(tiny.make(0), tiny_data, tmp_path, [LambdaCallback(on_batch_end=interrupt)])
    assert str(exc.value) == (f"training interrupted at epoch 2, batch 3/6; resume state saved "
                              f"to {tmp_path / 'last.safetensors'}")
    assert signal.getsignal(signal.SIGINT) is handler_before  # handler restored
    _, meta = read_checkpoint(tmp_path / "last.safetensors")
    assert meta["resume"]["epoch"] == 1 and meta["resume"]["partial"]["batch"] == 3
    # resume into a differently initialised model: everything must come from the checkpoint
    trainer, hist = _run(tiny.make(seed=123), tiny_data, tmp_path, resume=True)
    _assert_same_weights(trainer.model, ref_state)
    assert _strip_seconds(hist) == _strip_seconds(ref_hist)
    assert hist.best_epoch == ref_hist.best_epoch
    assert trainer.callbacks[0].state_dict() == ref_es


def test_sigkill_then_resume_is_bitwise_identical(reference, tiny_data, tmp_path):
    """A run killed with SIGKILL in epoch 2 (another process), resumed here."""
    import ek_training_tiny as tiny

    ref_state, ref_hist, _ = reference
    script = tmp_path / "train_and_die.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(HERE)!r})
        import torch
        torch.set_num_threads({torch.get_num_threads()})
        import ek_training_tiny as tiny
        from emotionkit.training import LambdaCallback
        import test_resume as t

        def die(trainer, epoch, batch, **kw):
            if epoch == 2 and batch == 4:
                os.kill(os.getpid(), signal.SIGKILL)

        t._run(tiny.make(0), (tiny.data(96, seed=0), tiny.data(40, seed=1)), {str(tmp_path)!r},
               [LambdaCallback(on_batch_end=die)])
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    _, meta = read_checkpoint(tmp_path / "last.safetensors")
    assert meta["resume"]["epoch"] == 1 and meta["resume"]["partial"] is None
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    trainer, hist = _run(tiny.make(seed=7), tiny_data, tmp_path, resume=True)
    _assert_same_weights(trainer.model, ref_state)
    assert _strip_seconds(hist) == _strip_seconds(ref_hist)


def test_resume_checks(tiny_model, tiny_data, tmp_path):
    with pytest.raises(CheckpointError, match="cannot resume: .* does not exist"):
        Trainer(tiny_model, out_dir=tmp_path, resume=True, quiet=True).fit(*tiny_data)
    hist = Trainer(tiny_model, out_dir=tmp_path, resume="auto", epochs=1, batch_size=32,
                   quiet=True, precision="fp32").fit(*tiny_data)
    assert len(hist) == 1
    with pytest.raises(CheckpointError) as exc:
        Trainer(tiny_model, out_dir=tmp_path, resume=True, epochs=2, batch_size=16,
                quiet=True).fit(*tiny_data)
    assert str(exc.value) == (f"{tmp_path / 'last.safetensors'}: written with batch_size 32, "
                              "this run uses 16")
    with pytest.raises(CheckpointError, match="written for 96 training / 40 validation images, "
                                              "this run has 96 / None"):
        Trainer(tiny_model, out_dir=tmp_path, resume=True, batch_size=32,
                quiet=True).fit(tiny_data[0])
    # a finished run resumed with more epochs continues where it stopped
    hist = Trainer(tiny_model, out_dir=tmp_path, resume=True, epochs=2, batch_size=32,
                   quiet=True, precision="fp32").fit(*tiny_data)
    assert hist["epoch"] == [1, 2]


def test_resume_cannot_stretch_a_per_step_schedule(tiny_model, tiny_data, tmp_path):
    """onecycle over 1 epoch cannot continue for 2: one clear error, not torch's ValueError."""
    kw = dict(out_dir=tmp_path, batch_size=32, quiet=True, precision="fp32",
              scheduler="onecycle")
    Trainer(tiny_model, epochs=1, **kw).fit(*tiny_data)
    with pytest.raises(CheckpointError, match="written for 1 epochs with the per-step "
                                              "'onecycle' schedule, which cannot be stretched "
                                              "to 2; resume with epochs=1"):
        Trainer(tiny_model, epochs=2, resume=True, **kw).fit(*tiny_data)
    hist = Trainer(tiny_model, epochs=1, resume=True, **kw).fit(*tiny_data)  # same: fine
    assert hist["epoch"] == [1]


def test_ctrl_c_without_out_dir(tiny_model, tiny_data):
    def interrupt(trainer, epoch, batch, **kw):
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted) as exc:
        Trainer(tiny_model, quiet=True, batch_size=32,
                callbacks=[LambdaCallback(on_batch_end=interrupt)]).fit(*tiny_data)
    assert str(exc.value) == ("training interrupted at epoch 1, batch 1/3; nothing saved "
                              "(no out_dir)")
    assert exc.value.checkpoint is None


def test_nan_loss_raises_and_keeps_last_good_checkpoint(tiny_model, tiny_data, tmp_path):
    snapshot = {}

    def remember(trainer, epoch, **kw):
        if epoch == 2:
            snapshot["bytes"] = (tmp_path / "last.safetensors").read_bytes()

    def poison(trainer, epoch, batch, **kw):
        if epoch == 2 and batch == 1:
            with torch.no_grad():
                trainer.model.fc.weight.fill_(float("nan"))

    cbs = [LambdaCallback(on_epoch_begin=remember, on_batch_end=poison)]
    trainer = Trainer(tiny_model, epochs=3, batch_size=16, quiet=True, out_dir=tmp_path,
                      callbacks=cbs, precision="fp32")
    with pytest.raises(TrainingError) as exc:
        trainer.fit(*tiny_data)
    assert str(exc.value) == (
        f"training loss became nan at epoch 2, batch 3/6; the last good checkpoint is "
        f"{tmp_path / 'last.safetensors'} (epoch 1). Try a lower learning rate, "
        "precision='fp32' or gradient-friendlier settings")
    assert (tmp_path / "last.safetensors").read_bytes() == snapshot["bytes"]
    tensors, meta = read_checkpoint(tmp_path / "last.safetensors")
    assert meta["resume"]["epoch"] == 1
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if k.startswith("model."))
    assert not (tmp_path / "model.safetensors").exists()


def test_inf_loss_without_checkpoint(tiny_model, tiny_data):
    with torch.no_grad():
        tiny_model.fc.bias.fill_(float("inf"))
    with pytest.raises(TrainingError, match=r"became nan at epoch 1, batch 1/3; no checkpoint "
                                            r"was written \(no out_dir\)"):
        Trainer(tiny_model, batch_size=32, quiet=True).fit(*tiny_data)


def test_deferred_nan_check_names_the_first_bad_batch(tiny_model, tiny_data):
    """The GPU path checks losses in groups; the error still names the first bad batch."""
    seen = []

    def poison(trainer, epoch, batch, loss, **kw):
        seen.append(batch)
        if batch == 1:
            with torch.no_grad():
                trainer.model.fc.weight.fill_(float("nan"))

    trainer = Trainer(tiny_model, epochs=1, batch_size=16, quiet=True, precision="fp32",
                      callbacks=[LambdaCallback(on_batch_end=poison)])
    trainer._defer_checks = True
    with pytest.raises(TrainingError, match="became nan at epoch 1, batch 3/6; no checkpoint"):
        trainer.fit(*tiny_data)
    assert seen == [0, 1, 2, 3, 4, 5]  # the check ran after the group, at the end of the epoch
