"""analyze() and complexity() on small hand-checked models and on every zoo model."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from emotionkit.errors import ConfigError
from emotionkit.math import conv
from emotionkit.math.model_cost import analyze, complexity
from emotionkit.models.layers import Normalize


def _small() -> nn.Sequential:
    return nn.Sequential(
        Normalize(0.5, 0.25),
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, bias=False),
        nn.LeakyReLU(0.1),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(6 * 5 * 5, 7),
    )


def _hooks_left(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def test_small_model_hand_counts():
    model = _small()
    table = analyze(model, (1, 1, 24, 24))
    by_type = {row.name: row for row in table}
    assert [r.output_shape for r in table] == [
        (1, 1, 24, 24), (1, 4, 24, 24), (1, 4, 24, 24), (1, 4, 24, 24), (1, 4, 12, 12),
        (1, 6, 10, 10), (1, 6, 10, 10), (1, 6, 5, 5), (1, 150), (1, 150), (1, 7),
    ]
    norm, c1, bn, relu, mp, c2, lrelu, ap, _, drop, fc = (by_type[str(i)] for i in range(11))
    n1 = 4 * 24 * 24
    assert (norm.multiplications, norm.additions) == (24 * 24, 24 * 24)
    assert (c1.params, c1.multiplications, c1.additions, c1.macs) == (40, n1 * 9, n1 * 9, n1 * 9)
    assert (bn.params, bn.multiplications, bn.additions) == (8, 2 * n1, 2 * n1)
    assert (relu.comparisons, relu.multiplications) == (n1, 0)
    assert mp.comparisons == 4 * 12 * 12 * 3
    n2 = 6 * 10 * 10
    assert (c2.params, c2.multiplications, c2.additions) == (216, n2 * 36, n2 * 35)
    assert (lrelu.comparisons, lrelu.multiplications) == (n2, n2)
    assert (ap.additions, ap.multiplications) == (150 * 3, 150)
    assert (drop.multiplications, drop.additions, drop.comparisons) == (0, 0, 0)
    assert (fc.params, fc.multiplications, fc.additions) == (150 * 7 + 7, 150 * 7, 150 * 7)
    assert table.total_params == sum(p.numel() for p in model.parameters()) == 1321
    assert table.total_macs == n1 * 9 + n2 * 36 + 150 * 7
    assert table.uncounted == []
    text = table.to_text()
    assert "Conv2d" in text and "1,321" in text and text.splitlines()[0] == "input 1x1x24x24"
    d = table.to_dict()
    assert d["totals"]["params"] == 1321 and len(d["layers"]) == 11


def test_batch_scales_counts_and_adaptive_pool_windows():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.AdaptiveAvgPool2d(5), nn.AdaptiveMaxPool2d(2))
    one, four = analyze(model, (1, 2, 26, 26)), analyze(model, (4, 2, 26, 26))
    assert four.total_macs == 4 * one.total_macs
    # 24 -> 5 windows: [0,5) [4,10) [9,15) [14,20) [19,24): 5+6+6+6+5 = 28 per axis
    assert one[1].additions == 3 * 28 * 28 - 3 * 25 and one[1].multiplications == 75
    # 5 -> 2 windows: [0,3) [2,5): 3+3 per axis
    assert one[2].comparisons == 3 * 6 * 6 - 3 * 4


def test_per_layer_macs_match_flop_counter():
    model = _small()
    table = analyze(model, (2, 1, 24, 24))
    with FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros(2, 1, 24, 24))
    counts = counter.get_flop_counts()
    for row in table:
        key = f"Sequential.{row.name}"
        expected = sum(counts.get(key, {}).values())
        assert expected == 2 * row.macs, row.name


def test_analyze_leaves_model_untouched_and_removes_hooks():
    model = _small().train()
    model[2].eval()  # a mixed state that must come back exactly
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analyze(model, (3, 1, 24, 24))
    assert _hooks_left(model) == 0
    assert model.training and not model[2].training and model[1].training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics unchanged


def test_analyze_failure_is_config_error_and_still_cleans_up():
    model = _small().train()
    with pytest.raises(ConfigError, match=r"forward pass of Sequential failed .*\(1, 1, 30, 30\)"):
        analyze(model, (1, 1, 30, 30))  # the Linear expects 150 features
    assert _hooks_left(model) == 0 and model.training


@pytest.mark.parametrize("bad", [(1, 0, 48, 48), "1x48", (1, 1.5, 4, 4), ()])
def test_analyze_rejects_bad_shapes(bad):
    with pytest.raises(ConfigError, match="input_shape"):
        analyze(_small(), bad)


def test_analyze_rejects_non_modules():
    with pytest.raises(ConfigError, match="needs a torch.nn.Module"):
        analyze(lambda x: x)  # type: ignore[arg-type]


class _Reuse(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.act = nn.ReLU()
        self.scale = nn.Parameter(torch.ones(1))
        self.mystery = nn.Upsample(scale_factor=2)

    def forward(self, x):
        x = self.act(self.conv(x))
        x = self.act(self.conv(x))  # same modules twice
        return self.mystery(x * self.scale)


def test_reused_modules_custom_parameters_and_unknown_layers():
    model = _Reuse()
    table = analyze(model, (1, 2, 8, 8))
    names = [r.name for r in table]
    assert names == ["conv", "act", "conv (call 2)", "act (call 2)", "mystery", "_Reuse"]
    assert table[0].params == 38 and table[2].params == 0  # counted once
    assert table[0].macs == table[2].macs == 2 * 8 * 8 * 18
    assert table[-1].params == 1 and not table[-1].counted
    assert table.uncounted == ["Upsample", "_Reuse"]
    assert sum(r.params for r in table) == table.total_params == 39
    assert "* no counting rule for: Upsample, _Reuse" in str(table)


# ----------------------------------------------------------------------------- complexity
def test_complexity_expression_and_terms():
    c = complexity()
    assert c.text == "O(sum_{l=1}^{L} n_l^2 * k_l^2 * c_{l-1} * c_l)"
    assert r"\sum_{l=1}^{L}" in c.latex and "c_{l-1}" in c.latex
    assert c.terms == () and c.total is None and c.expanded == ""
    model = _small()
    terms = complexity(model, (1, 1, 24, 24)).terms
    assert [(t.n, t.k, t.c_in, t.c_out) for t in terms] == [
        ((24, 24), (3, 3), 1, 4), ((10, 10), (3, 3), 4, 6),
    ]
    conv_macs = [r.macs for r in analyze(model, (1, 1, 24, 24)) if r.type == "Conv2d"]
    assert [t.value for t in terms] == conv_macs
    hand = complexity([(48, 3, 1, 32), {"n": 24, "k": 3, "c_in": 32, "c_out": 64}])
    assert hand.total == 48**2 * 9 * 32 + 24**2 * 9 * 32 * 64
    assert hand.expanded.startswith("48^2 * 3^2 * 1 * 32 + 24^2 * 3^2 * 32 * 64 = ")
    assert hand.to_dict()["terms"][0]["value"] == conv.conv_macs(48, 1, 32, 3, p="same")


@pytest.mark.parametrize(
    "layers,message",
    [([(48, 3, 1)], r"give \(n, k, c_in, c_out\)"), ([{"n": 4}], "missing"),
     ([(48, 0, 1, 2)], "k must be a positive integer"), (5, "takes an nn.Module")],
)
def test_complexity_rejects_bad_layers(layers, message):
    with pytest.raises(ConfigError, match=message):
        complexity(layers)


# ----------------------------------------------------------------------------- every zoo model
def _zoo():
    models = pytest.importorskip("emotionkit.models")
    if not hasattr(models, "ModelZoo"):
        pytest.skip("emotionkit.models.ModelZoo is not available yet")
    return models.ModelZoo


def _zoo_names() -> list[str]:
    try:
        from emotionkit.models import ModelZoo
    except ImportError:
        return ["<no zoo>"]
    return ModelZoo.list()


def _expected_shape(module: nn.Module, in_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """Output shape from emotionkit's formulas and the layer's settings (None: not conv/pool)."""
    spatial = in_shape[-2:]
    keras_same = hasattr(module, "same_padding")  # the zoo's Conv2dSame / MaxPool2dSame
    if isinstance(module, nn.Conv2d):
        pad = module.padding if isinstance(module.padding, str) else tuple(module.padding)
        pad = "same" if keras_same else pad
        size = conv.output_size(tuple(spatial), tuple(module.kernel_size), pad,
                                tuple(module.stride), tuple(module.dilation))
        return (in_shape[0], module.out_channels, *size)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        def pair(v):
            return tuple(v) if isinstance(v, (tuple, list)) else (v, v)
        dil = pair(getattr(module, "dilation", 1))
        if keras_same:
            return (*in_shape[:-2], *conv.pool_output_size(
                tuple(spatial), pair(module.kernel_size), pair(module.stride), padding="same"))
        size = conv.pool_output_size(tuple(spatial), pair(module.kernel_size), pair(module.stride),
                                     pair(module.padding), ceil_mode=module.ceil_mode, d=dil)
        return (*in_shape[:-2], *size)
    return None


@pytest.mark.parametrize("name", _zoo_names())
def test_every_zoo_model(name):
    zoo = _zoo()
    model = zoo.create(name)
    table = analyze(model)
    # parameters: the table's total and the per-row sum both equal torch's count
    assert table.total_params == sum(p.numel() for p in model.parameters())
    assert sum(r.params for r in table) == table.total_params
    # shapes: emotionkit's formulas applied to each layer reproduce torch's actual outputs
    modules = dict(model.named_modules())
    checked = 0
    for row in table:
        expected = _expected_shape(modules[row.name.split(" (call")[0]], row.input_shape)
        if expected is not None:
            assert expected == row.output_shape, row.name
            checked += 1
    assert checked > 0 or not any(isinstance(m, nn.Conv2d) for m in model.modules())
    assert table[-1].output_shape == (1, 7)
    # conv/linear MACs: torch's flop counter counts 2 FLOPs per MAC
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(1, 1, 48, 48))
    assert counter.get_total_flops() == 2 * table.total_macs
    # complexity's terms are exactly the conv layers' MACs
    conv_macs = sum(r.macs for r in table if "kernel_size" in r.details)
    assert (complexity(model).total or 0) == conv_macs
    assert _hooks_left(model) == 0
