"""Checkpoints: round trip, metadata, refusal of pickles and damaged files, atomic writes."""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

import emotionkit
from emotionkit.errors import CheckpointError
from emotionkit.training import History, load, read_checkpoint, save
from emotionkit.training.checkpoint import pack_state, unpack_state, write_checkpoint


def _meta_bytes(meta: dict, tensors=None) -> bytes:
    tensors = tensors if tensors is not None else {"w": torch.zeros(2)}
    return st_save(tensors, metadata={"emotionkit": json.dumps(meta)})


@pytest.fixture
def saved(tiny_model, tmp_path):
    tiny_model.input_norm.set_stats(0.4, 0.2)
    with torch.no_grad():
        tiny_model.bn.running_mean.uniform_(-1, 1)
    hist = History("test-tiny", epochs=[{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5,
                                         "lr": 0.1, "seconds": 2.0}], best_epoch=None)
    path = tmp_path / "model.safetensors"
    save(tiny_model, path, history=hist, train_args={"lr": 0.1})
    return tiny_model, path


def test_round_trip_identical_outputs(saved):
    model, path = saved
    loaded = load(path.parent)  # a run directory means its model.safetensors
    assert type(loaded).__name__ == "Tiny" and not loaded.training
    x = torch.rand(6, 1, 48, 48)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    meta = loaded.emotionkit_meta
    assert meta["kind"] == "model" and meta["model_name"] == "test-tiny"
    assert meta["model_config"] == {"width": 4, "dropout": 0.2}
    assert meta["class_names"] == list(emotionkit.CLASS_NAMES)
    assert meta["normalization"] == pytest.approx({"mean": 0.4, "std": 0.2})
    assert meta["history"]["epochs"][0]["train_loss"] == 1.0
    assert meta["train_args"] == {"lr": 0.1}
    assert meta["versions"]["torch"] == torch.__version__
    assert meta["versions"]["emotionkit"] == emotionkit.__version__
    assert emotionkit.load is load


def test_load_into_given_model_and_outside_zoo(saved, tmp_path):
    from ek_training_tiny import Tiny

    model, path = saved
    target = Tiny()
    assert load(path, model=target) is target
    assert torch.equal(target.fc.weight, model.fc.weight)
    plain = Tiny()  # no emotionkit_name: only load(model=...) can read it
    save(plain, tmp_path / "plain.safetensors")
    with pytest.raises(CheckpointError, match="outside the ModelZoo; rebuild the model"):
        load(tmp_path / "plain.safetensors")
    assert torch.equal(load(tmp_path / "plain.safetensors", model=Tiny()).fc.bias, plain.fc.bias)


