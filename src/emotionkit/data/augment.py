"""Data augmentation as batched tensor operations on the batch's own device.

:class:`AugmentConfig` carries the options users know from Keras' ``ImageDataGenerator``
(``rotation_range`` in degrees, ``width_shift_range``/``height_shift_range`` as fractions of the
image, ``zoom_range``, ``horizontal_flip``, ``fill_mode``, ``cval``) plus random erasing. Every
size is relative to the image, so the same config suits 48x48 faces and larger inputs.

:class:`Augmenter` applies a config to a batch (N, C, H, W): an exact flip (``torch.flip``), one
``affine_grid`` + ``grid_sample`` for rotation, shift and zoom together, and random erasing as one
vectorized mask. Its random numbers come from its own :class:`torch.Generator` on the batch's
device, so results depend only on the seed and the number of batches seen, the global RNG is
untouched, and ``state_dict()`` / ``load_state_dict()`` let a resumed training run continue the
same random stream.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F

from .._names import unknown_name_message
from ..errors import ConfigError

#: Keras fill modes -> ``grid_sample`` padding modes.
FILL_MODES = {"constant": "zeros", "nearest": "border", "reflect": "reflection"}
PRESETS = ("none", "light", "standard", "strong")
_N_RANDOM = 10  # uniform numbers drawn per image and call, whatever the config


def _pair(value: Any, name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number or a (low, high) pair, got {value!r}") from None
    return lo, hi


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation options (Keras ``ImageDataGenerator`` names where Keras has the option).

    Attributes:
        rotation_range: Rotate by a uniform angle in [-r, r] degrees.
        width_shift_range: Shift horizontally by up to this fraction of the width.
        height_shift_range: Shift vertically by up to this fraction of the height.
        zoom_range: ``z`` samples the scale uniformly in [1 - z, 1 + z]; a pair gives the range
            directly. As in Keras, the scale maps output to input coordinates: below 1 zooms in.
        horizontal_flip: Mirror left-right with probability 1/2.
        erasing_prob: Probability of erasing one random rectangle per image.
        erasing_scale: Range of the rectangle's area as a fraction of the image.
        erasing_ratio: Range of the rectangle's aspect ratio (height / width), sampled
            log-uniformly.
        erasing_value: Value written into the rectangle.
        fill_mode: How points outside the image are filled: ``"nearest"`` (Keras' default),
            ``"constant"`` (with ``cval``) or ``"reflect"``.
        cval: Fill value for ``fill_mode="constant"``.
    """

    rotation_range: float = 0.0
    width_shift_range: float = 0.0
    height_shift_range: float = 0.0
    zoom_range: float | tuple[float, float] = 0.0
    horizontal_flip: bool = False
    erasing_prob: float = 0.0
    erasing_scale: tuple[float, float] = (0.02, 0.15)
    erasing_ratio: tuple[float, float] = (0.3, 3.3)
    erasing_value: float = 0.0
    fill_mode: str = "nearest"
    cval: float = 0.0

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        for name in ("rotation_range", "width_shift_range", "height_shift_range", "erasing_prob",
                     "erasing_value", "cval"):
            value = getattr(self, name)
            check(isinstance(value, (int, float)) and not isinstance(value, bool)
                  and math.isfinite(value), f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        check(0.0 <= self.rotation_range <= 180.0,
              f"rotation_range must be in [0, 180] degrees, got {self.rotation_range}")
        for name in ("width_shift_range", "height_shift_range"):
            check(0.0 <= getattr(self, name) < 1.0,
                  f"{name} is a fraction of the image and must be in [0, 1), "
                  f"got {getattr(self, name)}")
        if isinstance(self.zoom_range, (int, float)):
            z = float(self.zoom_range)
            check(0.0 <= z < 1.0, f"zoom_range must be in [0, 1) or a (low, high) pair, got {z}")
            zoom = (1.0 - z, 1.0 + z)
        else:
            zoom = _pair(self.zoom_range, "zoom_range")
            check(0.0 < zoom[0] <= zoom[1], f"zoom_range pair must satisfy 0 < low <= high, "
                                            f"got {zoom}")
        object.__setattr__(self, "zoom_range", zoom)
        object.__setattr__(self, "horizontal_flip", bool(self.horizontal_flip))
        check(0.0 <= self.erasing_prob <= 1.0,
              f"erasing_prob must be in [0, 1], got {self.erasing_prob}")
        scale = _pair(self.erasing_scale, "erasing_scale")
        check(0.0 < scale[0] <= scale[1] <= 1.0,
              f"erasing_scale must satisfy 0 < low <= high <= 1, got {scale}")
        ratio = _pair(self.erasing_ratio, "erasing_ratio")
        check(0.0 < ratio[0] <= ratio[1],
              f"erasing_ratio must satisfy 0 < low <= high, got {ratio}")
        object.__setattr__(self, "erasing_scale", scale)
        object.__setattr__(self, "erasing_ratio", ratio)
        check(self.fill_mode in FILL_MODES,
              f"fill_mode must be one of {', '.join(FILL_MODES)}, got {self.fill_mode!r}")

    # ------------------------------------------------------------------ properties
    @property
    def geometric(self) -> bool:
        """Whether rotation, shift or zoom is on (the resampling step is needed)."""
        return (self.rotation_range > 0 or self.width_shift_range > 0
                or self.height_shift_range > 0 or self.zoom_range != (1.0, 1.0))

    @property
    def is_identity(self) -> bool:
        """Whether the config leaves every image unchanged."""
        return not (self.geometric or self.horizontal_flip or self.erasing_prob > 0)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def preset(cls, name: str) -> AugmentConfig:
        """A named preset.

        Args:
            name: ``"none"``, ``"light"`` (small pose changes and flips), ``"standard"`` (what
                the FER2013 reports used: rotation, shift, zoom, flip) or ``"strong"`` (adds
                random erasing).

        Returns:
            The config.

        Raises:
            ConfigError: An unknown preset name (the message lists the presets).
        """
        table = {
            "none": cls(),
            "light": cls(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1,
                         horizontal_flip=True),
            "standard": cls(rotation_range=15, width_shift_range=0.15, height_shift_range=0.15,
                            zoom_range=0.15, horizontal_flip=True),
            "strong": cls(rotation_range=25, width_shift_range=0.2, height_shift_range=0.2,
                          zoom_range=0.2, horizontal_flip=True, erasing_prob=0.5),
        }
        if name not in table:
            raise ConfigError(unknown_name_message("augmentation preset", name, PRESETS))
        return table[name]

    @classmethod
    def parse(cls, text: str) -> AugmentConfig:
        """Build a config from a short CLI string.

        Comma-separated items, applied left to right: a preset name (``standard``), a flag
        (``flip``), or ``key=value`` with keys ``rotation``, ``shift`` (both directions),
        ``width_shift``, ``height_shift``, ``zoom`` (``0.1`` or ``0.9:1.1``), ``flip``,
        ``erasing`` (probability), ``erasing_scale`` (``0.02:0.2``), ``erasing_value``, ``fill``
        and ``cval``; Keras' full names work too. Example: ``"rotation=10,shift=0.1,flip"``.

        Args:
            text: The string (``""`` or ``"none"`` is the identity).

        Returns:
            The config.

        Raises:
            ConfigError: An unknown key or a bad value (the message names it).
        """
        aliases = {
            "rotation": "rotation_range", "rotate": "rotation_range",
            "width_shift": "width_shift_range", "wshift": "width_shift_range",
            "height_shift": "height_shift_range", "hshift": "height_shift_range",
            "zoom": "zoom_range", "flip": "horizontal_flip", "hflip": "horizontal_flip",
            "erasing": "erasing_prob", "erase": "erasing_prob", "fill": "fill_mode",
        }
        names = {f.name for f in fields(cls)}
        keys = sorted(names | set(aliases) | {"shift"})
        config = cls()
        for item in (p.strip() for p in text.split(",")):
            if not item:
                continue
            key, has_value, raw = (s.strip() for s in item.partition("="))
            key = key.lower()
            if not has_value and key in PRESETS:
                config = cls.preset(key)
                continue
            field_name = aliases.get(key, key)
            if key != "shift" and field_name not in names:
                raise ConfigError(unknown_name_message("augmentation option", key, keys)
                                  + f" (or a preset: {', '.join(PRESETS)})")
            try:
                if field_name == "horizontal_flip":
                    value: Any = _parse_bool(raw) if has_value else True
                elif not has_value:
                    raise ValueError("needs a value")
                elif field_name == "fill_mode":
                    value = raw
                elif field_name in ("zoom_range", "erasing_scale", "erasing_ratio") and ":" in raw:
                    value = tuple(float(v) for v in raw.split(":"))
                else:
                    value = float(raw)
            except ValueError as exc:
                raise ConfigError(f"augmentation option {item!r}: {exc}") from None
            if key == "shift":
                config = replace(config, width_shift_range=value, height_shift_range=value)
            else:
                config = replace(config, **{field_name: value})
        return config

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (pairs as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AugmentConfig:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: An unknown key.
        """
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown augmentation option(s): {', '.join(sorted(unknown))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _parse_bool(raw: str) -> bool:
    low = raw.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


class Augmenter:
    """Applies an :class:`AugmentConfig` to batches, reproducibly.

    Args:
        config: A config, a preset name or a :meth:`AugmentConfig.parse` string; None = identity.
        seed: Seed of the augmenter's own generator.

    Example::

        aug = Augmenter(AugmentConfig.preset("standard"), seed=0)
        x_aug = aug(x)            # x: float (N, 1, 48, 48) on any device
    """

    def __init__(self, config: AugmentConfig | str | None = None, seed: int = 0) -> None:
        if config is None:
            config = AugmentConfig()
        elif isinstance(config, str):
            config = AugmentConfig.parse(config)
        elif not isinstance(config, AugmentConfig):
            raise ConfigError(f"expected an AugmentConfig, a preset name or a string, "
                              f"got {type(config).__name__}")
        self.config = config
        self.seed = int(seed)
        self.calls = 0
        self._generator: torch.Generator | None = None
        self._saved: tuple[str, torch.Tensor] | None = None

    def __repr__(self) -> str:
        return f"Augmenter({self.config!r}, seed={self.seed}, calls={self.calls})"

    # ------------------------------------------------------------------ random stream
    def _generator_for(self, device: torch.device) -> torch.Generator:
        gen = self._generator
        if gen is not None and gen.device.type == device.type and (
            device.type != "cuda" or gen.device.index == (device.index or 0)
        ):
            return gen
        gen = torch.Generator(device=device)
        if self._saved is not None and self._saved[0] == device.type:
            gen.set_state(self._saved[1])
        elif self.calls == 0:
            gen.manual_seed(self.seed)
        else:
            # a stream cannot move between device types; continue deterministically instead
            gen.manual_seed((self.seed * 1_000_003 + self.calls) % (2**63))
        self._saved = None
        self._generator = gen
        return gen

    def state_dict(self) -> dict[str, Any]:
        """The seed, the number of batches seen and the generator state.

        Returns:
            ``{"seed", "calls", "device_type", "rng_state", "config"}``.
        """
        if self._generator is not None:
            device_type, state = self._generator.device.type, self._generator.get_state()
        elif self._saved is not None:
            device_type, state = self._saved
        else:
            device_type, state = None, None
        return {"seed": self.seed, "calls": self.calls, "device_type": device_type,
                "rng_state": state, "config": self.config.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the random stream saved by :meth:`state_dict`.

        Args:
            state: From :meth:`state_dict`. On the same device type the stream continues exactly;
                on another one it continues from a deterministic reseed.
        """
        self.seed = int(state["seed"])
        self.calls = int(state["calls"])
        if "config" in state and state["config"] is not None:
            self.config = AugmentConfig.from_dict(state["config"])
        self._generator = None
        rng = state.get("rng_state")
        self._saved = (str(state["device_type"]), rng.clone()) if rng is not None else None

    # ------------------------------------------------------------------ the transform
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment a batch.

        Args:
            x: Float tensor (N, C, H, W) on any device.

        Returns:
            A new tensor of the same shape, dtype and device (``x`` itself when the config is
            the identity; ``x`` is never modified).

        Raises:
            ConfigError: ``x`` is not a floating-point 4-D tensor.
        """
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            dtype = getattr(x, "dtype", None)
            raise ConfigError(f"Augmenter expects a float tensor (N, C, H, W), got {shape} {dtype}")
        cfg = self.config
        n, _, h, w = x.shape
        if cfg.is_identity or n == 0:
            return x
        gen = self._generator_for(x.device)
        u = torch.rand((n, _N_RANDOM), generator=gen, device=x.device, dtype=torch.float32)
        self.calls += 1
        out = x
        if cfg.horizontal_flip:
            flip = (u[:, 0] < 0.5).view(n, 1, 1, 1)
            out = torch.where(flip, out.flip(-1), out)
        if cfg.geometric:
            out = self._affine(out, u)
        if cfg.erasing_prob > 0:
            out = self._erase(out, u)
        return out

    def _affine(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        n, _, h, w = x.shape
        angle = (2 * u[:, 1] - 1) * math.radians(cfg.rotation_range)
        tx = (2 * u[:, 2] - 1) * cfg.width_shift_range * 2  # normalized coords span 2
        ty = (2 * u[:, 3] - 1) * cfg.height_shift_range * 2
        lo, hi = cfg.zoom_range
        scale = lo + u[:, 4] * (hi - lo)
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        # rotation in pixel space, expressed in normalized coordinates (aspect-correct)
        theta = torch.stack(
            (torch.stack((cos, -sin * (h / w), tx), 1), torch.stack((sin * (w / h), cos, ty), 1)),
            1,
        ).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        pad = FILL_MODES[cfg.fill_mode]
        if pad == "zeros" and cfg.cval != 0.0:
            return F.grid_sample(x - cfg.cval, grid, mode="bilinear", padding_mode="zeros",
                                 align_corners=False) + cfg.cval
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=pad, align_corners=False)

    def _erase(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        n, _, h, w = x.shape
        apply = u[:, 5] < cfg.erasing_prob
        a_lo, a_hi = cfg.erasing_scale
        area = (a_lo + u[:, 6] * (a_hi - a_lo)) * (h * w)
        r_lo, r_hi = math.log(cfg.erasing_ratio[0]), math.log(cfg.erasing_ratio[1])
        ratio = torch.exp(r_lo + u[:, 7] * (r_hi - r_lo))
        eh = torch.sqrt(area * ratio).round().clamp(1, h)
        ew = torch.sqrt(area / ratio).round().clamp(1, w)
        top = torch.floor(u[:, 8] * (h - eh + 1))
        left = torch.floor(u[:, 9] * (w - ew + 1))
        rows = torch.arange(h, device=x.device, dtype=torch.float32).view(1, h, 1)
        cols = torch.arange(w, device=x.device, dtype=torch.float32).view(1, 1, w)
        inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
                  & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1)))
        mask = (inside & apply.view(n, 1, 1)).unsqueeze(1)
        return torch.where(mask, torch.full((), cfg.erasing_value, dtype=x.dtype,
                                            device=x.device), x)
