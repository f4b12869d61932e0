"""Draw predictions onto the photo: a box per face in its emotion's colour, with a label."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.classes import CLASS_COLORS, CLASS_NAMES, DISPLAY_NAMES


def annotate(rgb: np.ndarray, faces: list, scale: float = 1.0) -> np.ndarray:
    """The photo with each face's box, landmarks and ``Emotion 87%`` label drawn on it.

    Args:
        rgb: (H, W, 3) uint8 photo (the pixels the boxes refer to, times ``scale``).
        faces: :class:`~emotionkit.inference.predictor.Face` objects.
        scale: Factor from the faces' box coordinates to ``rgb`` pixels.

    Returns:
        A new (H, W, 3) uint8 array.
    """
    from PIL import Image, ImageDraw, ImageFont

    im = Image.fromarray(np.ascontiguousarray(rgb[..., :3]).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    side = max(im.size)
    width = max(2, side // 300)
    try:
        font = ImageFont.load_default(size=max(12, side // 40))
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        font = ImageFont.load_default()
    for face in faces:
        x, y, w, h = (float(v) * scale for v in face.box)
        k = CLASS_NAMES.index(face.emotion) if face.emotion in CLASS_NAMES else 6
        colour = CLASS_COLORS[k]
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        if face.landmarks is not None:
            r = width
            for px, py in np.asarray(face.landmarks) * scale:
                draw.ellipse([px - r, py - r, px + r, py + r], fill=colour)
        label = f"{DISPLAY_NAMES[k]} {face.probabilities[face.emotion]:.0%}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        tw, th = right - left, bottom - top
        ty = y - th - 2 * width if y - th - 2 * width >= 0 else y + h + width
        draw.rectangle([x, ty, x + tw + 2 * width, ty + th + 2 * width], fill=colour)
        draw.text((x + width - left, ty + width - top), label, fill="white", font=font)
    return np.asarray(im)


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an RGB array as PNG, atomically (never a half-written file)."""
    import io

    from PIL import Image

    from .._io import atomic_write_bytes

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", optimize=False)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


__all__ = ["annotate", "overlay_on_photo", "save_png"]


def overlay_on_photo(rgb: np.ndarray, values: np.ndarray, transform, signed: bool = False,
                     alpha: float = 0.6) -> np.ndarray:
    """Draw a 48x48 map back over the face it was computed on, in the original photo.

    Args:
        rgb: (H, W, 3) uint8 photo.
        values: (48, 48) normalized map ([0, 1], or [-1, 1] when ``signed``).
        transform: The photo -> face-frame transform used for the crop
            (:func:`emotionkit.faces.face_transform`).
        signed: Whether the map is signed.
        alpha: Opacity of the strongest attribution.

    Returns:
        A new (H, W, 3) uint8 photo, unchanged outside the face's frame, whose outline is
        drawn in white. The map's strength is shown on a square-root scale so sparse maps
        (guided backprop) stay visible.
    """
    from skimage.transform import warp

    from ..explain.plotting import colorize

    values = np.asarray(values, dtype=np.float64)
    heat = colorize(values, signed).astype(np.float64) / 255.0
    # square root: sparse maps (guided backprop) stay visible at photo scale
    strength = np.sqrt(np.clip(np.abs(values), 0.0, 1.0))
    frame = np.zeros_like(strength)
    frame[0, :] = frame[-1, :] = frame[:, 0] = frame[:, -1] = 1.0  # outline of the crop
    shape = rgb.shape[:2]
    # warp() samples its input at transform(output pixel): photo pixel -> frame pixel
    heat_photo = warp(heat, transform, output_shape=shape, order=1, mode="constant", cval=0.0)
    weight = warp(strength, transform, output_shape=shape, order=1, mode="constant", cval=0.0)
    weight = alpha * weight[..., None]
    base = rgb[..., :3].astype(np.float64) / 255.0
    out = base * (1.0 - weight) + heat_photo * weight
    edge = warp(frame, transform, output_shape=shape, order=0, mode="constant", cval=0.0)
    out[edge > 0.5] = (1.0, 1.0, 1.0)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
