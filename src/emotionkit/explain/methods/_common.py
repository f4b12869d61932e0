"""Building blocks the built-in methods share: chunked forward passes and input gradients."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from ...errors import ExplainError
from .._model_state import ModelState
from ..base import chunks
from ..inputs import resolve_targets
from ..trace import ForwardTrace, trace_forward

__all__ = ["clean_logits", "input_gradients", "model_trace", "flat_chunks", "progress_bar"]


def model_trace(state: ModelState, x: torch.Tensor) -> ForwardTrace:
    """Trace one forward pass of ``state.model`` on the first image, once per model state."""
    return state.cached("trace", lambda: trace_forward(state.model, x[:1].detach()))


def clean_logits(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor | None, max_batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of the unperturbed images and the resolved targets, without gradients.

    Args:
        model: The model (already in eval mode).
        x: Images (N, C, H, W).
        target: ``None`` (predicted) or int64 class indices (N,).
        max_batch: Images per forward pass.

    Returns:
        ``(logits (N, classes), targets (N,))``.
    """
    logits, targets = [], []
    with torch.no_grad():
        for start, stop in chunks(len(x), max_batch):
            out = model(x[start:stop])
            targets.append(resolve_targets(target, out, start))
            logits.append(out)
    return torch.cat(logits), torch.cat(targets)


def input_gradients(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor | None, max_batch: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient of each image's target logit with respect to its pixels, in chunks.

    The images of one chunk go through the model together and the target logits are summed
    before :func:`torch.autograd.grad`; in eval mode images do not interact, so each image gets
    exactly its own gradient. Parameter ``.grad`` is never touched.

    Args:
        model: The model (in eval mode; hooks installed by the caller apply).
        x: Images (N, C, H, W); not modified.
        target: ``None`` (predicted class, taken from the same forward pass) or int64 (N,).
        max_batch: Images per forward/backward pass.

    Returns:
        ``(gradients (N, C, H, W), targets (N,), logits (N, classes))``.

    Raises:
        ExplainError: The output does not depend differentiably on the input.
    """
    grads = torch.empty_like(x)
    targets, logits = [], []
    for start, stop in chunks(len(x), max_batch):
        xc = x[start:stop].detach().requires_grad_(True)
        out = model(xc)
        t = resolve_targets(target, out, start)
        if not out.requires_grad:
            raise ExplainError(
                "the model's output does not depend differentiably on its input (is there a "
                "torch.no_grad() or .detach() inside forward?)"
            )
        selected = out.gather(1, t[:, None]).sum()
        (g,) = torch.autograd.grad(selected, xc, allow_unused=True)
        grads[start:stop] = 0.0 if g is None else g
        targets.append(t)
        logits.append(out.detach())
    return grads, torch.cat(targets), torch.cat(logits)


def flat_chunks(
    rows_per_image: int, n_images: int, max_batch: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Split ``n_images * rows_per_image`` virtual rows into chunks of at most ``max_batch``.

    Row ``k`` belongs to image ``k // rows_per_image`` and is item ``k % rows_per_image`` of it
    (a noise sample, an integration step or an occlusion window).

    Yields:
        ``(image_index, item_index)`` int64 tensors of the chunk's rows.
    """
    total = rows_per_image * n_images
    for start, stop in chunks(total, max_batch):
        k = torch.arange(start, stop)
        yield k // rows_per_image, k % rows_per_image


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool, desc: str) -> Iterator[Callable[[int], object]]:
    """A tqdm bar on stderr (off when disabled or when stderr is not a terminal).

    Args:
        total: Number of units of work.
        enabled: Whether to show a bar at all.
        desc: Label of the bar.

    Yields:
        ``update(n)``, to call after each ``n`` units.
    """
    if not enabled:
        yield lambda n: None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, disable=None, leave=False)
    try:
        yield bar.update
    finally:
        bar.close()
