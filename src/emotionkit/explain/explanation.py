"""The :class:`Explanation` every explainer returns: raw maps plus everything that produced them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._json import json_ready
from ..errors import ExplainError
from . import display

__all__ = ["Explanation"]

KINDS = ("attribution", "layers", "synthesis")


def _json_value(value: Any, limit: int = 64) -> Any:
    """Convert tensors, arrays, tuples and numpy scalars for JSON; big tensors become a summary."""
    return json_ready(value, limit=limit)


def _stats(m: torch.Tensor) -> dict[str, float]:
    m = m.detach().double()
    return {"min": float(m.min()), "max": float(m.max()), "mean": float(m.mean()),
            "abs_sum": float(m.abs().sum())}


@dataclass
class Explanation:
    """What an explainer computed, with the inputs and settings that produced it.

    Attributes:
        maps: The raw result, never normalized. ``kind="attribution"``: a float tensor
            (N, C, H, W) aligned with ``images`` (C is 1 for gray faces). ``kind="layers"``: a
            dict layer name -> feature maps (N, channels, h, w). ``kind="synthesis"``
            (activation maximization): the synthesized inputs (K, C, H, W), one per channel.
            Always on the CPU, detached, and owned by this object (no alias of any ``.grad``).
        images: The explained images (N, C, H, W) in [0, 1] on the CPU (for ``synthesis``, the
            synthesized images themselves).
        targets: The class explained for each image (int64, (N,)), or ``None``.
        scores: Per-image numbers on the CPU: ``"logit"`` and ``"probability"`` of the target
            for attribution methods, ``"activation"`` for activation maximization.
        method: The explainer's name.
        options: Every option in effect, defaults included (seed, baseline, layer, ...).
        extras: Method-specific results, e.g. ``"completeness_error"`` for integrated
            gradients, ``"layer_maps"`` for Grad-CAM at the layer's own resolution.
        kind: ``"attribution"``, ``"layers"`` or ``"synthesis"``.
        class_names: Names of the model's classes, for titles and JSON.
    """

    maps: Any
    images: torch.Tensor
    targets: torch.Tensor | None
    scores: dict[str, torch.Tensor]
    method: str
    options: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    kind: str = "attribution"
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ExplainError(f"Explanation kind must be one of {KINDS}, got {self.kind!r}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    # ------------------------------------------------------------------ views for display
    @property
    def target_names(self) -> list[str] | None:
        """The target class of each image as a name (``None`` when there are no targets)."""
        if self.targets is None:
            return None
        names = self.class_names or ()
        return [names[t] if 0 <= t < len(names) else str(t) for t in self.targets.tolist()]

    def is_signed(self) -> bool:
        """Whether the maps have negative values (then displays default to a signed scale)."""
        if isinstance(self.maps, dict):
            return any(bool((m < 0).any()) for m in self.maps.values())
        return bool((self.maps < 0).any())

    def normalized(
        self,
        mode: str = "minmax",
        per: str = "image",
        clip: tuple[float, float] = (1.0, 99.0),
        signed: bool | None = None,
    ) -> Any:
        """Return the maps scaled for display (the raw ``maps`` stay as they are).

        Args:
            mode: ``"minmax"``, ``"percentile"``, ``"abs-max"`` or ``"none"`` (see
                :func:`emotionkit.explain.display.normalize_maps`).
            per: ``"image"`` (each map on its own scale) or ``"batch"`` (one scale).
            clip: Percentiles for ``mode="percentile"``.
            signed: Keep signs ([-1, 1]) or show magnitudes ([0, 1]); ``None`` keeps signs
                when the maps have negative values.

        Returns:
            A tensor like ``maps`` (a dict of tensors for ``kind="layers"``).
        """
        signed = self.is_signed() if signed is None else signed
        if isinstance(self.maps, dict):
            return {k: display.normalize_maps(v, mode, per, clip, signed)
                    for k, v in self.maps.items()}
        return display.normalize_maps(self.maps, mode, per, clip, signed)

    def masked(self, top_k: float = 0.1, fill: float = 0.0) -> torch.Tensor:
        """Return the images with only the ``top_k`` share of most salient pixels kept.

        Args:
            top_k: Share of pixels to keep per image, in (0, 1].
            fill: Value of the removed pixels.

        Returns:
            Images (N, C, H, W).

        Raises:
            ExplainError: The explanation has no per-image attribution maps.
        """
        if self.kind != "attribution":
            raise ExplainError(f"masked() needs attribution maps; {self.method} gives {self.kind}")
        maps = display.to_image_size(self.maps, tuple(self.images.shape[-2:]))
        keep = display.top_k_mask(maps, top_k)
        return torch.where(keep, self.images, torch.full_like(self.images, float(fill)))

    # ------------------------------------------------------------------ numbers
    def to_dict(self, include_maps: bool = False) -> dict[str, Any]:
        """Return the numbers as a JSON-ready dict.

        Args:
            include_maps: Also include the raw maps as nested lists (large).

        Returns:
            A dict with keys ``method``, ``kind``, ``options``, ``class_names``, ``items`` (per
            image: index, target, target name, scores and map statistics), ``extras`` and, when
            asked for, ``maps``.
        """
        n = len(self)
        names = self.target_names
        items = []
        for i in range(n):
            item: dict[str, Any] = {"index": i}
            if self.targets is not None:
                item["target"] = int(self.targets[i])
                item["target_name"] = names[i] if names else None
            for key, values in self.scores.items():
                item[key] = float(values[i])
            if isinstance(self.maps, dict):
                item["layers"] = {k: {"shape": list(v.shape[1:]), **_stats(v[i])}
                                  for k, v in self.maps.items()}
            else:
                item["map"] = _stats(self.maps[i])
            items.append(item)
        extras = {k: v for k, v in self.extras.items() if k != "layer_maps"}
        out = {
            "method": self.method,
            "kind": self.kind,
            "options": _json_value(self.options),
            "class_names": list(self.class_names) if self.class_names else None,
            "items": items,
            "extras": _json_value(extras, limit=4096),
        }
        if include_maps:
            maps = self.maps
            out["maps"] = ({k: v.tolist() for k, v in maps.items()} if isinstance(maps, dict)
                           else maps.tolist())
        return out

    def to_json(self, include_maps: bool = False, indent: int | None = 2) -> str:
        """Return :meth:`to_dict` as a JSON string.

        Args:
            include_maps: Also include the raw maps.
            indent: JSON indentation.

        Returns:
            The JSON text.
        """
        return json.dumps(self.to_dict(include_maps), indent=indent)

    # ------------------------------------------------------------------ pictures
    def plot(
        self,
        indices: list[int] | None = None,
        top_k: float = 0.1,
        normalize: str = "percentile",
        per: str = "image",
        signed: bool | None = None,
        max_images: int = 8,
    ):
        """Draw the explanation as one figure.

        Attribution maps give one row per image (original, heatmap, overlay, masked); layer
        outputs give the channel grid of each layer for the first image; activation
        maximization gives a grid of the synthesized images.

        Args:
            indices: Which images to draw (default: the first ``max_images``).
            top_k: Share of pixels the masked view keeps.
            normalize: Display normalization mode.
            per: ``"image"`` or ``"batch"`` scaling.
            signed: Signed display; ``None`` decides from the maps.
            max_images: Limit when ``indices`` is not given.

        Returns:
            A :class:`matplotlib.figure.Figure`.
        """
        from . import _render

        return _render.figure(self, indices, top_k, normalize, per, signed, max_images)

    def save(
        self,
        out_dir: str | os.PathLike,
        top_k: float = 0.1,
        normalize: str = "percentile",
        per: str = "image",
        signed: bool | None = None,
        scale: int = 4,
        figure: bool = True,
    ) -> list[Path]:
        """Write PNGs, the raw maps (``maps.npz``) and the numbers (``explanation.json``).

        Per image ``i``: ``{i:03d}-original.png``, ``-heatmap.png``, ``-overlay.png`` and
        ``-masked.png`` for attribution maps; ``{i:03d}-<layer>.png`` channel grids for layer
        outputs; ``channel-{c:03d}.png`` per channel for activation maximization; plus
        ``summary.png`` (the :meth:`plot` figure) when ``figure`` is true. Files are written
        atomically.

        Args:
            out_dir: Output folder (created if missing).
            top_k: Share of pixels the masked view keeps.
            normalize: Display normalization mode.
            per: ``"image"`` or ``"batch"`` scaling.
            signed: Signed display; ``None`` decides from the maps.
            scale: Nearest-neighbour upscaling of the single-image PNGs.
            figure: Also write ``summary.png``.

        Returns:
            The written paths.
        """
        from . import _render

        return _render.save(self, Path(out_dir), top_k, normalize, per, signed, scale, figure)
