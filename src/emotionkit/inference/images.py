"""Turn whatever a user passes to ``predict`` into RGB photos, one problem per input at most.

Accepted: image file paths (any format Pillow reads, colour or gray, any size, EXIF rotation
applied), folders (every image file directly inside, sorted), numpy arrays ((H, W), (H, W, 1|3|4),
uint8 or float in [0, 1]), PIL images, and tensors ((H, W), (C, H, W) or a (N, C, H, W) batch).
A bad input becomes an :class:`InputError` for that input only, so the others still run.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm", ".pnm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
#: Photos whose longer side exceeds this are downscaled before detection (faces stay large
#: enough: a face is a sizeable part of any photo this big).
MAX_SIDE = 2048
#: Larger images are refused outright (decompression bombs).
MAX_PIXELS = 120_000_000


class InputError(Exception):
    """One input cannot be used; the message names it and says why (one line)."""


@dataclass
class Photo:
    """One input image, ready for detection.

    Attributes:
        source: What the user passed, as text (a path, or ``"<array 0>"``).
        rgb: (H, W, 3) uint8 pixels (after any downscaling).
        scale: Factor from original pixels to ``rgb`` pixels (1.0 when not downscaled); boxes
            are reported in original pixels.
        original_size: (width, height) of the input as given.
    """

    source: str
    rgb: np.ndarray
    scale: float = 1.0
    original_size: tuple[int, int] = (0, 0)


def expand_paths(items: list[Any]) -> list[Any]:
    """Replace each folder in ``items`` by the image files inside it (sorted); keep the rest."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, (str, os.PathLike)) and Path(item).is_dir():
            files = sorted(p for p in Path(item).iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
                           and not p.name.startswith("."))
            out.extend(files if files else [InputError(f"{item}: folder holds no image files")])
        else:
            out.append(item)
    return out


def read_photo(path: str | os.PathLike) -> Photo:
    """Read one image file.

    Raises:
        InputError: Missing, empty, unreadable, corrupt, animated/multi-page or too large.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if not p.is_file():
        raise InputError(f"{p}: not a file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                frames = getattr(im, "n_frames", 1)
                if frames > 1:
                    kind = "animated" if p.suffix.lower() in (".gif", ".webp", ".png") else \
                        "multi-page"
                    raise InputError(f"{p}: {kind} image with {frames} frames; pass one frame "
                                     "as its own file (or a video file)")
                if im.width * im.height > MAX_PIXELS:
                    raise InputError(f"{p}: {im.width}x{im.height} pixels is more than the "
                                     f"{MAX_PIXELS:,} accepted")
                if im.format == "JPEG" and max(im.size) > 2 * MAX_SIDE:
                    im.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at a reduced size directly
                original = _oriented_size(im)
                im = ImageOps.exif_transpose(im)
                rgb = np.asarray(_to_rgb(im))
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        raise InputError(f"{p}: not a readable image ({_short(exc)})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"{p}: corrupt or truncated image ({_short(exc)})") from None
    return _fit(str(p), rgb, original)


def _oriented_size(im: Any) -> tuple[int, int]:
    """(width, height) of the image as displayed (EXIF rotation applied)."""
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # broken EXIF: the pixels still decode
        orientation = 1
    w, h = im.size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _to_rgb(im: Any) -> Any:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        from PIL import Image

        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() if arr.size else 1.0
        scaled = np.clip(arr / (65535.0 if top > 255 else 255.0) * 255.0, 0, 255)
        return np.repeat(scaled.astype(np.uint8)[..., None], 3, axis=2)
    return im.convert("RGB")


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def _fit(source: str, rgb: np.ndarray, original: tuple[int, int] | None = None) -> Photo:
    """Downscale an RGB array past :data:`MAX_SIDE`, recording the factor."""
    h, w = rgb.shape[:2]
    if original is None:
        original = (w, h)
    if h == 0 or w == 0:
        raise InputError(f"{source}: image has no pixels ({w}x{h})")
    scale = w / max(original[0], 1)
    if max(h, w) > MAX_SIDE:
        from PIL import Image

        factor = MAX_SIDE / max(h, w)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS,
                                                     reducing_gap=3.0))
        scale = rgb.shape[1] / max(original[0], 1)
    return Photo(source=source, rgb=np.ascontiguousarray(rgb), scale=scale,
                 original_size=(int(original[0]), int(original[1])))


def array_photo(value: Any, source: str) -> Photo:
    """A numpy array, PIL image or tensor as a :class:`Photo`.

    Raises:
        InputError: Wrong shape, dtype, or non-finite values.
    """
    try:
        from PIL import Image

        if isinstance(value, Image.Image):
            return _fit(source, np.asarray(_to_rgb(value)))
    except ImportError:  # pragma: no cover - Pillow comes with scikit-image
        pass
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu()
        if value.ndim == 3 and value.shape[0] in (1, 3, 4) and value.shape[-1] not in (1, 3, 4):
            value = value.permute(1, 2, 0)
        value = value.numpy()
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise InputError(f"{source}: expected an image array, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)
        if arr.shape[2] == 1:
            arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise InputError(f"{source}: expected an (H, W), (H, W, 3) or (3, H, W) image, got "
                         f"shape {arr.shape}")
    if min(arr.shape[:2]) == 0:
        raise InputError(f"{source}: image has no pixels (shape {arr.shape})")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{source}: image holds NaN or infinite values")
        low, high = float(arr.min()), float(arr.max())
        if low < -1e-6 or high > 1 + 1e-6:
            if low >= 0 and high <= 255:
                arr = arr / 255.0
            else:
                raise InputError(f"{source}: float pixels must lie in [0, 1] (or 0..255), got "
                                 f"{low:g}..{high:g}")
        arr = np.round(np.clip(arr, 0, 1) * 255.0).astype(np.uint8)
    elif arr.dtype != np.uint8:
        high = int(arr.max())
        if arr.min() < 0:
            raise InputError(f"{source}: negative pixel values")
        arr = (arr.astype(np.float64) * (255.0 / (65535.0 if high > 255 else 255.0))
               ).round().clip(0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return _fit(source, np.ascontiguousarray(arr[..., :3]))


def split_batches(inputs: Any) -> list[Any]:
    """One list item per image: a single image becomes a list of one; a 4-D batch, or a 3-D
    stack of gray images (N, H, W) with N not 1 or 3, is split into its images."""
    if isinstance(inputs, (str, os.PathLike)):
        return [inputs]
    if hasattr(inputs, "ndim") and not isinstance(inputs, (list, tuple)):
        if inputs.ndim == 4:
            return list(inputs)
        if inputs.ndim == 3 and inputs.shape[0] not in (1, 3) and inputs.shape[-1] not in (1, 3, 4):
            return list(inputs)  # a stack of gray images, e.g. Dataset.images (N, 48, 48)
        return [inputs]
    try:
        from PIL import Image

        if isinstance(inputs, Image.Image):
            return [inputs]
    except ImportError:  # pragma: no cover
        pass
    if isinstance(inputs, (list, tuple)):
        out: list[Any] = []
        for item in inputs:
            if hasattr(item, "ndim") and item.ndim == 4:
                out.extend(list(item))
            else:
                out.append(item)
        return out
    return [inputs]


__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "MAX_SIDE", "MAX_PIXELS", "InputError", "Photo",
           "array_photo", "expand_paths", "read_photo", "split_batches"]
