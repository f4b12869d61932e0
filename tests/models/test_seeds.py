"""The six seed architectures: parameter counts equal the reports, in Keras counting."""

from __future__ import annotations

import pytest
import torch

from emotionkit.models import ModelZoo, summary

# (total, trainable, non-trainable) as printed by Keras in the reports (see SPEC.md)
REPORTED = {
    "hw17-cnn": (10_607_815, 10_607_815, 0),
    "hw17-dnn": (3_386_503, 3_386_503, 0),
    "hw18-cnn": (6_040_327, 6_036_871, 3_456),
    "hw18-dnn": (6_036_839, 6_036_839, 0),
    "hw19-cnn": (1_919_975, 1_919_079, 896),
    "hw19-dnn": (2_076_697, 2_076_697, 0),
}


@pytest.mark.parametrize("name", sorted(REPORTED))
def test_seed_counts_match_the_reports_exactly(name, zoo_model):
    model = zoo_model(name)
    result = summary(model)
    total, trainable, non_trainable = REPORTED[name]
    assert result.total_params == total
    assert result.trainable_params == trainable
    assert result.non_trainable_params == non_trainable
    # torch's own count is the trainable one; the rows add up to the totals
    assert sum(p.numel() for p in model.parameters()) == trainable
    assert sum(r.params for r in result.rows) == total
    # the registry metadata agrees with the instantiated model
    info = ModelZoo.info(name)
    assert (info["params"], info["trainable_params"], info["non_trainable_params"]) == (
        total, trainable, non_trainable)
    assert dict(info["reported_params"]) == {
        "total": total, "trainable": trainable, "non_trainable": non_trainable}
    assert info["family"] == "seed"


def _shapes(model):
    return {r.name: r.output_shape for r in summary(model).rows}


def test_hw17_cnn_layers_follow_the_report(zoo_model):
    shapes = _shapes(zoo_model("hw17-cnn"))
    convs = [(n, s) for n, s in shapes.items() if ".conv" in n]
    assert [s[1] for _, s in convs] == [32, 64, 64, 128, 128, 256, 256]
    assert shapes["features.conv7"] == (1, 256, 6, 6)
    assert shapes["classifier.flatten"] == (1, 9216)
    assert shapes["classifier.fc1"] == (1, 1024)


def test_hw18_cnn_is_conv_bn_leaky_relu(zoo_model):
    model = zoo_model("hw18-cnn")
    names = [n for n, _ in model.features.named_children()]
    assert names[:4] == ["conv1", "bn1", "act1", "conv2"]
    assert isinstance(model.features.act1, torch.nn.LeakyReLU)
    assert model.features.act1.negative_slope == pytest.approx(0.3)  # Keras' default alpha
    assert model.features.bn1.eps == pytest.approx(1e-3)
    assert _shapes(model)["classifier.flatten"] == (1, 9216)


def test_hw18_dnn_has_23_dense_layers(zoo_model):
    model = zoo_model("hw18-dnn")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 23
    assert [m.out_features for m in linears] == [
        1024, 1024, 1024, 512, 512, 512, 512, 256, 256, 128, 128, 64, 64, 32, 32, 32, 16, 16, 16,
        8, 8, 8, 7]


def test_hw19_cnn_same_padding_pools_48_12_3_1(zoo_model):
    shapes = _shapes(zoo_model("hw19-cnn"))
    assert shapes["features.conv2"] == (1, 32, 48, 48)  # 4x4 'same' keeps the size
    assert shapes["features.pool1"] == (1, 32, 12, 12)
    assert shapes["features.pool2"] == (1, 64, 3, 3)
    assert shapes["features.pool3"] == (1, 128, 1, 1)
    assert shapes["classifier.flatten"] == (1, 128)


def test_hw19_order_is_conv_relu_bn(zoo_model):
    names = [n for n, _ in zoo_model("hw19-cnn").features.named_children()]
    assert names[:3] == ["conv1", "act1", "bn1"]


def test_hw19_dnn_applies_dense30_per_pixel(zoo_model):
    model = zoo_model("hw19-dnn")
    shapes = _shapes(model)
    assert shapes["features.pixel_fc"] == (1, 30, 48, 48)
    assert shapes["features.flatten"] == (1, 69_120)
    # the per-pixel layer maps each pixel alone: changing one pixel changes only its 30 outputs
    x = torch.rand(1, 1, 48, 48)
    y = x.clone()
    y[0, 0, 10, 20] += 0.5
    with torch.no_grad():
        a = model.features.pixel_fc(model.input_norm(x))
        b = model.features.pixel_fc(model.input_norm(y))
    changed = (a != b).any(dim=1)[0]
    assert changed.sum() == 1 and changed[10, 20]


def test_2019_models_expose_their_regularization(zoo_model):
    for name in ("hw19-cnn", "hw19-dnn"):
        assert zoo_model(name).regularization == {"l1": 3e-5, "l2": 5e-5}
        assert dict(ModelZoo.info(name)["regularization"]) == {"l1": 3e-5, "l2": 5e-5}
    assert ModelZoo.create("hw19-dnn", l1=0.0).regularization == {"l1": 0.0, "l2": 5e-5}
    for name in ("hw17-cnn", "hw18-cnn"):
        assert not hasattr(zoo_model(name), "regularization")
