"""Tests of emotionkit.explain.faithfulness_curves (deletion / insertion curves)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

from emotionkit.errors import ConfigError, ExplainError
from emotionkit.explain.faithfulness_curves import (
    CURVES,
    faithfulness,
    make_baseline,
    pixel_ranks,
)
from emotionkit.testing import InputGradientStub
from emotionkit.testing.region import RegionModel

GradientStub = InputGradientStub


@pytest.fixture(scope="module")
def region():
    model = RegionModel()
    return model, model.example_images(6, seed=1)


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_region_map_beats_random_map_and_random_order(region):
    model, x = region
    good = faithfulness(model, None, x, maps=model.region_maps(6), steps=16)
    noise = torch.rand(6, 1, 48, 48, generator=torch.Generator().manual_seed(5))
    rand = faithfulness(model, None, x, maps=noise, steps=16)
    assert (good.targets == model.target_class).all()
    g, r = good.summary(), rand.summary()
    # the region is removed within the first 64/2304 pixels: the probability collapses at once
    assert g["deletion_auc"] < 0.1 < r["deletion_auc"]
    assert g["insertion_auc"] > 0.9 > r["insertion_auc"]
    assert (good.aucs["deletion"] < good.aucs["random_deletion"]).all()
    assert (good.aucs["insertion"] > good.aucs["random_insertion"]).all()
    assert g["deletion_gain"] > 0.2 and g["insertion_gain"] > 0.5
    # by hand: step 1 removes 144 >= 64 pixels, the whole region, so the curve is
    # [p(image), p0, p0, ...] with p0 = p(black region) = e^-6 / (e^-6 + 6)
    p0 = np.exp(-6.0) / (np.exp(-6.0) + 6.0)
    p_full = good.curves["deletion"][:, 0]
    np.testing.assert_allclose(good.curves["deletion"][:, 1:], p0, rtol=1e-5)
    np.testing.assert_allclose(good.aucs["deletion"], (p_full + p0) / 32 + p0 * 15 / 16, rtol=1e-6)
    # a random map is about as good as the random order
    assert abs(r["deletion_gain"]) < 0.2 and abs(r["insertion_gain"]) < 0.2


def test_explainer_through_contract(region):
    model, x = region
    res = faithfulness(model, GradientStub(), x, steps=8, max_batch=7)
    assert res.method == "stub-saliency"
    assert res.summary()["deletion_gain"] > 0.2
    assert res.n_forward == 4 * 9 * 6
    assert set(res.curves) == set(CURVES) and res.curves["deletion"].shape == (6, 9)


def naive_curves(model, x, maps, target, steps, seed):
    """Straightforward reference: one forward per image and step, masks built in Python."""
    n, _, h, w = x.shape
    p = h * w
    rank_imp, rank_rand = pixel_ranks(maps.abs().sum(1).flatten(1), seed)
    out = {}
    for name, ranks, insert in (
        ("deletion", rank_imp, False),
        ("insertion", rank_imp, True),
        ("random_deletion", rank_rand, False),
        ("random_insertion", rank_rand, True),
    ):
        rows = []
        for i in range(n):
            row = []
            for k in range(steps + 1):
                count = int(round(k * p / steps))
                order = ranks[i].argsort()[:count]  # the `count` top pixels
                img = x[i].clone().flatten() if not insert else torch.zeros(p)
                img[order] = 0.0 if not insert else x[i].flatten()[order]
                with torch.no_grad():
                    prob = torch.softmax(model(img.view(1, 1, h, w)), 1)[0, target[i]]
                row.append(float(prob))
            rows.append(row)
        out[name] = np.array(rows)
    return out


def test_vectorized_equals_naive_loop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 7))
    x = torch.rand(3, 1, 6, 6)
    maps = torch.randn(3, 1, 6, 6)
    maps[0, 0, :2] = 0.0  # ties, broken by the seeded order in both implementations
    res = faithfulness(model, None, x, maps=maps, target=[1, 2, 6], steps=5, max_batch=4, seed=3)
    ref = naive_curves(model, x, maps, [1, 2, 6], 5, 3)
    for name in CURVES:
        np.testing.assert_allclose(res.curves[name], ref[name], rtol=1e-5, atol=1e-6)
        trapezoid = getattr(np, "trapezoid", None) or np.trapz
        auc = np.array([trapezoid(r, res.fractions) for r in ref[name]])
        np.testing.assert_allclose(res.aucs[name], auc, rtol=1e-5, atol=1e-6)
    # end points: nothing removed = the image itself; everything removed = the baseline
    full = torch.softmax(model(x), 1)[torch.arange(3), torch.tensor([1, 2, 6])].detach().numpy()
    np.testing.assert_allclose(res.curves["deletion"][:, 0], full, rtol=1e-5)
    np.testing.assert_allclose(res.curves["insertion"][:, -1], full, rtol=1e-5)
    assert res.fractions[0] == 0.0 and res.fractions[-1] == 1.0


def test_chunking_does_not_change_results(region):
    model, x = region
    a = faithfulness(model, GradientStub(), x, steps=10, max_batch=1024)
    b = faithfulness(model, GradientStub(), x, steps=10, max_batch=13)
    for name in CURVES:
        np.testing.assert_allclose(a.curves[name], b.curves[name], rtol=1e-6)


def test_same_seed_same_result_other_seed_other_random_order(region):
    model, x = region
    noise = torch.rand(6, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    a = faithfulness(model, None, x, maps=noise, steps=8, seed=4)
    b = faithfulness(model, None, x, maps=noise, steps=8, seed=4)
    c = faithfulness(model, None, x, maps=noise, steps=8, seed=5)
    for name in CURVES:
        np.testing.assert_array_equal(a.curves[name], b.curves[name])
    assert not np.array_equal(a.curves["random_deletion"], c.curves["random_deletion"])


def test_constant_map_equals_random_order(region):
    model, x = region
    res = faithfulness(model, None, x, maps=torch.ones(6, 1, 48, 48), steps=8)
    np.testing.assert_array_equal(res.curves["deletion"], res.curves["random_deletion"])


def test_model_rng_and_hooks_untouched(region):
    _, x = region
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(2 * 46 * 46, 7),
    ).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    res = faithfulness(model, GradientStub(), x, steps=4)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng[0], torch.get_rng_state())
    assert np.array_equal(rng[1], np.random.get_state()[1]) and rng[2] == random.getstate()
    assert _hooks(model) == 0
    # eval mode was used: dropout off, so curves are deterministic
    again = faithfulness(model, None, x, maps=torch.rand(6, 1, 48, 48), target=res.targets, steps=4)
    assert np.isfinite(again.curves["deletion"]).all()


def test_baselines(region):
    model, x = region
    base, name = make_baseline(x, "mean")
    assert name == "mean" and torch.allclose(base[:, :, 0, 0], x.mean((2, 3)))
    blur, _ = make_baseline(x, "blur")
    assert blur.shape == x.shape and blur.std() < x.std()
    const = torch.full((6, 1, 48, 48), 0.95)
    assert torch.allclose(blur.mean(), x.mean(), atol=0.02)
    base, name = make_baseline(x, 0.25)
    assert name == "tensor" and torch.all(base == 0.25)
    # a bright baseline means deleting the region keeps the class: deletion AUC stays high
    res = faithfulness(model, None, x, maps=model.region_maps(6), baseline=const, steps=8)
    assert res.baseline == "tensor" and res.summary()["deletion_auc"] > 0.9
    for b in ("zeros", "mean", "blur"):
        res = faithfulness(model, None, x, maps=model.region_maps(6), baseline=b, steps=4)
        assert res.baseline == b


def test_errors(region):
    model, x = region
    with pytest.raises(ConfigError, match="unknown baseline 'black'"):
        faithfulness(model, None, x, maps=model.region_maps(6), baseline="black")
    with pytest.raises(ConfigError, match="cannot be broadcast"):
        faithfulness(model, None, x, maps=model.region_maps(6), baseline=torch.zeros(3, 3))
    with pytest.raises(ConfigError, match="steps must be an integer in 1..2304"):
        faithfulness(model, None, x, maps=model.region_maps(6), steps=0)
    with pytest.raises(ConfigError, match="max_batch must be a positive integer"):
        faithfulness(model, None, x, maps=model.region_maps(6), max_batch=0)
    with pytest.raises(ConfigError, match="either a method or precomputed maps"):
        faithfulness(model, None, x)
    with pytest.raises(ExplainError, match="do not fit 6 images"):
        faithfulness(model, None, x, maps=torch.ones(5, 1, 48, 48))
    bad = torch.ones(6, 1, 48, 48)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ExplainError, match="NaN"):
        faithfulness(model, None, x, maps=bad)
    with pytest.raises(ConfigError, match="got 2 targets for 6 images"):
        faithfulness(model, None, x, maps=bad, target=[1, 2])


def test_low_resolution_maps_are_upsampled(region):
    model, x = region
    low = torch.zeros(6, 1, 6, 6)
    low[:, :, 2:4, 2:4] = 1.0  # cells covering pixels 16..32, i.e. the region 20..28
    res = faithfulness(model, None, x, maps=low, steps=16)
    assert res.summary()["deletion_gain"] > 0.2


def test_outputs(region, tmp_path):
    model, x = region
    res = faithfulness(model, GradientStub(), x, steps=4)
    text = res.to_json(tmp_path / "f.json")
    data = json.loads((tmp_path / "f.json").read_text())
    assert json.loads(text) == data
    assert data["summary"]["deletion_auc"] == pytest.approx(float(res.aucs["deletion"].mean()))
    assert len(data["aucs"]["insertion"]) == 6 and len(data["fractions"]) == 5
    md = res.to_markdown()
    assert md.startswith("| method |") and "| stub-saliency |" in md
    res.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*.tmp"))


def test_curve_subset_equals_full_run(region, tmp_path):
    model, x = region
    maps = torch.rand(6, 1, 48, 48, generator=torch.Generator().manual_seed(2))
    full = faithfulness(model, None, x, maps=maps, steps=6)
    part = faithfulness(model, None, x, maps=maps, steps=6, curves=("random_insertion", "deletion"))
    assert list(part.curves) == ["random_insertion", "deletion"]
    assert part.n_forward == 2 * 7 * 6
    for name in part.curves:
        np.testing.assert_array_equal(part.curves[name], full.curves[name])
    s = part.summary()
    assert s["insertion_auc"] is None and s["deletion_gain"] is None
    assert "n/a" in part.to_markdown()
    part.plot(tmp_path / "p.png")
    with pytest.raises(ConfigError, match="unknown curve 'del'"):
        faithfulness(model, None, x, maps=maps, curves=("del",))


def _bn_net():
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        nn.MaxPool2d(4), nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3),
    )
    with torch.no_grad():
        for bn in (net[1], net[5]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return net.eval()


def test_model_rewrites_leave_the_curves_and_the_model_unchanged():
    net = _bn_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.rand(5, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    maps = torch.rand(5, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    fast = faithfulness(net, None, x, maps=maps, steps=8)
    plain = faithfulness(net, None, x, maps=maps, steps=8, rewrite_model=False)
    assert fast.model_rewrites == ["fold 0+1", "fold 4+5", "channels_last 0",
                                   "channels_last 4"]
    assert plain.model_rewrites == []
    for curve in CURVES:
        np.testing.assert_allclose(fast.curves[curve], plain.curves[curve], rtol=1e-5,
                                   atol=1e-6)
    assert [type(m) for m in net] == [type(m) for m in _bn_net()]
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.requires_grad for p in net.parameters())
    assert json.loads(fast.to_json())["model_rewrites"][0] == "fold 0+1"


def test_bf16_curves_are_close_to_fp32_and_fp16_needs_a_gpu():
    net = _bn_net()
    x = torch.rand(4, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    maps = torch.rand(4, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    ref = faithfulness(net, None, x, maps=maps, steps=8)
    low = faithfulness(net, None, x, maps=maps, steps=8, precision="bf16")
    assert ref.precision == "fp32" and low.precision == "bf16"
    for curve in CURVES:
        np.testing.assert_allclose(low.curves[curve], ref.curves[curve], atol=2e-2)
    with pytest.raises(ConfigError, match="not supported on CPU"):
        faithfulness(net, None, x, maps=maps, steps=8, precision="fp16")
