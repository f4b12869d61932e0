"""dnn_matching / match_widths: parameter-matched DNNs, and the generic dnn builder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from emotionkit.errors import ConfigError
from emotionkit.models import ModelZoo, dnn_matching, dnn_param_count, match_widths, summary

SEED_CNNS = ["hw17-cnn", "hw18-cnn", "hw19-cnn"]


def test_dnn_param_count_by_hand():
    # 2304 -> 10 -> 7: (2304 + 1) * 10 + (10 + 1) * 7 = 23,127
    assert dnn_param_count([10]) == 23_127
    assert dnn_param_count([10], batchnorm=True) == 23_127 + 40
    assert dnn_param_count([1024, 512, 512, 256, 256, 128, 64]) == 3_386_503  # hw17-dnn


@pytest.mark.parametrize("name", SEED_CNNS)
@pytest.mark.parametrize("depth", [1, 2, 3, 5, 8])
def test_match_widths_within_tolerance_for_every_seed_cnn(name, depth):
    target = ModelZoo.info(name)["trainable_params"]
    widths = match_widths(name, depth=depth, tolerance=0.01)
    assert len(widths) == depth and all(w >= 1 for w in widths)
    assert abs(dnn_param_count(widths) - target) <= 0.01 * target
    assert match_widths(target, depth=depth) == widths  # deterministic, name or count alike


@pytest.mark.parametrize("name", SEED_CNNS)
def test_dnn_matching_builds_a_matched_zoo_model(name, zoo_model):
    cnn = zoo_model(name)
    target = sum(p.numel() for p in cnn.parameters())
    dnn = dnn_matching(cnn, depth=3, tolerance=0.01, dropout=0.2)
    count = sum(p.numel() for p in dnn.parameters())
    assert abs(count - target) <= 0.01 * target
    assert summary(dnn).total_params == count
    assert dnn.emotionkit_name == "dnn"
    assert dnn.emotionkit_config["hidden"] == match_widths(target, depth=3)
    assert dnn.emotionkit_config["dropout"] == 0.2
    assert dnn(torch.rand(2, 1, 48, 48)).shape == (2, 7)


def test_widths_shrink_geometrically_after_the_first():
    widths = match_widths(2_000_000, depth=4, shrink=0.5)
    assert widths[1:] == [round(widths[1] * 0.5**i) for i in range(3)]


def test_tight_tolerance_is_met_or_refused():
    widths = match_widths(1_919_079, depth=3, tolerance=0.001)
    assert abs(dnn_param_count(widths) - 1_919_079) <= 1919
    # depth 1: counts are 2312*w + 7, so an exact match of 2312*100 + 8 is impossible
    with pytest.raises(ConfigError, match="no 1-hidden-layer DNN comes within"):
        match_widths(2312 * 100 + 8, depth=1, tolerance=0.0)
    assert match_widths(2312 * 100 + 7, depth=1, tolerance=0.0) == [100]


def test_target_below_the_smallest_net_is_refused():
    smallest = dnn_param_count([1, 1, 1])
    with pytest.raises(ConfigError, match=f"smallest one .*already has {smallest:,}"):
        match_widths(1000, depth=3)


@pytest.mark.parametrize("kwargs", [
    {"target": 10**6, "depth": 0}, {"target": 10**6, "tolerance": 1.5},
    {"target": 10**6, "shrink": 0}, {"target": 2.5e6}, {"target": "no-such-net"},
])
def test_bad_arguments_raise_config_or_name_errors(kwargs):
    from emotionkit.errors import EmotionKitError

    with pytest.raises(EmotionKitError):
        match_widths(**kwargs)


def test_dnn_builder_options():
    model = ModelZoo.create("dnn", hidden=[64, 32], activation="prelu", batchnorm=True,
                            dropout=0.1)
    names = [n for n, _ in model.features.named_children()]
    assert names == ["flatten", "fc1", "bn1", "act1", "drop1", "fc2", "bn2", "act2", "drop2"]
    assert isinstance(model.features.act1, nn.PReLU) and model.features.act1.weight.numel() == 64
    assert model.emotionkit_config["hidden"] == [64, 32]
    with pytest.raises(ConfigError, match="option 'hidden' must be a list"):
        ModelZoo.create("dnn", hidden=[64, 0])
    with pytest.raises(ConfigError, match="option 'hidden' must be a list"):
        ModelZoo.create("dnn", hidden=[])
