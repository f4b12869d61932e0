"""Tests of emotionkit.explain.sanity (model-parameter and label randomization)."""

from __future__ import annotations

import json
import math
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from torch import nn

from emotionkit.errors import ConfigError, ExplainError, UnknownLayerError
from emotionkit.explain._similarity import compare_maps, spearman_rows, ssim_rows
from emotionkit.explain.sanity import (
    label_randomization_check,
    plot_sanity,
    reinitialize,
    sanity_check,
    sanity_check_many,
    sanity_markdown,
)
from emotionkit.testing import InputGradientStub

GradientStub = InputGradientStub


class EdgeStub:
    """Ignores the model's weights (like an edge detector): must fail the sanity check."""

    name = "edges"

    def explain(self, model, images, target=None, **options):
        with torch.no_grad():
            t = model(images).argmax(1) if target is None else torch.as_tensor(target)
        gx = images[..., :, 1:] - images[..., :, :-1]
        maps = torch.nn.functional.pad(gx, (0, 1))
        return SimpleNamespace(maps=maps, targets=t)


class NoisyStub(GradientStub):
    """Adds noise from the *global* torch RNG (as a SmoothGrad without seed would)."""

    name = "noisy"

    def explain(self, model, images, target=None, **options):
        out = super().explain(model, images + 0.1 * torch.randn_like(images), target)
        return out


class IgnoresTarget(GradientStub):
    name = "ignores-target"

    def explain(self, model, images, target=None, **options):
        return super().explain(model, images, None)