class _Evil:
    """Unpickling this object would create a file (the classic pickle attack)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Evil(marker), protocol=4))
    pt = tmp_path / "evil.pt"
    torch.save({"state": _Evil(marker)}, pt)  # zip archive holding a pickle
    legacy = tmp_path / "weights.safetensors"  # a pickle disguised by its name
    legacy.write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    assert not marker.exists()
    with pytest.raises(CheckpointError) as exc:
        load(raw)
    assert str(exc.value) == (
        f"{raw}: not an emotionkit checkpoint: the file is a Python pickle "
        "(torch.save/.pt/.pth/.pkl); emotionkit never unpickles files (they can run code). "
        "Save weights with emotionkit.save() or safetensors instead")
    with pytest.raises(CheckpointError, match=r"the file is a zip archive \(the torch.save/.pt"):
        load(pt)
    with pytest.raises(CheckpointError, match="the file is a Python pickle"):
        load(legacy)
    assert not marker.exists()
    # sanity check of the test itself: unpickling really would have created the file
    pickle.loads(raw.read_bytes()).close()
    assert marker.exists()


@pytest.mark.parametrize("content,message", [
    (b"", "not a safetensors file (only 0 bytes)"),
    (b"hello world, this is text", "not a safetensors file (invalid header)"),
    (struct.pack("<Q", 5) + b"{nope", "not a safetensors file (invalid header)"),
])
def test_garbage_is_refused(tmp_path, content, message):
    p = tmp_path / "x.safetensors"
    p.write_bytes(content)
    with pytest.raises(CheckpointError) as exc:
        load(p)
    assert str(exc.value) == f"{p}: {message}"


def test_missing_and_directory(tmp_path):
    with pytest.raises(CheckpointError) as exc:
        load(tmp_path / "nope.safetensors")
    assert str(exc.value) == f"checkpoint not found: {tmp_path / 'nope.safetensors'}"
    with pytest.raises(CheckpointError, match="a directory without model.safetensors"):
        load(tmp_path)


def test_truncated_file(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[:-100])
    with pytest.raises(CheckpointError) as exc:
        load(cut)
    assert str(exc.value) == (f"{cut}: truncated checkpoint ({len(data) - 100} bytes, the "
                              f"header describes {len(data)})")
    cut.write_bytes(data[:40])
    with pytest.raises(CheckpointError, match="truncated safetensors file"):
        load(cut)


def test_flipped_byte_fails_checksum(saved, tmp_path):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as exc:
        load(bad)
    assert str(exc.value) == f"{bad}: tensor data does not match its checksum (file corrupted)"


@pytest.mark.parametrize("meta,message", [
    (None, "a safetensors file without emotionkit metadata; not an emotionkit checkpoint"),
    ({"format": "other"}, "emotionkit metadata lacks the format tag 'emotionkit.checkpoint'; "
                          "not an emotionkit checkpoint"),
    ({"format": "emotionkit.checkpoint", "version": 99, "kind": "model"},
     "checkpoint format version 99 is newer than this emotionkit reads (1); upgrade emotionkit"),
    ({"format": "emotionkit.checkpoint", "version": 1, "kind": "weird"},
     "unknown checkpoint kind 'weird'"),
    ({"format": "emotionkit.checkpoint", "version": 1, "kind": "model", "model_name": "nonet",
      "model_config": {}}, "model 'nonet' is not in this emotionkit's ModelZoo"),
    ({"format": "emotionkit.checkpoint", "version": 1, "kind": "model",
      "model_name": "test-tiny", "model_config": {"width": 4, "colour": 1}},
     "the stored config of model 'test-tiny' does not build: unknown option 'colour'"),
])
def test_wrong_metadata(tmp_path, tiny_registered, meta, message):
    p = tmp_path / "m.safetensors"
    if meta is None:
        p.write_bytes(st_save({"w": torch.zeros(2)}))
    else:
        p.write_bytes(_meta_bytes(meta))
    with pytest.raises(CheckpointError) as exc:
        load(p)
    assert str(exc.value).startswith(f"{p}: {message}")


def test_weights_must_match_exactly(saved, tmp_path):
    model, path = saved
    tensors, meta = read_checkpoint(path)
    wrong = dict(tensors)
    wrong["fc.weight"] = torch.zeros(7, 10)
    del wrong["bn.running_var"]
    wrong["extra.weight"] = torch.zeros(1)
    meta = {k: v for k, v in meta.items() if k not in ("format", "version", "versions",
                                                      "payload_sha256")}
    p = tmp_path / "wrong.safetensors"
    write_checkpoint(p, wrong, meta)
    with pytest.raises(CheckpointError) as exc:
        load(p)
    assert str(exc.value) == (
        f"{p}: weights do not match the model: missing 1 tensor(s) (bn.running_var); "
        "1 unexpected tensor(s) (extra.weight); fc.weight has shape (7, 10) in the file, the "
        "model expects (7, 144)")


def test_atomic_write_keeps_old_file_on_failure(saved, monkeypatch):
    model, path = saved
    before = path.read_bytes()
    with torch.no_grad():
        model.fc.weight.add_(1.0)

    def broken_fsync(fd):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        save(model, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.safetensors"]  # no temp file
    save(model, path)
    assert torch.equal(load(path).fc.weight, model.fc.weight)


def test_resume_kind_loads_as_model(tiny_model, tiny_data, tmp_path):
    from emotionkit.training import Trainer

    Trainer(tiny_model, epochs=1, batch_size=32, quiet=True, device="cpu", precision="fp32",
            out_dir=tmp_path, restore_best=False).fit(*tiny_data)
    last = load(tmp_path / "last.safetensors")
    assert last.emotionkit_meta["kind"] == "model" and last.emotionkit_meta["from_resume_state"]
    assert torch.equal(last.fc.weight, tiny_model.fc.weight)
    with pytest.raises(CheckpointError, match="a 'model' checkpoint, expected resume"):
        read_checkpoint(tmp_path / "model.safetensors", kinds=("resume",))


def test_pack_state_round_trip():
    tensors = {}
    state = {"state": {0: {"step": torch.tensor(3.0), "buf": torch.arange(4)}},
             "groups": [{"betas": (0.9, 0.999), "lr": 0.1, "flag": None, "inf": float("inf")}],
             "np": np.random.RandomState(1).get_state(), "__odd": 1}
    packed = pack_state(state, "opt", tensors)
    json.dumps(packed, allow_nan=False)  # pure JSON
    back = unpack_state(json.loads(json.dumps(packed)), tensors)
    assert back["state"][0]["step"].item() == 3.0 and torch.equal(back["state"][0]["buf"],
                                                                   torch.arange(4))
    assert back["groups"][0]["betas"] == (0.9, 0.999) and back["groups"][0]["inf"] == float("inf")
    assert back["np"][0] == "MT19937" and back["np"][1].dtype == np.uint32
    assert np.array_equal(back["np"][1], state["np"][1]) and back["__odd"] == 1
    with pytest.raises(CheckpointError, match="cannot store state value of type function"):
        pack_state({"f": lambda: 0}, "x", {})


def test_checkpoint_inside_zip_is_not_a_zip(saved):
    _, path = saved
    assert not zipfile.is_zipfile(path)  # safetensors, not torch.save's zip format


@pytest.mark.parametrize("config, message", [
    ({"width": 64.0}, "parameters and buffers (more than the 500,000,000 accepted)"),
    ({"depth": [1, 2, 2, 400]}, "weights do not match the model: missing"),
])
def test_hostile_config_is_refused_before_anything_is_allocated(tmp_path, monkeypatch, config,
                                                                message):
    """A 2 KB file whose metadata asks for a giant model must not build it for real."""
    import dataclasses

    from emotionkit.models import ModelZoo, registry

    small = ModelZoo.create("compact", width=0.125)
    p = tmp_path / "hostile.safetensors"
    save(small, p)
    tensors, meta = read_checkpoint(p)
    meta = {k: v for k, v in meta.items() if k not in ("format", "version", "versions",
                                                      "payload_sha256")}
    meta["model_config"] = {**meta["model_config"], **config}
    write_checkpoint(p, tensors, meta)
    entry = registry._REGISTRY["compact"]
    devices = []

    def spy(**kwargs):
        devices.append(torch.empty(0).device.type)  # "meta" inside the safe pre-build
        return entry.builder(**kwargs)

    monkeypatch.setitem(registry._REGISTRY, "compact", dataclasses.replace(entry, builder=spy))
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load(p)
    assert devices == ["meta"]  # built once, on the meta device, and never for real
