"""``integrated-gradients``: path-integrated gradients from a baseline (Sundararajan et al.).

``attribution = (x - baseline) * integral_0^1 d logit_target(baseline + a (x - baseline)) / dx da``,
approximated by a quadrature rule over ``steps`` points. By the completeness axiom the
attributions of an image sum to ``logit(x) - logit(baseline)``; ``extras`` reports that
difference and the absolute ``completeness_error`` of the approximation, per image. All
``images x steps`` points go through the model in chunks of ``max_batch``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from ...errors import ConfigError
from ..base import Attribution, AttributionExplainer, check_choice, check_int
from ._common import clean_logits, flat_chunks, input_gradients, progress_bar

RULES = ("gausslegendre", "trapezoid", "midpoint", "left", "right")
BASELINE_WORDS = ("black", "white", "mean")
#: The most path points an explanation may use (Gauss-Legendre is exact for polynomials of
#: degree below ``2 * steps``; published work uses 20 to 300 Riemann steps).
MAX_STEPS = 1024
# numpy's leggauss solves a dense eigenproblem (cubic in steps); above this, scipy's
# roots_legendre (the same nodes and weights to float precision) is much faster
_NUMPY_GAUSS_MAX = 256


def quadrature(rule: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in [0, 1] and weights (summing to 1) of a quadrature rule.

    Args:
        rule: ``"gausslegendre"`` (exact for polynomials of degree < 2 * steps),
            ``"trapezoid"`` (includes both ends; needs steps >= 2), ``"midpoint"``,
            ``"left"`` or ``"right"`` Riemann sums.
        steps: Number of points.

    Returns:
        ``(alphas, weights)`` float64 arrays of length ``steps``.
    """
    if not 1 <= steps <= MAX_STEPS:
        raise ConfigError(f"integrated-gradients: steps must be in 1..{MAX_STEPS}, got {steps}")
    if rule == "gausslegendre":
        if steps <= _NUMPY_GAUSS_MAX:
            nodes, weights = np.polynomial.legendre.leggauss(steps)
        else:
            from scipy.special import roots_legendre

            nodes, weights = roots_legendre(steps)
        return (nodes + 1.0) / 2.0, weights / 2.0
    if rule == "trapezoid":
        if steps < 2:
            raise ConfigError("integrated-gradients: the trapezoid rule needs steps >= 2")
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2.0
        return np.linspace(0.0, 1.0, steps), weights
    offset = {"midpoint": 0.5, "left": 0.0, "right": 1.0}[rule]
    return (np.arange(steps) + offset) / steps, np.full(steps, 1.0 / steps)


def make_baseline(baseline: Any, x: torch.Tensor) -> torch.Tensor:
    """Turn the ``baseline`` option into a tensor shaped like ``x``.

    Args:
        baseline: A number (a constant image), ``"black"`` (0), ``"white"`` (1), ``"mean"``
            (each image's mean pixel), or a tensor/array of shape (C, H, W) or (N, C, H, W).
        x: The images.

    Returns:
        The baseline (N, C, H, W).
    """
    if isinstance(baseline, bool):
        raise ConfigError(f"baseline must be a number, a word or an image, got {baseline!r}")
    if isinstance(baseline, (int, float)):
        return torch.full_like(x, float(baseline))
    if isinstance(baseline, str):
        if baseline == "black":
            return torch.zeros_like(x)
        if baseline == "white":
            return torch.ones_like(x)
        if baseline == "mean":
            return x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x).clone()
        raise ConfigError(
            f"unknown baseline {baseline!r}; use a number, {', '.join(BASELINE_WORDS)} or an image"
        )
    b = torch.as_tensor(np.asarray(baseline) if not isinstance(baseline, torch.Tensor)
                        else baseline.detach())
    b = b.to(device=x.device, dtype=x.dtype)
    if b.shape == x.shape[1:]:
        b = b.expand_as(x)
    if b.shape != x.shape:
        raise ConfigError(
            f"baseline of shape {tuple(b.shape)} does not match the images {tuple(x.shape)}"
        )
    return b.clone()


class IntegratedGradients(AttributionExplainer):
    """Integrated gradients; see the module docstring.

    Keyword Args:
        baseline: Number, ``"black"``, ``"white"``, ``"mean"`` or an image (default 0: black).
        steps: Number of points on the path (1 to :data:`MAX_STEPS`).
        rule: Quadrature rule (``"gausslegendre"`` default, ``"trapezoid"``, ``"midpoint"``,
            ``"left"``, ``"right"``).
        max_batch: Path points per forward/backward pass (default None: 32 on CPU, 256 on GPU).
        progress: Show a progress bar on stderr.
    """

    name = "integrated-gradients"
    description = "Gradients integrated along a path from a baseline; reports completeness"
    defaults = MappingProxyType({
        "baseline": 0.0, "steps": 50, "rule": "gausslegendre", "max_batch": None,
        "progress": False,
    })
    smoothable = True

    def attribute(self, state, x, target, options) -> Attribution:
        steps = check_int(self.name, "steps", options["steps"], 1, MAX_STEPS)
        rule = check_choice(self.name, "rule", options["rule"], RULES)
        max_batch = options["max_batch"]
        baseline = make_baseline(options["baseline"], x)
        alphas_np, weights_np = quadrature(rule, steps)
        alphas = torch.as_tensor(alphas_np, dtype=x.dtype, device=x.device)
        weights = torch.as_tensor(weights_np, dtype=x.dtype, device=x.device)
        logits, targets = clean_logits(state.model, x, target, max_batch)
        base_logits, _ = clean_logits(state.model, baseline, targets, max_batch)

        diff = x - baseline
        total = torch.zeros_like(x)
        n = len(x)
        shape = (-1,) + (1,) * (x.ndim - 1)
        with progress_bar(n * steps, options["progress"], self.name) as update:
            for img, step in flat_chunks(steps, n, max_batch):
                img, step = img.to(x.device), step.to(x.device)
                points = baseline[img] + alphas[step].reshape(shape) * diff[img]
                grads, _, _ = input_gradients(state.model, points, targets[img], len(points))
                total.index_add_(0, img, grads * weights[step].reshape(shape))
                update(len(img))
        maps = diff * total
        idx = targets[:, None]
        delta = (logits.gather(1, idx) - base_logits.gather(1, idx))[:, 0]
        summed = maps.reshape(n, -1).double().sum(dim=1)
        error = (summed - delta.double()).abs()
        return Attribution(maps, targets, logits, {
            "completeness_error": error,
            "target_delta": delta,
            "attribution_sum": summed,
            "baseline_logit": base_logits.gather(1, idx)[:, 0],
        })
