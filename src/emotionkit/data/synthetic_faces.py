"""Procedurally drawn 48x48 faces whose mouth, brows and eyes differ by emotion.

The built-in demo set and the test data: licence-free, generated in well under a second, learnable
by a small CNN (>= 90%), yet not trivially separable by a linear model on raw pixels because pose,
scale, lighting, face shape and noise vary per image and the class cues are a few pixels wide.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .classes import NUM_CLASSES

# Per class: (mouth curvature, mouth openness, mouth width, brow tilt, brow raise, eye openness,
# mouth asymmetry). Curvature > 0 smiles; brow tilt > 0 lowers the inner ends (anger).
_CLASS_SHAPES = np.array(
    [
        # curve  open  width  tilt  raise  eye   asym
        [-0.10, 0.00, 0.75, 0.90, -0.10, 0.80, 0.00],  # angry: inner brows down, tight mouth
        [-0.25, 0.10, 0.70, 0.40, -0.05, 0.55, 0.80],  # disgust: squint, lopsided sneer
        [-0.15, 0.45, 0.95, -0.50, 0.45, 1.45, 0.00],  # fear: wide eyes, stretched open mouth
        [0.95, 0.15, 1.00, 0.00, 0.10, 0.85, 0.00],  # happy: big smile
        [-0.85, 0.00, 0.80, -0.80, 0.05, 0.75, 0.00],  # sad: frown, inner brows up
        [0.00, 1.00, 0.55, -0.10, 0.80, 1.50, 0.00],  # surprise: O mouth, raised brows
        [0.00, 0.00, 0.80, 0.00, 0.00, 1.00, 0.00],  # neutral
    ],
    dtype=np.float64,
)


def synthetic(n_per_class: int = 200, seed: int = 0, *, test_fraction: float = 0.2):
    """Generate the synthetic face set with ``Training`` and ``PublicTest`` splits.

    Args:
        n_per_class: Faces per class (7 classes).
        seed: Seed; the same seed always gives the same images.
        test_fraction: Share of each class put in the ``PublicTest`` split.

    Returns:
        A :class:`~emotionkit.data.Dataset` with ``source="synthetic:N"``.
    """
    from .dataset import Dataset

    if n_per_class < 1:
        raise ConfigError(f"n_per_class must be >= 1, got {n_per_class}")
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(NUM_CLASSES), n_per_class)
    rng.shuffle(labels)
    images = draw_faces(labels, rng)
    n_test = int(round(test_fraction * n_per_class))
    splits = np.empty(len(labels), dtype=object)
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == c)
        splits[idx] = "Training"
        splits[idx[:n_test]] = "PublicTest"
    return Dataset(images, labels, splits, source=f"synthetic:{n_per_class}")


def _soft(d: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased stroke: 1 on the curve, fading to 0 at ``width`` pixels."""
    return np.clip(1.0 - np.abs(d) * (1.0 / width), 0.0, 1.0)


_CHUNK = 256  # faces drawn per vectorized pass (keeps the float32 temporaries in cache)


