"""Tests of emotionkit.explain.trace.trace_forward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from emotionkit.errors import ExplainError
from emotionkit.explain.trace import trace_forward


class OutOfOrder(nn.Module):
    """Modules declared in a different order than they run; one ReLU and one pool reused."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8 * 4 * 4, 7)  # declared first, runs last
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.bn(self.conv2(x))))
        return self.fc(x.flatten(1)) * self.scale


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        self.head = nn.Linear(2, 7)

    def forward(self, x):
        x = F.leaky_relu(self.block(x), 0.1)  # functional, at the root
        x = x.mean((2, 3)).sigmoid()  # Tensor method
        return torch.relu(self.head(x))


def _hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def test_execution_order_counts_and_shapes():
    model = OutOfOrder()
    trace = trace_forward(model, torch.rand(2, 1, 16, 16))
    assert [n for n, _ in trace.calls] == [
        "conv1", "relu", "pool", "conv2", "bn", "relu", "pool", "fc",
    ]  # fmt: skip
    assert trace.calls[0][1] is model.conv1
    assert trace.call_counts["relu"] == 2 and trace.call_counts["pool"] == 2
    assert trace.call_counts["fc"] == 1 and trace.call_counts[""] == 1
    assert trace.reused_modules() == ["relu", "pool"]
    assert trace.output_shapes[0] == (2, 4, 16, 16)
    assert trace.output_shapes[2] == (2, 4, 8, 8)
    assert trace.output_shapes[-1] == (2, 7)
    # the root's own parameter is used last, after fc
    assert trace.parametrized_in_execution_order() == ["conv1", "conv2", "bn", "fc", ""]
    assert trace.conv_layers() == ["conv1", "conv2"]
    assert trace.leaf_modules_in_execution_order() == [
        "conv1", "relu", "pool", "conv2", "bn", "fc",
    ]  # fmt: skip
    assert trace.functional_activations == []  # nn.ReLU calling F.relu is not functional


def test_functional_activations_detected_with_site():
    trace = trace_forward(Functional(), torch.rand(1, 1, 5, 5))
    assert trace.functional_activations == ["leaky_relu", "sigmoid", "relu"]
    assert trace.functional_activation_sites == [
        ("leaky_relu", ""), ("sigmoid", ""), ("relu", ""),
    ]  # fmt: skip
    assert [n for n, _ in trace.calls] == ["block.0", "block.1", "head"]


def test_functional_activation_inside_custom_module_names_it():
    class Act(nn.Module):
        def forward(self, x):
            return F.gelu(x)

    model = nn.Sequential(nn.Linear(3, 3), Act())
    trace = trace_forward(model, torch.rand(1, 3))
    assert trace.functional_activation_sites == [("gelu", "1")]


def test_model_left_untouched():
    model = OutOfOrder().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trace_forward(model, torch.rand(4, 1, 16, 16))
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats restored
    assert _hooks(model) == 0
    model.eval()
    trace_forward(model, torch.rand(1, 1, 16, 16))
    assert not model.training


def test_forward_error_removes_hooks_and_is_explain_error():
    model = OutOfOrder()
    with pytest.raises(ExplainError, match="tracing the forward pass of OutOfOrder failed"):
        trace_forward(model, torch.rand(1, 3, 16, 16))  # wrong channel count
    assert _hooks(model) == 0
    with pytest.raises(ExplainError, match="needs a torch.nn.Module"):
        trace_forward(lambda x: x, torch.rand(1))


def test_no_grad_and_tuple_inputs():
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = nn.Linear(2, 2)

        def forward(self, x, y):
            return self.b(y) + self.a(x)

    model = Two()
    trace = trace_forward(model, (torch.rand(1, 2), torch.rand(1, 2)))
    assert trace.parametrized_in_execution_order() == ["b", "a"]
    assert all(p.grad is None for p in model.parameters())
