"""A minimal explainer that follows the plugin contract by duck typing, for tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch


class InputGradientStub:
    """Vanilla input gradient with nothing but the explainer contract.

    It is not an :class:`~emotionkit.explain.Explainer` subclass on purpose: code that accepts
    third-party explainers (sanity checks, faithfulness, the CLI) must work with any object that
    has ``name`` and ``explain(model, images, target=None, **options)`` returning something with
    ``.maps`` and ``.targets``. Use it to test such code, or subclass it to build variants.

    Args:
        name: The name it reports (default ``"stub-saliency"``).
    """

    name = "stub-saliency"
    kind = "attribution"

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name

    def explain(self, model: Any, images: torch.Tensor, target: Any = None, **options: Any):
        """Gradient of the target logit with respect to a detached copy of ``images``.

        Args:
            model: A model returning logits.
            images: Float batch (N, C, H, W).
            target: ``None`` (predicted class), one class index, or one per image.
            **options: Ignored.

        Returns:
            A namespace with ``maps`` (N, C, H, W) and ``targets`` (N,), on the CPU.
        """
        x = images.detach().clone().requires_grad_(True)
        logits = model(x)
        t = logits.argmax(1) if target is None else torch.as_tensor(target).reshape(-1)
        t = t.expand(x.shape[0]) if t.numel() == 1 else t
        (grad,) = torch.autograd.grad(logits.gather(1, t.view(-1, 1)).sum(), x)
        return SimpleNamespace(maps=grad.detach().cpu(), targets=t.detach().cpu())
