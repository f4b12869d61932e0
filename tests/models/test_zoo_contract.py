"""Contract checks run on every registered model (new models are covered automatically)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from emotionkit.models import ModelZoo, Normalize

ALL = ModelZoo.list()

_ACTIVATION_MODULES = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid,
                       nn.Tanh, nn.ReLU6, nn.Hardswish)
_ACTIVATION_FUNCS = {
    torch.relu, torch.relu_, torch.nn.functional.relu, torch.nn.functional.relu_,
    torch.nn.functional.leaky_relu, torch.nn.functional.prelu, torch.prelu,
    torch.nn.functional.gelu, torch.nn.functional.elu, torch.nn.functional.silu,
    torch.sigmoid, torch.tanh, torch.Tensor.relu, torch.Tensor.relu_, torch.Tensor.sigmoid,
}


def test_zoo_is_populated():
    for name in ["hw17-cnn", "hw17-dnn", "hw18-cnn", "hw18-dnn", "hw19-cnn", "hw19-dnn",
                 "vgg-fer", "resnet18-fer", "compact", "dnn"]:
        assert name in ALL


@pytest.mark.parametrize("name", ALL)
def test_forward_backward_shapes_and_gradients(name, zoo_model):
    model = zoo_model(name).train()
    x = torch.rand(2, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)  # dropout masks
    out = model(x)
    assert out.shape == (2, 7) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    out.logsumexp(dim=1).sum().backward()
    try:
        for pname, p in model.named_parameters():
            assert p.grad is not None, f"{name}: {pname} got no gradient"
            assert torch.isfinite(p.grad).all(), f"{name}: {pname} has a non-finite gradient"
            assert p.grad.abs().sum() > 0, f"{name}: {pname} has an all-zero gradient"
    finally:
        model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", ALL)
def test_input_norm_is_first_child(name, zoo_model):
    first_name, first = next(iter(zoo_model(name).named_children()))
    assert first_name == "input_norm" and isinstance(first, Normalize)


@pytest.mark.parametrize("name", ALL)
def test_same_seed_and_rebuild_from_config_give_the_same_model(name, zoo_model):
    model = zoo_model(name)
    assert model.emotionkit_name == name
    config = model.emotionkit_config
    assert json.loads(json.dumps(config)) == config  # JSON-ready
    assert config == ModelZoo.resolve_config(name)
    rebuilt = ModelZoo.create(model.emotionkit_name, seed=0, **config)
    assert rebuilt.emotionkit_config == config
    params = dict(model.named_parameters())
    rebuilt_params = dict(rebuilt.named_parameters())
    assert params.keys() == rebuilt_params.keys()
    for key, p in params.items():
        assert torch.equal(p, rebuilt_params[key]), key
    assert ModelZoo.info(name)["trainable_params"] == sum(p.numel() for p in params.values())


@pytest.mark.parametrize("name", ALL)
def test_each_module_runs_once_and_no_functional_activations(name, zoo_model):
    """Explainers hook modules: no module may run twice in a forward pass, and activations
    must be modules (a functional F.relu cannot be hooked)."""
    model = zoo_model(name).eval()
    calls: dict[str, int] = {}
    depth = [0]
    functional: list[str] = []

    class Spy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func in _ACTIVATION_FUNCS and depth[0] == 0:
                functional.append(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    def pre(module, inputs):
        if isinstance(module, _ACTIVATION_MODULES):
            depth[0] += 1

    def post(module, inputs, output):
        if isinstance(module, _ACTIVATION_MODULES):
            depth[0] -= 1
        calls[names[module]] = calls.get(names[module], 0) + 1

    names = {m: n for n, m in model.named_modules()}
    handles = []
    try:
        for m in model.modules():
            handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
        with torch.no_grad(), Spy():
            model(torch.rand(2, 1, 48, 48))
    finally:
        for h in handles:
            h.remove()
    assert not functional, f"{name}: functional activations outside modules: {functional}"
    reused = {n: c for n, c in calls.items() if c > 1}
    assert not reused, f"{name}: modules called more than once: {reused}"
    activations = [n for n, m in model.named_modules() if isinstance(m, _ACTIVATION_MODULES)]
    assert activations and all(calls.get(n) == 1 for n in activations)


@pytest.mark.parametrize("name", ALL)
def test_channels_last_gives_the_same_output(name, zoo_model):
    model = zoo_model(name).eval()
    x = torch.rand(2, 1, 48, 48, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(x)
        model.to(memory_format=torch.channels_last)
        try:
            out = model(x.to(memory_format=torch.channels_last))
        finally:
            model.to(memory_format=torch.contiguous_format)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ALL)
def test_info_is_json_ready_and_complete(name):
    info = ModelZoo.info(name)
    assert json.loads(json.dumps(info)) == info
    for key in ("description", "origin", "family", "input_size", "recipe", "config", "params",
                "trainable_params", "non_trainable_params"):
        assert key in info
    assert info["input_size"] == [1, 48, 48] and info["num_classes"] == 7
    assert info["params"] == info["trainable_params"] + info["non_trainable_params"]
    recipe_keys = {"optimizer", "lr", "batch_size", "epochs", "augment", "scheduler"}
    assert recipe_keys <= set(info["recipe"])
