"""``smoothgrad``: the average of a gradient method's maps over noisy copies of each image.

Noise is Gaussian with standard deviation ``noise * (max - min)`` of *each image's* pixel range
(Smilkov et al., 2017), so ``noise=0.15`` means 15 % of the range whatever the pixel scale;
a constant image uses the nominal range 1. The noise of an image depends only on ``seed`` and
the image's own pixels, so an image gets the same map alone or in any batch. All
``images x samples`` noisy copies go through the base method in chunks of ``max_batch``.
"""

from __future__ import annotations

import zlib
from types import MappingProxyType

import torch

from ..._random import seeded_generator
from ...errors import ConfigError
from ..base import (
    Attribution,
    AttributionExplainer,
    check_bool,
    check_float,
    check_int,
    check_memory,
)
from ._common import clean_logits, flat_chunks, progress_bar

#: The most noisy copies per image (the error of the average falls as 1 / sqrt(samples);
#: published work uses 25 to 100).
MAX_SAMPLES = 10_000
#: The largest noise level (10 = ten times each image's pixel range).
MAX_NOISE = 10.0


def image_generator(seed: int, image: torch.Tensor) -> torch.Generator:
    """A CPU generator seeded from ``seed`` and the image's bytes (batch-independent noise)."""
    digest = zlib.crc32(image.detach().cpu().float().numpy().tobytes())
    return seeded_generator(seed, digest)


class SmoothGrad(AttributionExplainer):
    """SmoothGrad over any gradient method; see the module docstring.

    Keyword Args:
        base: Name of the gradient method to smooth (``saliency``, ``guided-backprop``,
            ``integrated-gradients``, ``grad-cam``, or a plugin's method marked smoothable).
        base_options: Options for the base method (``max_batch`` is this method's).
        samples: Noisy copies per image (1 to :data:`MAX_SAMPLES`).
        noise: Noise standard deviation relative to each image's pixel range (0 to
            :data:`MAX_NOISE`).
        squared: Average the squared maps (SmoothGrad-Squared) instead of the maps.
        seed: Seed of the noise.
        max_batch: Noisy images per forward/backward pass (default None: 32 on CPU, 256 on GPU).
        progress: Show a progress bar on stderr.
    """

    name = "smoothgrad"
    description = "Average of a gradient method's maps over noisy copies of the image"
    defaults = MappingProxyType({
        "base": "saliency", "base_options": {}, "samples": 25, "noise": 0.15, "squared": False,
        "seed": 0, "max_batch": None, "progress": False,
    })

    def attribute(self, state, x, target, options) -> Attribution:
        from ..plugins import available, get

        samples = check_int(self.name, "samples", options["samples"], 1, MAX_SAMPLES)
        noise = check_float(self.name, "noise", options["noise"], 0.0, maximum=MAX_NOISE)
        # the noisy copies of one image are drawn at once (batch-independent noise)
        check_memory(self.name, f"{samples:,} noisy copies of a {tuple(x.shape[1:])} image",
                     samples * x[0].numel() * x.element_size(), "use fewer samples")
        squared = check_bool(self.name, "squared", options["squared"])
        seed = check_int(self.name, "seed", options["seed"])
        max_batch = options["max_batch"]
        base = get(options["base"])
        if not isinstance(base, AttributionExplainer) or not base.smoothable or base is self:
            usable = [n for n in available() if getattr(get(n), "smoothable", False)]
            raise ConfigError(
                f"{self.name}: base method {options['base']!r} cannot be smoothed; "
                f"use one of {', '.join(usable)}"
            )
        if not isinstance(options["base_options"], dict):
            raise ConfigError(f"{self.name}: option 'base_options' must be a dict")
        base_opts = base.resolve_options({**options["base_options"], "max_batch": max_batch})

        logits, targets = clean_logits(state.model, x, target, max_batch)
        n = len(x)
        flat = x.reshape(n, -1)
        sigma = noise * (flat.amax(dim=1) - flat.amin(dim=1))
        sigma = torch.where(sigma > 0, sigma, torch.full_like(sigma, noise))
        cache: dict[int, torch.Tensor] = {}

        def noisy(i: int, s: torch.Tensor) -> torch.Tensor:
            if i not in cache:
                cache.clear()
                z = torch.randn((samples, *x.shape[1:]), generator=image_generator(seed, x[i]))
                cache[i] = x[i] + sigma[i] * z.to(device=x.device, dtype=x.dtype)
            return cache[i][s]

        total = torch.zeros_like(x)
        extras: dict = {}
        with progress_bar(n * samples, options["progress"], self.name) as update:
            for img, item in flat_chunks(samples, n, max_batch):
                rows = torch.stack([noisy(int(i), int(s)) for i, s in zip(img, item, strict=True)])
                result = base.attribute(state, rows, targets[img.to(targets.device)], base_opts)
                maps = result.maps.to(x.dtype)
                if maps.shape[1:] != x.shape[1:]:
                    raise ConfigError(f"{self.name}: base {base.name} gives maps of shape "
                                      f"{tuple(maps.shape[1:])}, not image-shaped")
                total.index_add_(0, img.to(x.device), maps * maps if squared else maps)
                extras = {k: v for k, v in result.extras.items() if k in ("layer",)}
                update(len(img))
        options["base_options"] = {k: v for k, v in base_opts.items() if k != "max_batch"}
        extras["noise_std"] = sigma
        return Attribution(total / samples, targets, logits, extras)
