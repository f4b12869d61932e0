"""Make the layers in front of a target layer cheaper to run, without changing what they compute.

Activation maximization runs the network up to one layer hundreds of times, and the
faithfulness curves run the whole network on thousands of masked images. Two rewrites of the
layers that run pay off on every device and are exact up to float rounding in eval mode:

* **Conv-BatchNorm folding.** An eval-mode ``BatchNorm2d`` that directly follows a convolution is
  an affine map per channel, so it can be folded into the convolution's weight and bias
  (:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`, the same fold ``torch.ao`` uses). This drops
  a full read-modify-write of the largest activations in the forward *and* the backward pass.
* **Channels-last weights.** Convolutions whose weights are NHWC produce NHWC activations, for
  which oneDNN (CPU) and cuDNN (GPU) have faster kernels, and the element-wise layers in between
  keep that layout.

The rewrites are applied with :meth:`ModelState.swap`, so they last only while the explainer's
model state is open; the user's modules and parameters are never modified. A fold is used only
when the trace shows the BatchNorm called right after the convolution on that very tensor, and
only after a numerical check that the target layer's output did not change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ._model_state import ModelState
from .trace import ForwardTrace

__all__ = ["PrefixPlan", "speed_up_prefix"]


@dataclass
class PrefixPlan:
    """What :func:`speed_up_prefix` did.

    Attributes:
        folded: ``"conv+bn"`` names of folded pairs.
        channels_last: Names of convolutions given NHWC weights.
        skipped: Why a candidate rewrite was not used (empty when all were).
    """

    folded: list[str] = field(default_factory=list)
    channels_last: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _bn_follows_conv(state: ModelState, conv: nn.Module, bn: nn.Module, probe: torch.Tensor,
                     stop: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Whether ``bn`` receives exactly the tensor that ``conv`` returned (object identity)."""
    seen: dict[str, torch.Tensor | bool] = {}

    def after_conv(mod, args, output):
        seen["conv"] = output

    def before_bn(mod, args):
        seen["ok"] = bool(args) and args[0] is seen.get("conv")

    with state.hooks() as hooks, torch.no_grad():
        hooks.forward(conv, after_conv)
        hooks.forward_pre(bn, before_bn)
        stop(probe)
    return seen.get("ok") is True


def _candidate_pairs(trace: ForwardTrace, before: int) -> list[tuple[str, str]]:
    calls = trace.calls[:before]
    pairs = []
    for (conv_name, conv), (bn_name, bn) in zip(calls, calls[1:], strict=False):
        if (isinstance(conv, nn.Conv2d) and type(bn) is nn.BatchNorm2d
                and not bn.training and bn.track_running_stats
                and bn.running_mean is not None and bn.num_features == conv.out_channels
                and trace.call_counts.get(conv_name) == 1 and trace.call_counts.get(bn_name) == 1):
            pairs.append((conv_name, bn_name))
    return pairs


def speed_up_prefix(
    state: ModelState,
    trace: ForwardTrace,
    layer: str | None,
    probe: torch.Tensor,
    run_to_layer: Callable[[torch.Tensor], torch.Tensor],
    *,
    fold_batchnorm: bool = True,
    channels_last: bool = False,
) -> PrefixPlan:
    """Swap cheaper, equivalent modules into the part of the model that runs before ``layer``.

    Args:
        state: The open model state (eval mode); swaps end when it exits.
        trace: A forward trace of the model.
        layer: The target layer's name; it and everything after it stay as they are.
            ``None``: the whole model (``run_to_layer`` then returns the model's output).
        probe: A small batch of inputs for the identity and numerical checks.
        run_to_layer: Runs the model on a batch and returns the target layer's output.
        fold_batchnorm: Fold eval-mode BatchNorm into the convolution in front of it.
        channels_last: Give the prefix's convolutions NHWC weights.

    Returns:
        A :class:`PrefixPlan` describing the rewrites.
    """
    plan = PrefixPlan()
    model = state.model
    names = [name for name, _ in trace.calls]
    if layer is None:
        before = len(names)
    elif layer in names:
        before = names.index(layer)
    else:
        return plan
    with torch.no_grad():
        reference = run_to_layer(probe).float()
    replaced: dict[str, nn.Module] = {}
    if fold_batchnorm:
        for conv_name, bn_name in _candidate_pairs(trace, before):
            conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
            if not _bn_follows_conv(state, conv, bn, probe, run_to_layer):
                plan.skipped.append(f"{bn_name} does not take {conv_name}'s output directly")
                continue
            fused = fuse_conv_bn_eval(copy.deepcopy(conv), copy.deepcopy(bn))
            fused.weight.requires_grad_(False)
            if fused.bias is not None:
                fused.bias.requires_grad_(False)
            replaced[conv_name] = fused
            replaced[bn_name] = nn.Identity()
            plan.folded.append(f"{conv_name}+{bn_name}")
    if channels_last:
        for name in dict.fromkeys(names[:before]):
            module = replaced.get(name, model.get_submodule(name))
            if isinstance(module, nn.Conv2d):
                if name not in replaced:
                    module = copy.deepcopy(module)
                    for p in module.parameters():
                        p.requires_grad_(False)
                replaced[name] = module.to(memory_format=torch.channels_last)
                plan.channels_last.append(name)
    if not replaced:
        return plan
    with state.swapped(replaced), torch.no_grad():  # keep the rewrites only if they pass
        rewritten = run_to_layer(probe).float()
    scale = reference.abs().max().clamp_min(1e-12)
    if not torch.allclose(rewritten, reference, rtol=1e-3, atol=1e-4 * float(scale)):
        plan.skipped.append("the rewritten prefix changed the layer's output; ran it unchanged")
        plan.folded.clear()
        plan.channels_last.clear()
        return plan
    for name, module in replaced.items():
        state.swap(*state.owner(name), module)
    return plan
