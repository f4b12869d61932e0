"""``guided-backprop``: gradients that pass a ReLU only where its input and the gradient are > 0.

The rule, applied at every call of every ``nn.ReLU`` module::

    grad_in = grad_out.clamp(min=0) * (input > 0)

How it is applied: a forward pre-hook records the mask ``input > 0`` of *each call* (before an
in-place ReLU overwrites its input), and a forward hook attaches a gradient hook to that call's
output which clamps the incoming gradient at zero; the ReLU's own backward then multiplies by
the same mask. A ReLU module reused at several places is therefore guided per call, and
in-place ReLUs are handled exactly. Hooks are removed when the call ends, even if the forward
or backward pass raises.

A subclass of ``nn.ReLU`` is a ReLU module and is guided the same way (the hook applies the
mask itself, so its ``forward`` may compute the ReLU any way it likes).

Activations it cannot guide are never handled silently:

* functional activations (``F.relu``/``torch.relu``, or ``x.clamp(min=0)``, inside ``forward``,
  found by tracing one forward pass) are refused with :class:`~emotionkit.errors.ExplainError`,
  since no hook can reach them; ``nonrelu="pass"`` lets their ordinary gradient through instead;
* other activation modules (LeakyReLU, PReLU, ELU, GELU, ...) follow option ``nonrelu``:
  ``"refuse"`` (default) raises; ``"treat-as-relu"`` applies the ReLU rule above to
  activations whose slope is 1 for positive inputs (LeakyReLU, PReLU, RReLU, ELU, CELU) and
  refuses the others; ``"pass"`` leaves their ordinary gradient unchanged;
* a model in which nothing can be guided (no ReLU module runs, e.g. one whose only
  non-linearity is a ``torch.where`` or a product with a mask) is refused as well, since the
  result would be the plain gradient (``saliency`` with ``absolute=False``); ``nonrelu="pass"``
  accepts that plain gradient (``extras["guided_layers"]`` is then empty).
"""

from __future__ import annotations

from types import MappingProxyType

import torch
from torch import nn

from ...errors import ExplainError
from .._model_state import ModelState
from ..base import Attribution, AttributionExplainer, check_choice
from ..trace import is_activation_module
from ._common import input_gradients, model_trace

NONRELU_CHOICES = ("refuse", "treat-as-relu", "pass")
# activations with slope 1 for positive inputs: the ReLU rule is well defined for them
_RELU_LIKE = (nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU)
# modules in torch.nn.modules.activation that are not element-wise activations
_NOT_ELEMENTWISE = (nn.Softmax, nn.LogSoftmax, nn.Softmin, nn.Softmax2d, nn.MultiheadAttention)


def _is_activation(module: nn.Module) -> bool:
    return is_activation_module(module) and not isinstance(module, _NOT_ELEMENTWISE)


def _clamp_hook(mask: torch.Tensor):
    def hook(grad: torch.Tensor) -> torch.Tensor:
        return grad.clamp(min=0) * mask

    return hook


def install_guided_hooks(state: ModelState, hooks, x: torch.Tensor, nonrelu: str,
                         method: str) -> dict[str, list[str]]:
    """Hook every ReLU (and, per ``nonrelu``, ReLU-like activations) of ``state.model``.

    Args:
        state: The active model state.
        hooks: A :class:`~emotionkit.explain._model_state.HookSet` that owns the hooks.
        x: Images, used for one traced forward pass (functional activations, executed modules).
        nonrelu: ``"refuse"``, ``"treat-as-relu"`` or ``"pass"``.
        method: Explainer name, for messages.

    Returns:
        ``{"guided": [...], "unguided": [...]}`` layer names (functional ones as
        ``"<function> in <module>"``).

    Raises:
        ExplainError: A functional or non-ReLU activation that the ``nonrelu`` rule refuses, or
            (unless ``nonrelu="pass"``) nothing to guide at all.
    """
    trace = model_trace(state, x)
    ran = trace.modules()
    functional = [f"{fn} in {site or 'the root module'}"
                  for fn, site in trace.functional_activation_sites]
    if functional and nonrelu != "pass":
        raise ExplainError(
            f"{method}: functional activations cannot be guided ({', '.join(functional)}); "
            "use nn.ReLU modules in the model, or nonrelu='pass' to keep their plain gradient"
        )
    guided, unguided, refused = [], list(functional), []
    for name, module in ran.items():
        if isinstance(module, nn.ReLU):
            guided.append((name, module))
        elif _is_activation(module):
            if nonrelu == "pass":
                unguided.append(name)
            elif nonrelu == "treat-as-relu" and isinstance(module, _RELU_LIKE):
                guided.append((name, module))
            else:
                refused.append(f"{name} ({type(module).__name__})")
    if refused:
        hint = ("nonrelu='treat-as-relu' (LeakyReLU, PReLU, RReLU, ELU, CELU) or nonrelu='pass'"
                if nonrelu == "refuse" else "nonrelu='pass'")
        raise ExplainError(
            f"{method}: cannot guide non-ReLU activation(s) {', '.join(refused)}; "
            f"use {hint}"
        )
    if not guided and nonrelu != "pass":
        raise ExplainError(
            f"{method}: nothing to guide: no nn.ReLU module runs in "
            f"{type(state.model).__name__}'s forward pass, so the map would be the plain "
            "gradient; use nn.ReLU modules, or nonrelu='pass' to accept the plain gradient"
        )
    for _, module in guided:
        masks: list[torch.Tensor] = []

        def pre_hook(mod, args, masks=masks):
            masks.append(args[0] > 0)

        def post_hook(mod, args, output, masks=masks):
            mask = masks.pop()
            if isinstance(output, torch.Tensor) and output.requires_grad:
                output.register_hook(_clamp_hook(mask))

        hooks.forward_pre(module, pre_hook)
        hooks.forward(module, post_hook)
    return {"guided": [name for name, _ in guided], "unguided": unguided}


class GuidedBackprop(AttributionExplainer):
    """Guided backpropagation (Springenberg et al., 2015); see the module docstring.

    Keyword Args:
        nonrelu: ``"refuse"`` (default), ``"treat-as-relu"`` or ``"pass"``: what to do with
            activations other than ``nn.ReLU`` modules.
        max_batch: Images per forward/backward pass (default None: 32 on CPU, 256 on GPU).
    """

    name = "guided-backprop"
    description = "Gradient passed through ReLUs only where input and gradient are positive"
    defaults = MappingProxyType({"nonrelu": "refuse", "max_batch": None})
    smoothable = True

    def attribute(self, state, x, target, options) -> Attribution:
        nonrelu = check_choice(self.name, "nonrelu", options["nonrelu"], NONRELU_CHOICES)
        with state.hooks() as hooks:
            layers = install_guided_hooks(state, hooks, x, nonrelu, self.name)
            grads, targets, logits = input_gradients(state.model, x, target, options["max_batch"])
        return Attribution(grads, targets, logits, {"guided_layers": layers["guided"],
                                                    "unguided": layers["unguided"]})
