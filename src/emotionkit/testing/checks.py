"""Checks that an explainer leaves a model exactly as it found it (for plugin authors too).

Typical use in a plugin's tests::

    from emotionkit.testing import TinyCNN, check_explainer
    check_explainer(MyExplainer(), TinyCNN(), torch.rand(2, 1, 6, 6))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["hook_counts", "ModelSnapshot", "snapshot", "assert_restored", "check_explainer"]

_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_pre_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_state_dict_hooks",
    "_load_state_dict_pre_hooks",
)


def hook_counts(model: nn.Module) -> dict[str, int]:
    """Return module name -> number of hooks of any kind, for modules that have any.

    Args:
        model: The model.

    Returns:
        An empty dict when no module carries a hook.
    """
    counts = {}
    for name, module in model.named_modules():
        n = sum(len(getattr(module, attr, None) or {}) for attr in _HOOK_DICTS)
        if n:
            counts[name or "<root>"] = n
    return counts


@dataclass
class ModelSnapshot:
    """What :func:`assert_restored` compares: modes, flags, values, grads, modules, hooks."""

    training: dict[str, bool]
    requires_grad: dict[str, bool]
    values: dict[str, torch.Tensor]
    grads: dict[str, Any]
    modules: dict[str, int]
    hooks: dict[str, int]


def snapshot(model: nn.Module) -> ModelSnapshot:
    """Record a model's state before an explainer runs.

    Args:
        model: The model.

    Returns:
        The snapshot.
    """
    return ModelSnapshot(
        training={n: m.training for n, m in model.named_modules()},
        requires_grad={n: p.requires_grad for n, p in model.named_parameters()},
        values={n: t.detach().clone() for n, t in model.state_dict().items()},
        grads={n: (None if p.grad is None else p.grad.detach().clone())
               for n, p in model.named_parameters()},
        modules={n: id(m) for n, m in model.named_modules()},
        hooks=hook_counts(model),
    )


def assert_restored(model: nn.Module, before: ModelSnapshot) -> None:
    """Assert that ``model`` is in the state recorded by :func:`snapshot`.

    Args:
        model: The model.
        before: The earlier snapshot.

    Raises:
        AssertionError: Naming what changed.
    """
    after = snapshot(model)
    assert after.hooks == before.hooks, f"hooks left behind: {after.hooks} (before {before.hooks})"
    assert after.modules == before.modules, "modules were swapped and not restored"
    assert after.training == before.training, "train/eval mode not restored"
    assert after.requires_grad == before.requires_grad, "requires_grad not restored"
    for name, value in before.values.items():
        assert torch.equal(after.values[name], value), f"parameter or buffer {name!r} changed"
    for name, grad in before.grads.items():
        now = after.grads[name]
        same = (now is None and grad is None) or (
            now is not None and grad is not None and torch.equal(now, grad))
        assert same, f"parameter {name!r} .grad was touched"


def check_explainer(explainer: Any, model: nn.Module, images: torch.Tensor, **options: Any):
    """Run an explainer once and check the contract's promises about side effects.

    Checks: the model is restored (hooks, modes, ``requires_grad``, values, ``.grad``,
    modules); the caller's images are unchanged, do not require gradients and got no
    ``.grad``; the maps are plain CPU tensors that share no memory with the images.

    Args:
        explainer: An :class:`~emotionkit.explain.Explainer`.
        model: A model (e.g. :class:`~emotionkit.testing.TinyCNN`).
        images: A float batch in [0, 1].
        **options: Options for the explainer.

    Returns:
        The :class:`~emotionkit.explain.Explanation`.
    """
    before = snapshot(model)
    original = images.detach().clone()
    result = explainer.explain(model, images, **options)
    assert_restored(model, before)
    assert torch.equal(images, original), "the caller's images were modified"
    assert not images.requires_grad and images.grad is None, "the caller's images got grads"
    maps = result.maps if isinstance(result.maps, dict) else {"maps": result.maps}
    for key, m in maps.items():
        assert isinstance(m, torch.Tensor) and m.device.type == "cpu", f"{key} not a CPU tensor"
        assert not m.requires_grad, f"{key} requires grad"
        assert m.untyped_storage().data_ptr() != images.untyped_storage().data_ptr(), (
            f"{key} shares memory with the images")
    return result
