"""Record one forward pass: which modules run, in what order, how often; functional activations.

Explainers and sanity checks need facts that the module tree does not tell: the order in which
layers *run* (a model may declare its modules in any order), which modules are *reused* (one ReLU
instance called at several places), and which activations are plain functions (``F.relu`` inside a
``forward``) that no module hook can see. :func:`trace_forward` runs the model once with temporary
hooks and a :class:`torch.overrides.TorchFunctionMode` and returns a :class:`ForwardTrace`.

The traced model is left exactly as it was: hooks are removed in ``finally``, the train/eval mode
is not touched, the pass runs under :func:`torch.no_grad`, and buffers (e.g. BatchNorm running
statistics, which a forward pass in train mode updates) are restored afterwards.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import ExplainError

__all__ = ["ForwardTrace", "trace_forward", "FUNCTIONAL_ACTIVATION_NAMES", "is_activation_module"]

# Names of torch functions / Tensor methods that are element-wise activations. Matching on the
# function name covers ``torch.relu``, ``F.relu``, ``Tensor.relu`` and their in-place variants.
FUNCTIONAL_ACTIVATION_NAMES: frozenset[str] = frozenset(
    {
        "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "prelu", "rrelu", "rrelu_",
        "elu", "elu_", "selu", "selu_", "celu", "celu_", "gelu", "silu", "mish", "hardswish",
        "hardsigmoid", "hardtanh", "hardtanh_", "sigmoid", "sigmoid_", "tanh", "tanh_",
        "softplus", "softsign", "logsigmoid", "tanhshrink", "threshold", "threshold_", "glu",
    }
)  # fmt: skip

# ``clamp`` / ``clip`` / ``clamp_min`` with a lower bound of 0 and no upper bound is a ReLU
# written as a function (``x.clamp(min=0)``); it is recorded as ``"clamp(min=0)"``.
_CLAMP_NAMES: frozenset[str] = frozenset(
    {"clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_"}
)
CLAMP_RELU_NAME = "clamp(min=0)"


@dataclass
class ForwardTrace:
    """What one traced forward pass did.

    Attributes:
        calls: ``(module_name, module)`` for every call of a *leaf* module (one without children),
            in execution order; a reused module appears once per call. The root is named ``""``.
        call_counts: Module name -> number of calls (leaf and non-leaf modules); a value above 1
            marks a reused module.
        output_shapes: One entry per item of ``calls``: the output's shape as a tuple, a tuple of
            shapes for tuple/list outputs, or ``None`` for non-tensor outputs.
        functional_activations: Names of element-wise activation functions (``"relu"``,
            ``"gelu"``, ...; ``"clamp(min=0)"`` for a clamp at zero without an upper bound)
            called outside an activation module's own ``forward``, in call order.
        functional_activation_sites: ``(function_name, module_name)`` for each item of
            ``functional_activations``: the innermost module whose ``forward`` called it
            (``""`` for the root model).
        module_order: Names of all modules (leaf or not) in the order they were first entered.
        parametrized_order: Names of modules with parameters of their own, ordered by the first
            time one of their parameters was used in a computation (the order they first run).
    """

    calls: list[tuple[str, nn.Module]] = field(default_factory=list)
    call_counts: dict[str, int] = field(default_factory=dict)
    output_shapes: list[Any] = field(default_factory=list)
    functional_activations: list[str] = field(default_factory=list)
    functional_activation_sites: list[tuple[str, str]] = field(default_factory=list)
    module_order: list[str] = field(default_factory=list)
    parametrized_order: list[str] = field(default_factory=list)

    def parametrized_in_execution_order(self) -> list[str]:
        """Return the names of modules with own parameters, in the order they first run.

        Returns:
            Module names; a module whose parameters were never used in the pass is left out.
        """
        return list(self.parametrized_order)

    def leaf_modules_in_execution_order(self) -> list[str]:
        """Return the distinct leaf-module names in the order of their first call.

        Returns:
            Module names without repeats.
        """
        return list(dict.fromkeys(name for name, _ in self.calls))

    def conv_layers(self) -> list[str]:
        """Return the names of convolution modules in execution order (first call).

        Grad-CAM's default layer is the last item.

        Returns:
            Names of ``nn.Conv1d/2d/3d`` (and transposed) modules that ran, without repeats.
        """
        seen = dict.fromkeys(
            name for name, mod in self.calls if isinstance(mod, nn.modules.conv._ConvNd)
        )
        return list(seen)

    def reused_modules(self) -> list[str]:
        """Return the names of modules called more than once, in order of first call.

        Returns:
            Module names whose call count is above 1.
        """
        return [name for name in self.module_order if self.call_counts.get(name, 0) > 1]

    def modules(self) -> dict[str, nn.Module]:
        """Return a name -> module mapping of the leaf modules that ran.

        Returns:
            A dict in execution order.
        """
        return dict(self.calls)


def is_activation_module(module: nn.Module) -> bool:
    """Whether ``module`` is one of torch's activation modules (nn.ReLU, nn.GELU, ...).

    A subclass of one (``class MyReLU(nn.ReLU)``) counts as that activation.
    """
    return any(cls.__module__ == "torch.nn.modules.activation" for cls in type(module).__mro__)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _clamps_at_zero(name: str, args: tuple, kwargs: dict | None) -> bool:
    """Whether a clamp call is ``max(x, 0)``: lower bound 0, no upper bound."""
    kwargs = kwargs or {}
    low = kwargs.get("min", args[1] if len(args) > 1 else None)
    if name.startswith("clamp_min"):
        return _is_number(low) and low == 0
    high = kwargs.get("max", args[2] if len(args) > 2 else None)
    return _is_number(low) and low == 0 and high is None


def _shape_of(output: Any) -> Any:
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return tuple(_shape_of(o) for o in output)
    return None


def _iter_args(args: tuple, kwargs: dict | None):
    for value in (*args, *((kwargs or {}).values())):
        if isinstance(value, (list, tuple)):
            yield from value
        else:
            yield value


class _Recorder(TorchFunctionMode):
    """Watches torch function calls: functional activations and first use of each parameter."""

    def __init__(self, state: _TraceState) -> None:
        super().__init__()
        self.state = state

    def __torch_function__(self, func, types, args=(), kwargs=None):
        state = self.state
        name = getattr(func, "__name__", "")
        if name in _CLAMP_NAMES and _clamps_at_zero(name, args, kwargs):
            name = CLAMP_RELU_NAME
        if name in FUNCTIONAL_ACTIVATION_NAMES or name == CLAMP_RELU_NAME:
            inner = state.stack[-1] if state.stack else None
            if inner is None or not is_activation_module(inner[1]):
                site = inner[0] if inner is not None else ""
                state.trace.functional_activations.append(name)
                state.trace.functional_activation_sites.append((name, site))
        for value in _iter_args(args, kwargs):
            if isinstance(value, nn.Parameter):
                owner = state.param_owner.get(id(value))
                if owner is not None and owner not in state.param_first_use:
                    state.param_first_use[owner] = state.tick()
        return func(*args, **(kwargs or {}))


class _TraceState:
    def __init__(self, model: nn.Module) -> None:
        self.trace = ForwardTrace()
        self.stack: list[tuple[str, nn.Module, int | None]] = []
        self.counter = 0
        self.first_entry: dict[str, int] = {}
        self.param_first_use: dict[str, int] = {}
        self.param_owner: dict[int, str] = {}
        self.has_own_params: set[str] = set()
        for name, module in model.named_modules():
            own = list(module.parameters(recurse=False))
            if own:
                self.has_own_params.add(name)
            for p in own:
                self.param_owner.setdefault(id(p), name)

    def tick(self) -> int:
        self.counter += 1
        return self.counter


def trace_forward(model: nn.Module, example_input: Any) -> ForwardTrace:
    """Run ``model`` once on ``example_input`` and record what happened.

    Args:
        model: Any module. Its mode, parameters, buffers and hooks are the same afterwards.
        example_input: A tensor (passed as ``model(example_input)``), or a tuple/list of
            positional inputs. One small batch is enough; in train mode BatchNorm needs > 1 sample.

    Returns:
        The :class:`ForwardTrace`.

    Raises:
        ExplainError: The forward pass raised; the message includes the original error.
    """
    if not isinstance(model, nn.Module):
        raise ExplainError(f"trace_forward needs a torch.nn.Module, got {type(model).__name__}")
    state = _TraceState(model)
    trace = state.trace
    counts: Counter[str] = Counter()

    def pre_hook(name: str, module: nn.Module):
        def hook(mod, args):
            order = state.tick()
            counts[name] += 1
            state.first_entry.setdefault(name, order)
            is_leaf = next(iter(mod.children()), None) is None
            index = None
            if is_leaf:
                index = len(trace.calls)
                trace.calls.append((name, mod))
                trace.output_shapes.append(None)
            state.stack.append((name, mod, index))

        return hook

    def post_hook(name: str):
        def hook(mod, args, output):
            # pop up to and including our own frame (robust to a child that raised and was caught)
            while state.stack:
                frame_name, _, index = state.stack.pop()
                if frame_name == name:
                    if index is not None:
                        trace.output_shapes[index] = _shape_of(output)
                    break

        return hook

    inputs = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    saved_buffers = [(b, b.detach().clone()) for b in model.buffers()]
    handles = []
    try:
        for name, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(pre_hook(name, module)))
            handles.append(module.register_forward_hook(post_hook(name)))
        try:
            with torch.no_grad(), _Recorder(state):
                model(*inputs)
        except Exception as exc:
            raise ExplainError(
                f"tracing the forward pass of {type(model).__name__} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    finally:
        for handle in handles:
            handle.remove()
        with torch.no_grad():
            for buf, saved in saved_buffers:
                if buf.shape == saved.shape:
                    buf.copy_(saved)

    trace.call_counts = dict(counts)
    trace.module_order = sorted(state.first_entry, key=state.first_entry.__getitem__)
    ran = [name for name in state.has_own_params if name in state.first_entry]
    trace.parametrized_order = sorted(
        ran, key=lambda n: state.param_first_use.get(n, state.first_entry[n])
    )
    return trace
