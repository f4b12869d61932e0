"""Rendering of :class:`~emotionkit.explain.Explanation` objects into figures and PNG files."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write_json, atomic_write_with
from . import display, plotting


def _display_maps(expl, normalize: str, per: str, signed: bool | None) -> tuple[torch.Tensor, bool]:
    """Attribution maps summed over channels, at image size, normalized for display."""
    signed = expl.is_signed() if signed is None else signed
    maps = display.to_image_size(expl.maps.float(), tuple(expl.images.shape[-2:]))
    maps = maps.sum(dim=1, keepdim=True)
    return display.normalize_maps(maps, normalize, per, signed=signed), signed


def _title(expl, i: int) -> str:
    names = expl.target_names
    if names is None:
        return f"image {i}"
    text = f"{i}: {names[i]}"
    if "probability" in expl.scores:
        text += f" p={float(expl.scores['probability'][i]):.2f}"
    return text


def mosaic(maps: torch.Tensor, ncols: int | None = None, gap: int = 1) -> np.ndarray:
    """Tile channel maps (K, h, w) into one RGB image, each channel min-max scaled on its own.

    Args:
        maps: Feature maps of one image (K, h, w); a vector of units (F,) is shown as one
            1 x F strip.
        ncols: Columns (default: about square).
        gap: Pixels between tiles.

    Returns:
        uint8 RGB array.
    """
    if maps.ndim == 1:
        maps = maps.reshape(1, 1, -1)
    elif maps.ndim == 2:
        maps = maps[None]
    k, h, w = maps.shape
    ncols = ncols or math.ceil(math.sqrt(k))
    nrows = math.ceil(k / ncols)
    norm = display.normalize_maps(maps[:, None].float(), "minmax", "image", signed=False)[:, 0]
    canvas = np.full((nrows * (h + gap) - gap, ncols * (w + gap) - gap, 3), 255, np.uint8)
    for c in range(k):
        r, q = divmod(c, ncols)
        canvas[r * (h + gap): r * (h + gap) + h, q * (w + gap): q * (w + gap) + w] = (
            plotting.colorize(norm[c].numpy(), cmap="viridis")
        )
    return canvas


def figure(expl, indices, top_k, normalize, per, signed, max_images):
    """Build the summary figure of an explanation (see :meth:`Explanation.plot`)."""
    n = len(expl)
    idx = list(range(min(n, max_images))) if indices is None else [int(i) for i in indices]
    for i in idx:
        if not 0 <= i < n:
            raise IndexError(f"image index {i} is outside 0..{n - 1}")
    if expl.kind == "synthesis":
        panels = [expl.maps[i, 0].numpy() for i in idx]
        channels = expl.options.get("channels") or list(range(n))
        titles = [f"ch {channels[i]}" for i in idx]
        return plotting.grid_figure(panels, titles, suptitle=f"{expl.method}: "
                                    f"{expl.options.get('layer')}")
    if expl.kind == "layers":
        i = idx[0]
        layers = list(expl.maps)
        panels, titles = [], []
        for name in layers:
            panels.append(mosaic(expl.maps[name][i]))
            titles.append(f"{name} {tuple(expl.maps[name].shape[1:])}")
        return plotting.grid_figure([expl.images[i, 0].numpy()] + panels, [_title(expl, i)] +
                                    titles, ncols=min(4, len(panels) + 1), panel_size=2.4)
    norm, signed_ = _display_maps(expl, normalize, per, signed)
    masked = expl.masked(top_k)
    panels, titles = [], []
    for i in idx:
        img = expl.images[i].mean(0).numpy()
        m = norm[i, 0].numpy()
        panels += [img, plotting.colorize(m, signed_), plotting.overlay(img, m, signed_),
                   masked[i].mean(0).numpy()]
        titles += [_title(expl, i), "heatmap", "overlay", f"top {top_k:.0%}"]
    return plotting.grid_figure(panels, titles, ncols=4, suptitle=expl.method)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "model"


def save(expl, out: Path, top_k, normalize, per, signed, scale, with_figure) -> list[Path]:
    """Write the files of an explanation (see :meth:`Explanation.save`)."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def png(name: str, rgb: np.ndarray, s: int = scale) -> None:
        path = out / name
        plotting.write_png(path, rgb, s)
        written.append(path)

    n = len(expl)
    arrays: dict[str, np.ndarray] = {"images": expl.images.numpy()}
    if expl.targets is not None:
        arrays["targets"] = expl.targets.numpy()
    if expl.kind == "synthesis":
        channels = expl.options.get("channels") or list(range(n))
        for i in range(n):
            png(f"channel-{int(channels[i]):03d}.png",
                plotting.gray_rgb(expl.maps[i].mean(0).numpy()))
        png("grid.png", mosaic(expl.maps[:, 0]), max(1, scale // 2))
        arrays["maps"] = expl.maps.numpy()
    elif expl.kind == "layers":
        for i in range(n):
            png(f"{i:03d}-original.png", plotting.gray_rgb(expl.images[i].mean(0).numpy()))
            for name, maps in expl.maps.items():
                png(f"{i:03d}-{_safe(name)}.png", mosaic(maps[i]), 2)
        arrays.update({f"layer:{k}": v.numpy() for k, v in expl.maps.items()})
    else:
        norm, signed_ = _display_maps(expl, normalize, per, signed)
        masked = expl.masked(top_k)
        for i in range(n):
            img = expl.images[i].mean(0).numpy()
            m = norm[i, 0].numpy()
            png(f"{i:03d}-original.png", plotting.gray_rgb(img))
            png(f"{i:03d}-heatmap.png", plotting.colorize(m, signed_))
            png(f"{i:03d}-overlay.png", plotting.overlay(img, m, signed_))
            png(f"{i:03d}-masked.png", plotting.gray_rgb(masked[i].mean(0).numpy()))
        arrays["maps"] = expl.maps.numpy()
    if with_figure:
        fig = figure(expl, None, top_k, normalize, per, signed, 8)
        plotting.save_figure(fig, out / "summary.png")
        written.append(out / "summary.png")
    atomic_write_with(out / "maps.npz", lambda fh: np.savez_compressed(fh, **arrays))
    written.append(out / "maps.npz")
    atomic_write_json(out / "explanation.json", expl.to_dict())
    written.append(out / "explanation.json")
    return written
