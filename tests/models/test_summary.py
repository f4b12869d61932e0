"""summary(): Keras counting and multiply-accumulates on tiny models computed by hand."""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
import torch
from torch import nn

from emotionkit.errors import ConfigError
from emotionkit.models import Normalize, count_params, summary


def _tiny():
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(
        input_norm=Normalize(0.5, 0.25),
        conv=nn.Conv2d(1, 2, 3, padding=1),  # 5x5 -> 5x5
        bn=nn.BatchNorm2d(2),
        act=nn.ReLU(),
        flatten=nn.Flatten(),
        fc=nn.Linear(50, 3),
    ))


def test_tiny_model_counts_and_macs_by_hand():
    s = summary(_tiny(), input_size=(1, 1, 5, 5))
    rows = {r.name: r for r in s.rows}
    assert list(rows) == ["input_norm", "conv", "bn", "act", "flatten", "fc"]
    # conv: 2 * (1*3*3) + 2 = 20 params; MACs = out_h*out_w*k*k*cin*cout = 5*5*3*3*1*2 = 450
    assert (rows["conv"].params, rows["conv"].macs) == (20, 450)
    # BN: gamma, beta trainable + running mean, var non-trainable (Keras: 4 per channel)
    assert (rows["bn"].params, rows["bn"].trainable, rows["bn"].non_trainable) == (8, 4, 4)
    # linear: 50*3 + 3 = 153 params; MACs = in*out = 150
    assert (rows["fc"].params, rows["fc"].macs) == (153, 150)
    assert rows["input_norm"].params == 0  # Normalize buffers are not parameters
    assert rows["conv"].output_shape == (1, 2, 5, 5)
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (181, 177, 4)
    assert s.total_macs == 600
    assert count_params(_tiny()) == {"total": 181, "trainable": 177, "non_trainable": 4}


def test_strided_grouped_conv_macs():
    # 7x7, k=3, stride 2, no padding -> 3x3; cin/groups = 2, cout = 4: 3*3*3*3*2*4 = 648
    s = summary(nn.Conv2d(4, 4, 3, stride=2, groups=2), input_size=(1, 4, 7, 7))
    assert s.rows[0].output_shape == (1, 4, 3, 3)
    assert s.rows[0].macs == 648
    assert s.total_params == 4 * 2 * 9 + 4


def test_macs_are_per_image_whatever_the_batch():
    assert summary(_tiny(), (4, 1, 5, 5)).total_macs == summary(_tiny(), (1, 1, 5, 5)).total_macs


def test_frozen_parameters_are_non_trainable():
    model = _tiny()
    model.fc.weight.requires_grad_(False)
    s = summary(model, input_size=(1, 1, 5, 5))
    assert (s.trainable_params, s.non_trainable_params) == (177 - 150, 4 + 150)


def test_text_and_dict_outputs():
    model = _tiny()
    model.emotionkit_name = "tiny"
    s = summary(model, input_size=(1, 1, 5, 5))
    text = str(s)
    assert text == s.to_text()
    assert text.splitlines()[0] == "Model: tiny"
    assert "conv (Conv2d)" in text and "(1, 2, 5, 5)" in text
    assert "Total params: 181" in text and "Non-trainable params: 4" in text
    d = s.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["total_params"] == 181 and d["layers"][1]["macs"] == 450
    assert d["output_shape"] == [1, 3]


def test_hooks_removed_and_mode_restored_even_on_failure():
    model = _tiny().train()
    with pytest.raises(ConfigError, match="72 and 50x3"):
        summary(model, input_size=(1, 1, 6, 6))  # flatten gives 72 features, fc expects 50
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())
    summary(model, input_size=(1, 1, 5, 5))
    assert model.training and all(not m._forward_hooks for m in model.modules())


def test_summary_does_not_change_bn_statistics():
    model = _tiny()
    before = model.bn.running_mean.clone()
    summary(model, input_size=(2, 1, 5, 5))
    assert torch.equal(model.bn.running_mean, before)


def test_summary_keeps_a_frozen_batchnorm_in_eval_mode():
    """A BatchNorm frozen in eval mode inside a training model stays frozen (each flag kept)."""
    model = _tiny().train()
    model.bn.eval()
    summary(model, input_size=(1, 1, 5, 5))
    assert model.training and model.conv.training and not model.bn.training


def test_model_cost_keeps_a_frozen_batchnorm_in_eval_mode():
    from emotionkit.math import analyze

    model = _tiny().train()
    model.bn.eval()
    analyze(model, (1, 1, 5, 5))
    assert model.training and model.conv.training and not model.bn.training


def test_summary_and_model_cost_share_one_counting_rule():
    """MACs and shapes come from math.analyze; params differ only by BN running statistics."""
    from emotionkit.math import analyze
    from emotionkit.models import ModelZoo

    model = ModelZoo.create("compact", seed=0)
    s, table = summary(model), analyze(model)
    assert s.total_macs == table.total_macs
    assert [r.macs for r in s.rows if r.output_shape] == [r.macs for r in table]
    assert [r.output_shape for r in s.rows if r.output_shape] == [r.output_shape for r in table]
    bn_stats = sum(2 * m.num_features for m in model.modules()
                   if isinstance(m, nn.modules.batchnorm._BatchNorm))
    assert s.total_params == table.total_params + bn_stats
    assert s.trainable_params == table.trainable_params
    assert s.output_shape == table.output_shape == (1, 7)
