"""Display-only transforms of attribution maps: normalization and top-k masking.

Explainers return *raw* maps; these functions make pictures of them and never feed back into
the numbers an :class:`~emotionkit.explain.Explanation` keeps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = ["NORMALIZE_MODES", "normalize_maps", "top_k_mask", "to_image_size"]

NORMALIZE_MODES = ("minmax", "percentile", "abs-max", "none")


def _reduce_dims(maps: torch.Tensor, per: str) -> tuple[int, ...]:
    if per == "image":
        return tuple(range(1, maps.ndim))
    if per == "batch":
        return tuple(range(maps.ndim))
    raise ConfigError(f"per must be 'image' or 'batch', got {per!r}")


def _quantile(values: torch.Tensor, q: float, per: str) -> torch.Tensor:
    """Quantile ``q`` (0..1) over each image or the whole batch, shaped to broadcast."""
    flat = values.reshape(values.shape[0], -1) if per == "image" else values.reshape(1, -1)
    out = torch.quantile(flat.double(), q, dim=1).to(values.dtype)
    return out.reshape(-1, *([1] * (values.ndim - 1)))


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(num.dtype).tiny), 0.0)


def normalize_maps(
    maps: torch.Tensor,
    mode: str = "minmax",
    per: str = "image",
    clip: tuple[float, float] = (1.0, 99.0),
    signed: bool = False,
) -> torch.Tensor:
    """Scale maps for display.

    Args:
        maps: Raw maps (N, ...).
        mode: ``"minmax"`` (unsigned: min -> 0, max -> 1; signed: divide by the largest
            magnitude), ``"percentile"`` (first clip to the ``clip`` percentiles, then min-max;
            signed maps clip magnitudes at the upper percentile), ``"abs-max"`` (divide by the
            largest magnitude, so zero stays zero) or ``"none"`` (a copy of the raw values).
        per: ``"image"`` (each map on its own scale) or ``"batch"`` (one scale for all, so
            images can be compared).
        clip: Lower and upper percentiles (0..100) for ``mode="percentile"``.
        signed: Keep the sign (result in [-1, 1], zero stays zero, for a diverging colormap);
            otherwise the magnitude ``|map|`` is shown, in [0, 1].

    Returns:
        A new float tensor shaped like ``maps``; constant maps become zeros.

    Raises:
        ConfigError: Unknown mode or per, or bad percentiles.
    """
    if mode not in NORMALIZE_MODES:
        raise ConfigError(f"unknown normalization {mode!r}; valid: {', '.join(NORMALIZE_MODES)}")
    dims = _reduce_dims(maps, per)
    m = maps.detach().float().clone()
    if mode == "none":
        return m
    if not signed:
        m = m.abs()
    if mode == "percentile":
        lo_q, hi_q = (float(c) for c in clip)
        if not 0.0 <= lo_q < hi_q <= 100.0:
            raise ConfigError(f"clip percentiles must satisfy 0 <= lo < hi <= 100, got {clip!r}")
        if signed:
            hi = _quantile(m.abs(), hi_q / 100.0, per)
            return _safe_div(torch.maximum(torch.minimum(m, hi), -hi), hi)
        lo, hi = _quantile(m, lo_q / 100.0, per), _quantile(m, hi_q / 100.0, per)
        m = torch.maximum(torch.minimum(m, hi), lo)
        return _safe_div(m - lo, hi - lo)
    if signed or mode == "abs-max":
        return _safe_div(m, m.abs().amax(dim=dims, keepdim=True))
    lo = m.amin(dim=dims, keepdim=True)
    return _safe_div(m - lo, m.amax(dim=dims, keepdim=True) - lo)


def to_image_size(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize maps (N, C, h, w) to the image size with bilinear interpolation (no-op if equal).

    Args:
        maps: Maps of any spatial size.
        size: ``(H, W)`` of the images.

    Returns:
        Maps (N, C, H, W).
    """
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps.float(), size=tuple(size), mode="bilinear", align_corners=False)


def top_k_mask(maps: torch.Tensor, top_k: float = 0.1) -> torch.Tensor:
    """Mark the ``top_k`` share of pixels with the largest attribution magnitude, per image.

    Args:
        maps: Maps (N, C, H, W); channels are summed in magnitude.
        top_k: Share of pixels to keep, in (0, 1] (at least one pixel is kept).

    Returns:
        A bool tensor (N, 1, H, W) with exactly ``ceil(top_k * H * W)`` true pixels per image.

    Raises:
        ConfigError: ``top_k`` outside (0, 1].
    """
    if not isinstance(top_k, (int, float)) or isinstance(top_k, bool) or not 0 < top_k <= 1:
        raise ConfigError(f"top_k must be a share in (0, 1], got {top_k!r}")
    n, _, h, w = maps.shape
    score = maps.detach().float().abs().sum(dim=1).reshape(n, -1)
    k = max(1, math.ceil(top_k * h * w - 1e-9))
    idx = score.topk(k, dim=1).indices
    mask = torch.zeros_like(score, dtype=torch.bool).scatter_(1, idx, True)
    return mask.reshape(n, 1, h, w)
