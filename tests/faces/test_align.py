"""FER2013 framing: a face placed in a photo by a known similarity transform comes back out."""

from __future__ import annotations

import numpy as np
import pytest

from emotionkit.faces import FER_LANDMARKS, align_face, face_transform
from emotionkit.faces.align import FER_MTCNN_BOX


def _smooth_face(seed: int = 0) -> np.ndarray:
    """A smooth 48x48 test pattern (low frequencies survive resampling)."""
    yy, xx = np.mgrid[0:48, 0:48] / 47.0
    rng = np.random.default_rng(seed)
    a, b, c = rng.uniform(1, 3, 3)
    img = 0.5 + 0.2 * np.sin(a * np.pi * xx) * np.cos(b * np.pi * yy) + 0.2 * np.sin(c * xx * yy)
    return np.clip(img, 0, 1)


def _place(face: np.ndarray, scale: float, angle: float, shift: tuple[float, float],
           shape=(400, 500)):
    """Render the 48x48 face into a larger photo with frame -> photo = similarity transform."""
    from skimage.transform import SimilarityTransform, warp

    to_photo = SimilarityTransform(scale=scale, rotation=angle, translation=shift)
    photo = warp(face, to_photo.inverse, output_shape=shape, order=3, mode="edge")
    marks = to_photo(FER_LANDMARKS)
    return (np.clip(photo, 0, 1) * 255).round().astype(np.uint8), marks, to_photo


@pytest.mark.parametrize("scale,angle", [(4.0, 0.0), (3.0, 0.3), (1.0, -0.2), (6.5, 0.1)])
def test_landmarks_recover_the_frame(scale, angle):
    face = _smooth_face()
    photo, marks, _ = _place(face, scale, angle, (120.0, 60.0))
    crop = align_face(photo, (0, 0, 1, 1), marks)
    err = np.abs(crop.astype(float) / 255.0 - face)
    # away from the border (edge handling differs there) the face comes back
    assert err[4:-4, 4:-4].mean() < 0.02 and err[4:-4, 4:-4].max() < 0.12


def test_transform_maps_landmarks_to_template():
    _, marks, _ = _place(_smooth_face(), 2.5, 0.4, (50.0, 70.0))
    tform = face_transform((0, 0, 1, 1), marks)
    np.testing.assert_allclose(tform(marks), FER_LANDMARKS, atol=1e-6)


def test_box_only_framing_follows_the_calibration():
    # a box whose frame position and size equal the calibrated MTCNN box maps to the frame
    cx, cy, w, h = FER_MTCNN_BOX
    s, ox, oy = 5.0, 40.0, 30.0
    box = (ox + s * (cx - w / 2), oy + s * (cy - h / 2), s * w, s * h)
    tform = face_transform(box, None, "mtcnn")
    np.testing.assert_allclose(tform([[ox, oy], [ox + 48 * s, oy + 48 * s]]),
                               [[0, 0], [48, 48]], atol=1e-6)


def test_output_and_inputs():
    photo, marks, _ = _place(_smooth_face(), 3.0, 0.0, (10.0, 10.0))
    rgb = np.repeat(photo[..., None], 3, axis=2)
    gray = align_face(photo, (0, 0, 1, 1), marks)
    colour = align_face(rgb, (0, 0, 1, 1), marks)
    assert gray.dtype == np.uint8 and gray.shape == (48, 48)
    assert np.abs(gray.astype(int) - colour.astype(int)).max() <= 1
    # a face partly outside the photo still gives a full frame (edge pixels repeated)
    edge = align_face(photo, (-100, -100, 150, 150), None)
    assert edge.shape == (48, 48)
