"""Sanity checks and faithfulness through every registered explainer (the plugin contract only)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from emotionkit import explain
from emotionkit.errors import ExplainError
from emotionkit.explain._similarity import is_attribution
from emotionkit.explain.faithfulness_curves import faithfulness
from emotionkit.explain.sanity import sanity_check

ATTRIBUTION = [n for n in explain.available() if is_attribution(explain.get(n))]
OTHER = [n for n in explain.available() if n not in ATTRIBUTION]



def tiny_net() -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(4),
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(16, 7),
    )  # fmt: skip
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return model.eval()


def _hooks(model):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def test_builtins_are_registered():
    assert {"saliency", "guided-backprop", "grad-cam"} <= set(ATTRIBUTION)
    assert "activation-max" not in ATTRIBUTION and "layer-outputs" not in ATTRIBUTION


@pytest.mark.parametrize("name", ATTRIBUTION)
def test_every_attribution_explainer(name):
    model = tiny_net()
    x = torch.rand(2, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    san = sanity_check(model, name, x, n_examples=1)
    fai = faithfulness(model, name, x, steps=4)
    assert san.layers == ["8", "4", "1", "0"]  # output first, in execution order
    assert all(np.isfinite(v).any() for v in san.scores.values())
    assert fai.curves["deletion"].shape == (2, 5)
    assert np.array_equal(san.targets, fai.targets)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng[0], torch.get_rng_state()) and rng[2] == random.getstate()
    assert np.array_equal(rng[1], np.random.get_state()[1])
    assert _hooks(model) == 0 and not model.training


def test_saliency_changes_with_the_weights():
    """Vanilla saliency's rank correlation falls once the weights are randomized."""
    model = tiny_net()
    x = torch.rand(4, 1, 48, 48, generator=torch.Generator().manual_seed(2))
    rows = sanity_check(model, "saliency", x, similarity="spearman").rows()
    assert rows[-1]["spearman_abs_mean"] < 0.5


@pytest.mark.parametrize("name", OTHER)
def test_non_attribution_explainers_are_refused(name):
    with pytest.raises(ExplainError, match="need an attribution method"):
        faithfulness(tiny_net(), name, torch.rand(2, 1, 48, 48), steps=2)
    with pytest.raises(ExplainError, match=f"explainer '{name}' does not make per-pixel"):
        sanity_check(tiny_net(), name, torch.rand(2, 1, 48, 48))


def test_label_randomization_with_the_trainer(synthetic_small):
    from emotionkit.explain.sanity import label_randomization_check
    from emotionkit.models import ModelZoo
    from emotionkit.training import train_function

    train = synthetic_small.split("Training").subset(slice(0, 64))
    images = synthetic_small.split("PublicTest").subset(slice(0, 3))
    labels = train.labels.copy()
    rng = torch.get_rng_state()
    res = label_randomization_check(
        lambda: ModelZoo.create("dnn", seed=0, hidden=[16]),
        train,
        "saliency",
        images,
        train=train_function(epochs=1, batch_size=32, device="cpu", quiet=True, seed=0),
    )
    assert torch.equal(rng, torch.get_rng_state())
    assert np.array_equal(train.labels, labels)  # the caller's dataset keeps its labels
    assert res.mode == "labels" and res.scores["spearman_abs"].shape == (1, 3)
    assert np.isfinite(res.scores["spearman_abs"]).all()


def test_builtin_saliency_finds_the_region():
    from emotionkit.testing.region import RegionModel

    model = RegionModel()
    x = model.example_images(4, seed=3)
    res = faithfulness(model, "saliency", x, steps=16)
    s = res.summary()
    assert (res.targets == model.target_class).all()
    assert s["deletion_auc"] < s["random_deletion_auc"] - 0.2
    assert s["insertion_auc"] > s["random_insertion_auc"] + 0.5