class OutOfOrder(nn.Module):
    """Declared fc, bn, conv2, conv1; runs conv1, conv2, bn, fc."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6 * 3 * 3, 7)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(3)

    def forward(self, x):
        x = self.act(self.conv1(x))
        x = self.act(self.bn(self.conv2(x)))
        return self.fc(self.pool(x).flatten(1))


class Recorder:
    """Records, at each explain call, which layers differ from the reference weights."""

    name = "recorder"

    def __init__(self, reference: dict[str, torch.Tensor]) -> None:
        self.reference = reference
        self.changed: list[list[str]] = []

    def explain(self, model, images, target=None, **options):
        state = model.state_dict()
        self.changed.append(
            sorted({k.rsplit(".", 1)[0] for k, v in self.reference.items()
                    if not torch.equal(v, state[k])})
        )  # fmt: skip
        return GradientStub().explain(model, images, target)


@pytest.fixture()
def net():
    torch.manual_seed(0)
    model = OutOfOrder()
    with torch.no_grad():  # non-trivial running statistics
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 2.0)
    images = torch.rand(8, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    return model, images


def _hooks(model):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def test_cascading_follows_execution_order(net):
    model, x = net
    rec = Recorder({k: v.clone() for k, v in model.state_dict().items()})
    res = sanity_check(model, rec, x, mode="cascading")
    assert res.layers == ["fc", "bn", "conv2", "conv1"]  # reverse of execution, not declaration
    assert res.n_randomized == [1, 2, 3, 4]
    assert rec.changed == [[], ["fc"], ["bn", "fc"], ["bn", "conv2", "fc"],
                           ["bn", "conv1", "conv2", "fc"]]  # fmt: skip


def test_independent_randomizes_one_layer_at_a_time(net):
    model, x = net
    rec = Recorder({k: v.clone() for k, v in model.state_dict().items()})
    res = sanity_check(model, rec, x, mode="independent")
    assert res.n_randomized == [1, 1, 1, 1]
    assert rec.changed == [[], ["fc"], ["bn"], ["conv2"], ["conv1"]]


def test_randomization_changes_saliency_but_not_edges(net):
    model, x = net
    sal = sanity_check(model, GradientStub(), x)
    edges = sanity_check(model, EdgeStub(), x)
    rows = sal.rows()
    assert all(row["spearman_abs_mean"] < 0.5 for row in rows)
    assert sal.final()["ssim_signed"] < 0.5
    for metric, value in edges.final().items():
        assert value == pytest.approx(1.0), metric
    assert set(sal.metrics) == {"spearman_abs", "spearman_signed", "ssim_abs", "ssim_signed"}
    assert sal.scores["spearman_abs"].shape == (4, 8)


def test_user_model_and_global_rng_unchanged(net):
    model, x = net
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(9)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(9)
    sanity_check(model, NoisyStub(), x, mode="cascading")
    sanity_check(model, GradientStub(), x, mode="independent")
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert model.training and _hooks(model) == 0
    assert all(p.grad is None for p in model.parameters())


def test_same_seed_same_result(net):
    model, x = net
    a = sanity_check(model, NoisyStub(), x, seed=3)
    b = sanity_check(model, NoisyStub(), x, seed=3)
    c = sanity_check(model, NoisyStub(), x, seed=4)
    for key in a.scores:
        np.testing.assert_array_equal(a.scores[key], b.scores[key])
    assert not np.array_equal(a.scores["spearman_abs"], c.scores["spearman_abs"])


def test_same_layer_same_random_weights_in_both_modes(net):
    model, x = net
    seen = {}

    class Grab(GradientStub):
        def explain(self, m, images, target=None, **options):
            seen.setdefault(self.mode, []).append(m.fc.weight.detach().clone())
            return super().explain(m, images, target)

    for mode in ("cascading", "independent"):
        grab = Grab()
        grab.mode = mode
        sanity_check(model, grab, x, mode=mode, seed=5)
    assert torch.equal(seen["cascading"][1], seen["independent"][1])  # fc randomized first
    assert not torch.equal(seen["cascading"][0], seen["cascading"][1])


def test_reinitialize_per_layer_type():
    torch.manual_seed(0)
    conv, lin, bn, prelu = nn.Conv2d(3, 4, 5), nn.Linear(10, 2), nn.BatchNorm2d(4), nn.PReLU(4)
    bn.running_mean.fill_(0.3)
    rng = torch.get_rng_state()
    for module in (conv, lin, bn, prelu):
        names = reinitialize(module, torch.Generator().manual_seed(1))
        assert names == [n for n, _ in module.named_parameters(recurse=False)]
    assert torch.equal(rng, torch.get_rng_state())  # only the local generator was used
    bound = 1 / math.sqrt(3 * 5 * 5)
    assert conv.weight.abs().max() <= bound and conv.bias.abs().max() <= bound
    assert conv.weight.abs().max() > 0.8 * bound  # uses the whole range
    assert lin.weight.abs().max() <= 1 / math.sqrt(10)
    assert ((bn.weight >= 0.5) & (bn.weight <= 1.5)).all() and not torch.allclose(
        bn.weight, torch.ones(4)
    )  # random affine, not identity
    assert (bn.bias.abs() <= 0.5).all() and bn.bias.abs().sum() > 0
    assert torch.all(bn.running_mean == 0.3)  # running statistics kept
    assert ((prelu.weight >= 0) & (prelu.weight <= 0.5)).all()
    again = nn.Conv2d(3, 4, 5)
    reinitialize(again, torch.Generator().manual_seed(1))
    assert torch.equal(again.weight, conv.weight)


def test_target_fixed_to_original_and_checked(net):
    model, x = net
    seen = []

    class Spy(GradientStub):
        def explain(self, m, images, target=None, **options):
            seen.append(None if target is None else torch.as_tensor(target).clone())
            return super().explain(m, images, target)

    res = sanity_check(model, Spy(), x, target=2)
    assert seen[0] is not None and torch.all(seen[0] == 2)
    assert all(torch.equal(t, torch.full((8,), 2)) for t in seen[1:])
    assert (res.targets == 2).all()
    with pytest.raises(ExplainError, match="did not explain the requested classes"):
        sanity_check(model, IgnoresTarget(), x, target=(model(x).argmax(1) + 1) % 7)


def test_layers_option_and_errors(net):
    model, x = net
    res = sanity_check(model, GradientStub(), x, layers=["conv1", "fc"])
    assert res.layers == ["fc", "conv1"]
    with pytest.raises(UnknownLayerError, match="unknown layer with parameters 'conv3'.*conv1"):
        sanity_check(model, GradientStub(), x, layers=["conv3"])
    with pytest.raises(ConfigError, match="unknown mode 'random'"):
        sanity_check(model, GradientStub(), x, mode="random")
    with pytest.raises(ConfigError, match="unknown similarity 'pearson'"):
        sanity_check(model, GradientStub(), x, similarity=("pearson",))
    with pytest.raises(ConfigError, match="explainer name or an object"):
        sanity_check(model, 3, x)
    with pytest.raises(ExplainError, match="no parameters to randomize"):
        sanity_check(nn.Sequential(nn.Flatten(), nn.Softmax(1)), EdgeStub(), x)
    res = sanity_check(model, GradientStub(), x, similarity="spearman")
    assert res.metrics == ["spearman_abs", "spearman_signed"]


def test_similarity_measures_match_scipy_and_skimage():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 9, 9)), rng.normal(size=(5, 9, 9))
    b[1] = a[1] * 3 + 1  # monotone: rank correlation 1
    b[2] = np.round(b[2])  # ties
    rho = spearman_rows(a, b)
    for i in range(5):
        assert rho[i] == pytest.approx(spearmanr(a[i].ravel(), b[i].ravel()).statistic)
    assert rho[1] == pytest.approx(1.0)
    s = ssim_rows(a, b)
    for i in range(5):
        ua, ub = a[i] / np.abs(a[i]).max(), b[i] / np.abs(b[i]).max()
        lo, hi = min(ua.min(), ub.min()), max(ua.max(), ub.max())
        assert s[i] == pytest.approx(structural_similarity(ua, ub, data_range=hi - lo))
    # scale-free: a map and 1000 x the map are structurally identical
    np.testing.assert_allclose(ssim_rows(a, 1000 * a), 1.0)
    const = np.zeros((2, 9, 9))
    rho = spearman_rows(np.stack([a[0], const[0]]), const)
    assert rho[0] == 0.0 and np.isnan(rho[1])  # one constant: 0; both: undefined
    assert ssim_rows(const, const).tolist() == [1.0, 1.0]
    maps = torch.tensor(a[:, None])
    out = compare_maps(maps, -maps, ("spearman",))
    np.testing.assert_allclose(out["spearman_signed"], -1.0)
    np.testing.assert_allclose(out["spearman_abs"], 1.0)  # absolute maps ignore the sign


def test_outputs_and_many(net, tmp_path):
    model, x = net
    results = sanity_check_many(model, [GradientStub(), EdgeStub()], x, n_examples=2)
    assert list(results) == ["stub-saliency", "edges"]
    res = results["stub-saliency"]
    data = json.loads(res.to_json(tmp_path / "s.json", per_image=True))
    assert data == json.loads((tmp_path / "s.json").read_text())
    assert [r["layer"] for r in data["rows"]] == ["fc", "bn", "conv2", "conv1"]
    assert data["final"]["spearman_abs"] == pytest.approx(res.final()["spearman_abs"])
    assert len(data["scores"]["ssim_abs"][0]) == 8
    assert "scores" not in json.loads(res.to_json())  # sanity: summary by default
    res.scores["ssim_abs"][0, 0] = np.nan  # JSON has no NaN: one conversion makes it null
    strict = json.loads(res.to_json(per_image=True), parse_constant=pytest.fail)
    assert strict["scores"]["ssim_abs"][0][0] is None
    assert strict["scores"]["ssim_abs"][0][1:] == pytest.approx(res.scores["ssim_abs"][0, 1:])
    md = res.to_markdown()
    assert "| 4 | conv1 | 4 |" in md
    table = sanity_markdown(results)
    assert "| edges | cascading | 4 | 1.000 |" in table
    res.plot(tmp_path / "a.png")
    res.plot_examples(tmp_path / "b.png")
    plot_sanity(results, tmp_path / "c.png")
    for name in ("a", "b", "c"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert res.examples["randomized"].shape == (4, 2, 12, 12)
    none = sanity_check(model, EdgeStub(), x, n_examples=0)
    with pytest.raises(ExplainError, match="no example maps"):
        none.plot_examples(tmp_path / "d.png")


def test_label_randomization_with_custom_training(net):
    model, x = net
    data = SimpleNamespace(images=x, labels=np.arange(8) % 7)
    calls = []

    def train(m, dataset):  # a tiny stand-in for the Trainer: a few full-batch steps
        calls.append(np.asarray(dataset.labels).copy())
        opt = torch.optim.SGD(m.parameters(), lr=0.5)
        y = torch.as_tensor(np.asarray(dataset.labels))
        for _ in range(5):
            opt.zero_grad()
            nn.functional.cross_entropy(m(dataset.images), y).backward()
            opt.step()

    def factory():
        torch.manual_seed(0)
        return OutOfOrder()

    rng = torch.get_rng_state()
    res = label_randomization_check(factory, data, GradientStub(), x, train=train, seed=1)
    assert torch.equal(rng, torch.get_rng_state())
    assert res.mode == "labels" and res.layers == ["labels shuffled"]
    assert np.array_equal(calls[0], data.labels)
    assert sorted(calls[1]) == sorted(data.labels) and not np.array_equal(calls[1], data.labels)
    assert res.scores["spearman_abs"].shape == (1, 8)
    with pytest.raises(ConfigError, match="labeled training set"):
        label_randomization_check(factory, SimpleNamespace(labels=None), GradientStub(), x,
                                  train=train)
    with pytest.raises(ConfigError, match="train must be a callable"):
        label_randomization_check(factory, data, GradientStub(), x, train={"epochs": 1})
