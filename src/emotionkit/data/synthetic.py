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
    return np.clip(1.0 - np.abs(d) / width, 0.0, 1.0)


def draw_faces(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one face per label, vectorized over the batch.

    Args:
        labels: int array (N,) of classes in 0..6.
        rng: The random generator (pose, lighting, shape and noise come from it).

    Returns:
        uint8 array (N, 48, 48).
    """
    n = len(labels)
    shape = _CLASS_SHAPES[labels] + rng.normal(0.0, 0.12, (n, _CLASS_SHAPES.shape[1]))
    curve, mouth_open, mouth_w, tilt, raise_, eye_open, asym = (shape[:, i, None, None] for i in range(7))

    # pose: rotation, scale, shift; face shape: width/height
    ang = rng.uniform(-0.25, 0.25, n)[:, None, None]
    scale = rng.uniform(0.85, 1.12, n)[:, None, None]
    cx = 23.5 + rng.uniform(-3.0, 3.0, n)[:, None, None]
    cy = 23.5 + rng.uniform(-3.0, 3.0, n)[:, None, None]
    mirror = rng.choice([-1.0, 1.0], n)[:, None, None]  # asymmetric cues may sit on either side

    yy, xx = np.mgrid[0:48, 0:48].astype(np.float64)
    dx, dy = xx[None] - cx, yy[None] - cy
    # face coordinates in units of ~ half face width (u right, v down)
    u = (np.cos(ang) * dx + np.sin(ang) * dy) / (17.0 * scale)
    v = (-np.sin(ang) * dx + np.cos(ang) * dy) / (17.0 * scale)
    px = 17.0 * scale  # pixels per face unit

    face_w = rng.uniform(0.85, 1.05, n)[:, None, None]
    face_h = rng.uniform(1.1, 1.3, n)[:, None, None]
    face = np.clip((1.0 - ((u / face_w) ** 2 + (v / face_h) ** 2)) * 6.0, 0.0, 1.0)

    ink = np.zeros_like(u)
    # eyes: ellipses whose height follows eye openness
    for side in (-1.0, 1.0):
        eu, ev = u - side * 0.38, v + 0.25
        r = (eu / 0.17) ** 2 + (ev / (0.09 * np.clip(eye_open, 0.2, 2.0))) ** 2
        ink = np.maximum(ink, np.clip((1.0 - r) * 3.0, 0.0, 1.0))
        # brows: short tilted lines above the eyes; inner end lowered by tilt
        bu = u - side * 0.38
        brow_v = -0.52 - 0.18 * raise_ + 0.55 * tilt * (0.19 - np.abs(u)) * 1.6
        in_brow = np.abs(bu) < 0.2
        ink = np.maximum(ink, _soft((v - brow_v) * px, 1.4) * in_brow)
    # mouth: parabola with curvature; openness draws a second (lower) lip
    mu = u / (0.36 * np.clip(mouth_w, 0.3, 1.6))
    in_mouth = np.abs(mu) < 1.0
    lean = asym * mirror * 0.12 * mu
    upper = 0.55 + curve * 0.16 * (1.0 - mu**2) - lean
    lower = upper + 0.05 + 0.22 * np.clip(mouth_open, 0.0, 1.5) * np.sqrt(np.clip(1.0 - mu**2, 0.0, 1.0))
    ink = np.maximum(ink, _soft((v - upper) * px, 1.3) * in_mouth)
    ink = np.maximum(ink, _soft((v - lower) * px, 1.3) * in_mouth)
    gap = (v > upper) & (v < lower) & in_mouth
    ink = np.maximum(ink, 0.7 * gap * (mouth_open > 0.3))

    # lighting: skin tone, directional gradient, background
    skin = rng.uniform(0.45, 0.85, n)[:, None, None]
    light_dir = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    light = 1.0 + rng.uniform(0.0, 0.35, n)[:, None, None] * (
        np.cos(light_dir) * dx + np.sin(light_dir) * dy
    ) / 24.0
    background = rng.uniform(0.05, 0.6, n)[:, None, None]
    img = background * (1.0 - face) + face * skin * (1.0 - 0.8 * ink)
    img = img * light
    img = img + rng.normal(0.0, rng.uniform(0.02, 0.08, n)[:, None, None], img.shape)
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
