"""Input coercion, target resolution, and the Explanation object (display, JSON, files)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emotionkit import explain
from emotionkit.data import Dataset
from emotionkit.errors import ConfigError, ExplainError, UnknownNameError
from emotionkit.explain.display import normalize_maps, top_k_mask
from emotionkit.explain.inputs import as_batch, parse_target
from emotionkit.testing import TinyCNN


# ----------------------------------------------------------------------------- inputs
def test_as_batch_accepts_every_documented_form():
    u8 = np.arange(2 * 48 * 48, dtype=np.uint8).reshape(2, 48, 48)
    expected = torch.from_numpy(u8).float().div(255).unsqueeze(1)
    for value in (u8, u8[:, None], torch.from_numpy(u8), list(u8), Dataset(u8)):
        out = as_batch(value)
        assert out.shape == (2, 1, 48, 48) and out.dtype == torch.float32
        torch.testing.assert_close(out, expected)
    assert as_batch(u8[0]).shape == (1, 1, 48, 48)
    data = Dataset(u8, np.array([1, 2]))
    assert as_batch(data[1:]).shape == (1, 1, 48, 48)


def test_as_batch_is_a_detached_copy():
    x = torch.rand(2, 1, 5, 5, requires_grad=True)
    out = as_batch(x)
    assert not out.requires_grad and out.data_ptr() != x.data_ptr()
    out.add_(1)
    assert float(x.detach().max()) <= 1.0


@pytest.mark.parametrize("bad, message", [
    (torch.rand(2, 1, 4, 4) * 255, "look like 0..255"),
    (torch.rand(2, 1, 4, 4) - 0.5, r"must be in \[0, 1\]"),
    (torch.full((1, 4, 4), float("nan")), "NaN"),
    (np.zeros((2, 1, 1, 4, 4)), "must have shape"),
    (np.zeros((0, 48, 48), np.uint8), "empty"),
    (np.full((1, 4, 4), 300, np.int32), "0..255"),
    ("face.png", "must be a tensor"),
])
def test_as_batch_rejects_bad_input_clearly(bad, message):
    with pytest.raises(ConfigError, match=message):
        as_batch(bad)


def test_parse_target_forms():
    assert parse_target(None, 3) is None
    assert parse_target("predicted", 3) is None
    assert parse_target("happy", 2).tolist() == [3, 3]
    assert parse_target("Surprised", 1).tolist() == [5]
    assert parse_target(2, 2).tolist() == [2, 2]
    assert parse_target("4", 1).tolist() == [4]
    assert parse_target(["sad", 0, torch.tensor(6)], 3).tolist() == [4, 0, 6]
    assert parse_target(np.array([1, 2]), 2).tolist() == [1, 2]
    assert parse_target(["b", "A"], 2, class_names=("a", "b")).tolist() == [1, 0]
    with pytest.raises(ConfigError, match="got 2 targets for 3 images"):
        parse_target([1, 2], 3)
    with pytest.raises(UnknownNameError, match="did you mean 'happy'"):
        parse_target("hapy", 1)
    with pytest.raises(ConfigError):
        parse_target(True, 1)


def test_out_of_range_target_is_an_error_never_replaced():
    model = TinyCNN()  # 3 classes
    with pytest.raises(ConfigError, match=r"target 5 for image 1 is outside 0..2"):
        explain.run("saliency", model, torch.rand(2, 1, 4, 4), target=[0, 5])
    result = explain.run("saliency", model, torch.rand(2, 1, 4, 4), target=[2, 1])
    assert result.targets.tolist() == [2, 1]


def test_unknown_option_lists_valid_ones():
    with pytest.raises(ConfigError, match="saliency: unknown option 'absolut'; did you mean "
                                          "'absolute'"):
        explain.run("saliency", TinyCNN(), torch.rand(1, 1, 4, 4), absolut=False)


def test_model_must_be_a_module():
    with pytest.raises(ConfigError, match="torch.nn.Module"):
        explain.run("saliency", lambda x: x, torch.rand(1, 1, 4, 4))


# ----------------------------------------------------------------------------- display
def test_normalize_modes():
    maps = torch.tensor([[[[-2.0, 0.0], [1.0, 3.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    mm = normalize_maps(maps, "minmax")  # unsigned: |m| then min-max per image
    torch.testing.assert_close(mm[0, 0], torch.tensor([[2 / 3, 0.0], [1 / 3, 1.0]]))
    assert torch.equal(mm[1], torch.zeros(1, 2, 2))  # constant map -> zeros, no NaN
    signed = normalize_maps(maps, "minmax", signed=True)
    torch.testing.assert_close(signed[0, 0], torch.tensor([[-2 / 3, 0.0], [1 / 3, 1.0]]))
    batch = normalize_maps(maps * torch.tensor([1.0, 0.0]).reshape(2, 1, 1, 1) + 0.0,
                           "abs-max", per="batch")
    assert float(batch.max()) == 1.0
    raw = normalize_maps(maps, "none")
    assert torch.equal(raw, maps) and raw.data_ptr() != maps.data_ptr()
    big = torch.arange(100.0).reshape(1, 1, 10, 10)
    pct = normalize_maps(big, "percentile", clip=(10, 90))
    assert float(pct.min()) == 0.0 and float(pct.max()) == 1.0
    assert int((pct == 1.0).sum()) == 10  # the top 10 % are clipped to 1
    with pytest.raises(ConfigError, match="unknown normalization"):
        normalize_maps(maps, "zscore")


def test_top_k_mask_keeps_exactly_k_pixels():
    maps = torch.arange(16.0).reshape(1, 1, 4, 4)
    mask = top_k_mask(maps, 0.25)
    assert int(mask.sum()) == 4 and mask[0, 0, 3].all()
    with pytest.raises(ConfigError):
        top_k_mask(maps, 0.0)


# ----------------------------------------------------------------------------- explanation
def test_explanation_numbers_masked_and_files(tmp_path):
    model = TinyCNN()
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    result = explain.run("integrated-gradients", model, x, target="0", steps=8)
    masked = result.masked(top_k=0.25)
    kept = (masked != 0).flatten(1).sum(1)
    assert kept.tolist() == [9, 9]
    data = json.loads(result.to_json())
    assert data["method"] == "integrated-gradients"
    assert data["options"]["steps"] == 8 and data["options"]["baseline"] == 0.0
    item = data["items"][1]
    assert item["target"] == 0 and {"logit", "probability", "map"} <= set(item)
    assert len(data["extras"]["completeness_error"]) == 2
    files = result.save(tmp_path / "out")
    names = sorted(p.name for p in files)
    for i in ("000", "001"):
        for kind in ("original", "heatmap", "overlay", "masked"):
            assert f"{i}-{kind}.png" in names
    assert {"summary.png", "maps.npz", "explanation.json"} <= set(names)
    with np.load(tmp_path / "out" / "maps.npz") as saved:
        np.testing.assert_array_equal(saved["maps"], result.maps.numpy())
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_other_kinds_save_and_plot(tmp_path):
    model = TinyCNN(reuse=True)
    layers = explain.run("layer-outputs", model, torch.rand(2, 1, 6, 6), layer="conv")
    files = [p.name for p in layers.save(tmp_path / "layers")]
    assert "000-conv.png" in files and "001-original.png" in files
    with pytest.raises(ExplainError, match="needs attribution maps"):
        layers.masked()
    synth = explain.run("activation-max", model, layer="mix", steps=3, input_shape=(1, 8, 8))
    files = [p.name for p in synth.save(tmp_path / "synth")]
    assert {"channel-000.png", "channel-001.png", "grid.png"} <= set(files)
    assert synth.plot() is not None
    assert synth.to_dict()["items"][0]["activation"] == pytest.approx(
        float(synth.scores["activation"][0]))


def test_dense_layer_outputs_save(tmp_path):
    result = explain.run("layer-outputs", TinyCNN(), torch.rand(1, 1, 5, 5), layer=["conv", "fc"])
    assert result.maps["fc"].shape == (1, 3)
    names = [p.name for p in result.save(tmp_path)]
    assert "000-fc.png" in names
