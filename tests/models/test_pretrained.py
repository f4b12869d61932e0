"""Shipped weights: metadata checked against the built model, sha256 on load, clear refusals."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

import emotionkit as ek
from emotionkit.data.classes import CLASS_NAMES
from emotionkit.errors import CheckpointError, ConfigError, UnknownModelError
from emotionkit.models import count_params, pretrained
from emotionkit.testing.weights import clear_caches


def test_compact_ships_with_complete_metadata():
    assert "compact" in pretrained.available()
    meta = pretrained.metadata("compact")
    for key in pretrained.META_FIELDS:
        assert key in meta, key
    model = ek.ModelZoo.create("compact", pretrained=True)
    assert not model.training
    assert meta["class_names"] == list(CLASS_NAMES)
    assert meta["params"] == count_params(model)["total"]
    assert meta["model_config"] == model.emotionkit_config
    assert meta["model_config"] == ek.ModelZoo.resolve_config("compact")
    acc = meta["accuracy"]
    assert 0.6 < acc["publictest"] <= 1 and 0.6 < acc["publictest_flip"] <= 1
    assert 0.6 < acc["publictest_tencrop"] <= 1
    train = meta["training"]
    assert train["command"].startswith("emotionkit train ")
    assert "--model compact" in train["command"]
    assert isinstance(train["seed"], int) and train["wall_seconds"] > 0 and train["hardware"]
    assert meta["dataset"]["selected_on"] == "PublicTest"
    assert meta["dataset"]["train_split"] == "Training"
    path = pretrained._weights_dir() / meta["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"]
    norm = meta["preprocessing"]["normalization"]
    assert float(model.input_norm.mean) == pytest.approx(norm["mean"])
    assert float(model.input_norm.std) == pytest.approx(norm["std"])


def test_default_is_the_best_shipped():
    ranked = pretrained.available()
    assert pretrained.default_name() == ranked[0]
    accs = [pretrained.metadata(n)["accuracy"]["publictest_tencrop"] for n in ranked]
    assert accs == sorted(accs, reverse=True)


def test_fake_weights_load_exactly(fake_weights):
    from emotionkit._checkpoint import read_checkpoint

    tensors, _ = read_checkpoint(fake_weights)
    model = ek.ModelZoo.create("compact", pretrained=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, tensors[k]), k
    assert model.emotionkit_meta["pretrained"]["accuracy"]["publictest_tencrop"] == 0.52


def test_tampered_file_is_refused(fake_weights):
    data = bytearray(fake_weights.read_bytes())
    data[-3] ^= 0xFF
    fake_weights.write_bytes(bytes(data))
    clear_caches()
    with pytest.raises(CheckpointError, match="sha256 .* does not match"):
        ek.ModelZoo.create("compact", pretrained=True)


def test_missing_file_and_bad_index(fake_weights):
    fake_weights.unlink()
    clear_caches()
    with pytest.raises(CheckpointError, match="missing"):
        pretrained.load("compact")
    (fake_weights.parent / "index.json").write_text("{not json")
    clear_caches()
    with pytest.raises(CheckpointError, match="not valid JSON"):
        pretrained.available()


def test_names_without_weights(fake_weights):
    with pytest.raises(UnknownModelError, match="no pretrained weights; models with weights: "
                                                "compact"):
        ek.ModelZoo.create("hw17-cnn", pretrained=True)
    with pytest.raises(UnknownModelError, match="unknown model"):
        ek.ModelZoo.create("compcat", pretrained=True)


def test_options_must_match_the_shipped_config(fake_weights):
    assert ek.ModelZoo.create("compact", pretrained=True, width=0.125) is not None
    with pytest.raises(ConfigError, match="width=0.125"):
        ek.ModelZoo.create("compact", pretrained=True, width=1.0)
    with pytest.raises(ConfigError, match="seed"):
        ek.ModelZoo.create("compact", pretrained=True, seed=3)


def test_cli_list_and_info(fake_weights):
    from click.testing import CliRunner

    from emotionkit.cli.main import cli

    res = CliRunner().invoke(cli, ["models", "list"])
    assert res.exit_code == 0
    header, *rows = res.output.splitlines()
    assert header.split()[:3] == ["NAME", "PARAMS", "WEIGHTS"]
    marked = {r.split()[0]: r.split()[2] for r in rows}
    assert marked["compact"] == "yes" and marked["hw17-cnn"] == "-"
    res = CliRunner().invoke(cli, ["models", "list", "--json"])
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert rows["compact"]["pretrained"] and rows["compact"]["publictest_tencrop"] == 0.52
    res = CliRunner().invoke(cli, ["models", "info", "compact"])
    assert res.exit_code == 0
    assert "PublicTest:  0.5000 (no TTA), 0.5100 (flip), 0.5200 (ten-crop)" in res.output
    assert "trained:     emotionkit train --model compact" in res.output
    res = CliRunner().invoke(cli, ["models", "info", "compact", "--json"])
    assert json.loads(res.output)["weights"]["sha256"]
    res = CliRunner().invoke(cli, ["models", "info", "hw17-cnn"])
    assert "weights:     none shipped" in res.output
