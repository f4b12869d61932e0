"""``occlusion``: how much the target score drops when a window of pixels is covered.

A ``window`` slides with ``stride`` over the image (the last window touches the border, so
every pixel is covered); each covered copy is scored, and every pixel gets the mean drop
``score(image) - score(covered image)`` over the windows that cover it (Zeiler & Fergus, 2014).
All ``images x windows`` copies go through the model in chunks of ``max_batch``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import torch

from ...errors import ConfigError
from ..base import Attribution, AttributionExplainer, check_choice, check_memory
from ._common import clean_logits, flat_chunks, progress_bar


def _pair(method: str, key: str, value: Any, limit: tuple[int, int]) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair)):
        raise ConfigError(f"{method}: option {key!r} must be an integer >= 1 or a pair, "
                          f"got {value!r}")
    if key == "window" and (pair[0] > limit[0] or pair[1] > limit[1]):
        raise ConfigError(f"{method}: window {tuple(pair)} is larger than the image {limit}")
    return int(pair[0]), int(pair[1])


def positions(size: int, window: int, stride: int) -> list[int]:
    """Start offsets of the windows along one axis; the last window ends at the border."""
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def window_masks(height: int, width: int, window: tuple[int, int],
                 stride: tuple[int, int]) -> torch.Tensor:
    """Boolean masks (P, H, W) of every window position, row by row."""
    ys, xs = positions(height, window[0], stride[0]), positions(width, window[1], stride[1])
    masks = torch.zeros(len(ys) * len(xs), height, width, dtype=torch.bool)
    for p, (y, x) in enumerate((y, x) for y in ys for x in xs):
        masks[p, y:y + window[0], x:x + window[1]] = True
    return masks


class Occlusion(AttributionExplainer):
    """Occlusion sensitivity; see the module docstring.

    Keyword Args:
        window: Window size, an int or ``(height, width)``.
        stride: Step between windows, an int or a pair.
        baseline: Fill value of the covered pixels (a number, or ``"mean"``: each image's mean).
        score: ``"logit"`` (default) or ``"probability"`` of the target.
        max_batch: Covered images per forward pass (default None: 32 on CPU, 256 on GPU).
        progress: Show a progress bar on stderr.
    """

    name = "occlusion"
    description = "Drop of the target score when a sliding window of pixels is covered"
    defaults = MappingProxyType({
        "window": 8, "stride": 4, "baseline": 0.0, "score": "logit", "max_batch": None,
        "progress": False,
    })

    def attribute(self, state, x, target, options) -> Attribution:
        n, c, h, w = x.shape
        window = _pair(self.name, "window", options["window"], (h, w))
        stride = _pair(self.name, "stride", options["stride"], (h, w))
        score = check_choice(self.name, "score", options["score"], ("logit", "probability"))
        baseline = options["baseline"]
        if isinstance(baseline, str) and baseline == "mean":
            fill = x.mean(dim=(1, 2, 3))
        elif isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
            fill = torch.full((n,), float(baseline), dtype=x.dtype, device=x.device)
        else:
            raise ConfigError(f"{self.name}: baseline must be a number or 'mean', "
                              f"got {baseline!r}")
        count = len(positions(h, window[0], stride[0])) * len(positions(w, window[1], stride[1]))
        # boolean masks (P, H, W) and their float copy for the final average
        check_memory(self.name, f"{count:,} window masks of {h}x{w} pixels",
                     count * h * w * (1 + x.element_size()), "use a larger stride or window")
        masks = window_masks(h, w, window, stride).to(x.device)
        p = len(masks)
        logits, targets = clean_logits(state.model, x, target, options["max_batch"])

        def scores_of(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            values = torch.softmax(out, dim=1) if score == "probability" else out
            return values.gather(1, t[:, None])[:, 0]

        clean = scores_of(logits, targets)
        drops = torch.empty(n, p, dtype=x.dtype, device=x.device)
        with torch.no_grad(), progress_bar(n * p, options["progress"], self.name) as update:
            for img, pos in flat_chunks(p, n, options["max_batch"]):
                img, pos = img.to(x.device), pos.to(x.device)
                covered = torch.where(masks[pos][:, None], fill[img].reshape(-1, 1, 1, 1), x[img])
                out = state.model(covered)
                drops[img, pos] = clean[img] - scores_of(out, targets[img])
                update(len(img))
        flat_masks = masks.reshape(p, -1).to(x.dtype)
        counts = flat_masks.sum(dim=0).clamp(min=1)
        maps = (drops @ flat_masks / counts).reshape(n, 1, h, w).expand(n, c, h, w)
        return Attribution(maps.contiguous(), targets, logits,
                           {"windows": p, "clean_score": clean})
