"""Ensembles: training several members, one-file save/load (the model itself: tests/models)."""

from __future__ import annotations

import pytest
import torch

from emotionkit.errors import CheckpointError, ConfigError
from emotionkit.training import Ensemble, load, save, train_ensemble


def test_train_save_load_ensemble(tiny_registered, tiny_data, tmp_path):
    train, val = tiny_data
    ens = train_ensemble("test-tiny", n=2, train=train, val=val, epochs=1, batch_size=32,
                         quiet=True, precision="fp32")
    assert len(ens) == 2 and len(ens.histories) == 2
    w0, w1 = (m.fc.weight for m in ens.members)
    assert not torch.equal(w0, w1)  # different seeds
    path = tmp_path / "ens.safetensors"
    save(ens, path, train_args={"n": 2})
    loaded = load(path)
    assert isinstance(loaded, Ensemble) and not loaded.training
    meta = loaded.emotionkit_meta
    assert meta["kind"] == "ensemble" and meta["model_name"] == "ensemble"
    assert [m["model_name"] for m in meta["members"]] == ["test-tiny", "test-tiny"]
    assert meta["members"][1]["history"] == ens.histories[1].to_dict()
    assert meta["normalization"] is not None  # same training data -> same statistics
    x = torch.rand(5, 1, 48, 48)
    with torch.no_grad():
        assert torch.equal(ens.eval()(x), loaded(x))
        manual = torch.stack([torch.softmax(m(x), 1) for m in ens.members]).mean(0)
    assert torch.allclose(torch.softmax(loaded(x), 1), manual, atol=1e-6)


def test_train_ensemble_with_factory_and_names(tiny_registered, tiny_data):
    import ek_training_tiny as tiny

    seen = []

    def factory(seed):
        seen.append(seed)
        return tiny.make(seed, width=2)

    ens = train_ensemble(factory, seeds=[5, 9], train=tiny_data[0], epochs=1, quiet=True,
                         precision="fp32")
    assert seen == [5, 9] and ens.members[0].conv.out_channels == 2
    ens = train_ensemble(["test-tiny", "test-tiny"], train=tiny_data[0], epochs=1, quiet=True)
    assert len(ens) == 2
    with pytest.raises(ConfigError, match="got 3 seeds for 2 members"):
        train_ensemble("test-tiny", n=2, seeds=[1, 2, 3], train=tiny_data[0])
    with pytest.raises(ConfigError, match="does not take 'out_dir'"):
        train_ensemble("test-tiny", n=2, train=tiny_data[0], out_dir="x")


def test_ensemble_member_mismatch(tiny_registered, tmp_path):
    import ek_training_tiny as tiny

    save(Ensemble([tiny.make(0), tiny.make(1)]), tmp_path / "e.safetensors")
    with pytest.raises(CheckpointError, match="holds an ensemble of 2 members"):
        load(tmp_path / "e.safetensors", model=Ensemble([tiny.make(0)]))
    wrong = Ensemble([tiny.make(0), tiny.make(1, width=8)])
    with pytest.raises(CheckpointError, match=r"\(member 1\): weights do not match the model"):
        load(tmp_path / "e.safetensors", model=wrong)
