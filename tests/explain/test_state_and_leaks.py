"""Every registered explainer leaves the model exactly as it found it: after success, after an
invalid target, and when a layer raises in forward or backward; memory stays flat."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
import torch
from torch import nn

from emotionkit import explain
from emotionkit.errors import ConfigError, EmotionKitError
from emotionkit.explain._model_state import ModelState
from emotionkit.testing import TinyCNN, assert_restored, check_explainer, hook_counts, snapshot

FAST = {
    "activation-max": {"steps": 2},
    "integrated-gradients": {"steps": 3},
    "smoothgrad": {"samples": 2},
    "occlusion": {"window": 3, "stride": 3},
}



def awkward_model(**kwargs) -> TinyCNN:
    """A model in train mode, with one frozen parameter and an existing .grad."""
    model = TinyCNN(activation="relu-inplace", **kwargs).train()
    model.fc.bias.requires_grad_(False)
    model.conv.weight.grad = torch.full_like(model.conv.weight, 3.0)
    return model


def images(n: int = 2) -> torch.Tensor:
    return torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", explain.available())
def test_success_restores_everything(name):
    model = awkward_model()
    x = images()
    result = check_explainer(explain.get(name), model, x, **FAST.get(name, {}))
    assert result.method == name
    assert model.training and model.conv.training


@pytest.mark.parametrize("name", explain.available())
def test_invalid_target_restores_everything(name):
    model = awkward_model()
    before = snapshot(model)
    with pytest.raises(ConfigError, match="99|takes no target"):
        explain.get(name).explain(model, images(), target=99, **FAST.get(name, {}))
    assert_restored(model, before)


@pytest.mark.parametrize("mode", ["forward", "backward"])
@pytest.mark.parametrize("name", explain.available())
def test_failing_layer_restores_everything(name, mode):
    model = awkward_model(fail=mode)
    before = snapshot(model)
    try:
        explain.get(name).explain(model, images(), **FAST.get(name, {}))
    except (RuntimeError, EmotionKitError) as exc:
        assert "on purpose" in str(exc)
    else:
        assert mode == "backward"  # methods without a backward pass may succeed
    assert_restored(model, before)
    assert hook_counts(model) == {}


def test_user_hooks_are_kept_and_ours_removed():
    model = TinyCNN()
    calls = []
    handle = model.conv.register_forward_hook(lambda m, a, o: calls.append(1))
    explain.run("guided-backprop", model, images())
    assert hook_counts(model) == {"conv": 1}
    handle.remove()
    assert calls


def test_model_state_restores_in_finally():
    model = awkward_model()
    before = snapshot(model)
    with pytest.raises(KeyError):
        with ModelState(model) as state:
            hooks = state.hooks()
            hooks.forward(model.conv, lambda m, a, o: None)
            state.swap(model, "act", nn.Identity())
            assert not model.training and not model.conv.weight.requires_grad
            assert isinstance(model.act, nn.Identity)
            raise KeyError("boom")
    assert_restored(model, before)
    assert isinstance(model.act, nn.ReLU)


def test_grad_mode_is_enabled_inside_and_restored():
    with torch.no_grad():
        result = explain.run("saliency", TinyCNN(), images())
        assert not torch.is_grad_enabled()
    assert result.maps.abs().sum() > 0


def test_no_hooks_and_flat_memory_over_1000_calls():
    model = TinyCNN(activation="relu-inplace", reuse=True)
    x = images(2)
    sal, gbp = explain.get("saliency"), explain.get("guided-backprop")
    for _ in range(50):  # warm up caches
        sal.explain(model, x)
        gbp.explain(model, x)
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.take_snapshot()
        for _ in range(500):
            sal.explain(model, x)
            gbp.explain(model, x)
        gc.collect()
        end = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(stat.size_diff for stat in end.compare_to(start, "filename"))
    assert growth < 100_000, f"memory grew by {growth} bytes over 1,000 calls"
    assert hook_counts(model) == {}
    assert vars(sal) == {} and vars(gbp) == {}  # explainers keep no per-call state


def test_caller_tensor_untouched_and_maps_not_aliased():
    x = images().requires_grad_(False)
    x_orig = x.clone()
    result = explain.run("saliency", TinyCNN(), x)
    assert torch.equal(x, x_orig) and x.grad is None and not x.requires_grad
    result.maps.add_(1.0)  # owned by the explanation
    assert torch.equal(x, x_orig)
    leaf = images().requires_grad_(True)
    explain.run("guided-backprop", TinyCNN(), leaf)
    assert leaf.grad is None


def test_swapped_is_undone_at_block_end_and_on_error():
    model = awkward_model()
    original = model.act
    with ModelState(model) as state:
        assert state.owner("act") == (model, "act")
        with state.swapped({"act": nn.Identity()}):
            assert isinstance(model.act, nn.Identity)
        assert model.act is original
        with pytest.raises(KeyError), state.swapped({"act": nn.Identity()}):
            raise KeyError("boom")
        assert model.act is original
        with pytest.raises(AttributeError):  # an unknown name swaps nothing
            with state.swapped({"act": nn.Identity(), "nope.x": nn.Identity()}):
                pass
        assert model.act is original
    assert model.act is original
