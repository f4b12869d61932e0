"""ModelZoo: names, configuration handling, errors, metadata."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from emotionkit.errors import ConfigError, UnknownModelError
from emotionkit.models import ModelInfo, ModelZoo, register_model
from emotionkit.models import registry as registry_module


def test_list_is_sorted_and_filters_with_patterns():
    names = ModelZoo.list()
    assert names == sorted(names)
    assert ModelZoo.list("hw1*") == ["hw17-cnn", "hw17-dnn", "hw18-cnn", "hw18-dnn",
                                     "hw19-cnn", "hw19-dnn"]
    assert ModelZoo.list("*-CNN") == ["hw17-cnn", "hw18-cnn", "hw19-cnn"]
    assert ModelZoo.list("nothing*") == []


@pytest.mark.parametrize("call", [ModelZoo.create, ModelZoo.info, ModelZoo.get_info])
def test_unknown_name_lists_close_matches(call):
    with pytest.raises(UnknownModelError) as err:
        call("hw17cnn")
    msg = str(err.value)
    assert msg.startswith("unknown model 'hw17cnn'; did you mean 'hw17-cnn'")
    assert "Valid models: compact, dnn, hw17-cnn" in msg
    assert isinstance(err.value, KeyError)  # UnknownNameError is also a KeyError


def test_none_options_are_dropped():
    model = ModelZoo.create("compact", width=None, dropout=None, activation=None)
    assert model.emotionkit_config == ModelZoo.resolve_config("compact")
    assert model.emotionkit_config["width"] == 1.0


def test_options_override_defaults_and_tuples_become_lists():
    cfg = ModelZoo.resolve_config("compact", width=0.5, depth=(1, 1, 1, 1))
    assert cfg["width"] == 0.5 and cfg["depth"] == [1, 1, 1, 1]
    assert ModelZoo.resolve_config("compact")["depth"] == [1, 2, 2, 2]


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        ModelZoo.create("compact", widht=2, colour="red")
    msg = str(err.value)
    assert "unknown options 'colour', 'widht' for model 'compact'" in msg
    assert "did you mean 'width'?" in msg
    assert "Valid options: width, depth, dropout, conv_dropout, activation" in msg


@pytest.mark.parametrize("config, match", [
    ({"activation": "swish"}, "unknown activation 'swish'"),
    ({"dropout": 1.0}, "option 'dropout' must be a number in \\[0, 1\\)"),
    ({"width": -1}, "option 'width' must be a number > 0"),
    ({"depth": [1, 2]}, "option 'depth' must be a list of 4 integers"),
    ({"width": float("nan")}, "not finite"),
])
def test_invalid_option_values(config, match):
    with pytest.raises(ConfigError, match=match):
        ModelZoo.create("compact", **config)


def test_width_and_depth_change_the_model():
    small = ModelZoo.info("compact")["trainable_params"]
    half = sum(p.numel() for p in ModelZoo.create("compact", width=0.5).parameters())
    assert half < small / 3
    resnet10 = ModelZoo.create("resnet18-fer", width=0.25, blocks=[1, 1, 1, 1])
    assert len(resnet10.layer1) == 1 and resnet10.stem.conv1.out_channels == 16
    vgg = ModelZoo.create("vgg-fer", width=0.25, depth=1, activation="leaky_relu")
    assert isinstance(vgg.features.act1, nn.LeakyReLU) and not hasattr(vgg.features, "conv5")


def test_seed_is_reproducible_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a = ModelZoo.create("compact", seed=3, width=0.25)
    b = ModelZoo.create("compact", seed=3, width=0.25)
    c = ModelZoo.create("compact", seed=4, width=0.25)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.features.conv1.weight, b.features.conv1.weight)
    assert not torch.equal(a.features.conv1.weight, c.features.conv1.weight)


def test_register_model_rejects_duplicates_and_missing_defaults():
    info = ModelInfo(description="test model")
    with pytest.raises(ConfigError, match="'compact' is already registered"):
        register_model(info, name="compact")(lambda: None)
    with pytest.raises(ConfigError, match="'width' has none"):
        @register_model(info)
        def needs_width(width):  # pragma: no cover - never built
            return nn.Identity()
    assert "needs-width" not in ModelZoo.list()


def test_registered_builder_name_becomes_model_name():
    info = ModelInfo(description="a tiny test model", tags=("test",))
    try:
        @register_model(info)
        def tiny_test_net(hidden: int = 4) -> nn.Module:
            return nn.Sequential(nn.Flatten(), nn.Linear(2304, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 7))

        assert "tiny-test-net" in ModelZoo.list()
        model = ModelZoo.create("tiny-test-net", hidden=5)
        assert model.emotionkit_config == {"hidden": 5}
        assert ModelZoo.info("tiny-test-net")["params"] == 2305 * 4 + 5 * 7  # default hidden=4
        with pytest.raises(ConfigError, match="already registered"):
            register_model(info)(tiny_test_net)
    finally:
        registry_module._REGISTRY.pop("tiny-test-net", None)
        registry_module._COUNT_CACHE.pop("tiny-test-net", None)


def test_model_info_is_frozen():
    info = ModelZoo.get_info("hw19-cnn")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.description = "changed"
    with pytest.raises(TypeError):
        info.recipe["lr"] = 1.0
    with pytest.raises(TypeError):
        info.regularization["l1"] = 1.0
    assert info.to_dict()["recipe"]["optimizer"] == "adam"


def test_register_model_needs_a_model_info_and_a_valid_name():
    with pytest.raises(TypeError, match="ModelInfo"):
        register_model("not info")
    with pytest.raises(ConfigError, match="invalid model name '<lambda>'"):
        register_model(ModelInfo(description="x"))(lambda: nn.Identity())
    assert "<lambda>" not in ModelZoo.list()


def test_builder_must_return_a_module():
    try:
        @register_model(ModelInfo(description="broken"))
        def broken_test_net() -> nn.Module:
            return "not a module"

        with pytest.raises(TypeError, match="returned str, not a torch.nn.Module"):
            ModelZoo.create("broken-test-net")
    finally:
        registry_module._REGISTRY.pop("broken-test-net", None)


@pytest.mark.parametrize("name", ModelZoo.list())
def test_recipe_augment_parses(name):
    """Every recipe's augmentation setting is one the data layer understands."""
    from emotionkit.data.augment import AugmentConfig

    recipe = ModelZoo.info(name)["recipe"]
    AugmentConfig.parse(recipe.get("augment", "none"))