def _face_params(labels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every per-face random quantity, drawn up front so chunking cannot change the result."""
    n = len(labels)
    shape = _CLASS_SHAPES[labels] + rng.normal(0.0, 0.12, (n, _CLASS_SHAPES.shape[1]))
    names = ("curve", "mouth_open", "mouth_w", "tilt", "raise_", "eye_open", "asym")
    params = {name: shape[:, i] for i, name in enumerate(names)}
    params.update(
        ang=rng.uniform(-0.25, 0.25, n),  # pose: rotation, scale, shift
        scale=rng.uniform(0.85, 1.12, n),
        cx=23.5 + rng.uniform(-3.0, 3.0, n),
        cy=23.5 + rng.uniform(-3.0, 3.0, n),
        mirror=rng.choice([-1.0, 1.0], n),  # asymmetric cues may sit on either side
        face_w=rng.uniform(0.85, 1.05, n),  # face shape
        face_h=rng.uniform(1.1, 1.3, n),
        skin=rng.uniform(0.45, 0.85, n),  # lighting
        light_dir=rng.uniform(0, 2 * np.pi, n),
        light_amp=rng.uniform(0.0, 0.35, n),
        background=rng.uniform(0.05, 0.6, n),
        noise=rng.uniform(0.02, 0.08, n),
    )
    return params


def draw_faces(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one face per label, vectorized over the batch (float32, in chunks).

    Args:
        labels: int array (N,) of classes in 0..6.
        rng: The random generator (pose, lighting, shape and noise come from it).

    Returns:
        uint8 array (N, 48, 48).
    """
    n = len(labels)
    params = _face_params(labels, rng)
    out = np.empty((n, 48, 48), np.uint8)
    for i0 in range(0, n, _CHUNK):
        sel = slice(i0, min(n, i0 + _CHUNK))
        p = {k: v[sel].astype(np.float32)[:, None, None] for k, v in params.items()}
        noise = rng.standard_normal((len(range(*sel.indices(n))), 48, 48), dtype=np.float32)
        out[sel] = _draw_chunk(p, noise)
    return out


def _draw_chunk(p: dict[str, np.ndarray], noise: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float32)
    dx, dy = xx[None] - p["cx"], yy[None] - p["cy"]
    # face coordinates in units of ~ half face width (u right, v down)
    px = 17.0 * p["scale"]  # pixels per face unit
    cos, sin = np.cos(p["ang"]) / px, np.sin(p["ang"]) / px
    u = cos * dx + sin * dy
    v = cos * dy - sin * dx
    face = np.clip((1.0 - ((u / p["face_w"]) ** 2 + (v / p["face_h"]) ** 2)) * 6.0, 0.0, 1.0)

    ink = np.zeros_like(u)
    eye_h = 0.09 * np.clip(p["eye_open"], 0.2, 2.0)
    abs_u = np.abs(u)
    brow_v = -0.52 - 0.18 * p["raise_"] + 0.88 * p["tilt"] * (0.19 - abs_u)
    brow = _soft((v - brow_v) * px, 1.4)
    for side in (-1.0, 1.0):
        # eyes: ellipses whose height follows eye openness
        eu = u - side * 0.38
        r = (eu / 0.17) ** 2 + ((v + 0.25) / eye_h) ** 2
        np.maximum(ink, np.clip((1.0 - r) * 3.0, 0.0, 1.0), out=ink)
        # brows: short tilted lines above the eyes; inner end lowered by tilt
        np.maximum(ink, brow * (np.abs(eu) < 0.2), out=ink)
    # mouth: parabola with curvature; openness draws a second (lower) lip
    mu = u / (0.36 * np.clip(p["mouth_w"], 0.3, 1.6))
    mu2 = mu * mu
    in_mouth = mu2 < 1.0
    upper = 0.55 + p["curve"] * 0.16 * (1.0 - mu2) - p["asym"] * p["mirror"] * 0.12 * mu
    opening = 0.22 * np.clip(p["mouth_open"], 0.0, 1.5)
    lower = upper + 0.05 + opening * np.sqrt(np.clip(1.0 - mu2, 0.0, 1.0))
    np.maximum(ink, _soft((v - upper) * px, 1.3) * in_mouth, out=ink)
    np.maximum(ink, _soft((v - lower) * px, 1.3) * in_mouth, out=ink)
    gap = (v > upper) & (v < lower) & in_mouth & (p["mouth_open"] > 0.3)
    np.maximum(ink, 0.7 * gap, out=ink)

    # lighting: skin tone, directional gradient, background
    light = 1.0 + p["light_amp"] * (
        np.cos(p["light_dir"]) * dx + np.sin(p["light_dir"]) * dy
    ) * (1.0 / 24.0)
    img = p["background"] * (1.0 - face) + face * p["skin"] * (1.0 - 0.8 * ink)
    img = img * light + p["noise"] * noise
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
