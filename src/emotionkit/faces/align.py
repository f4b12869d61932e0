"""Cut a detected face out of a photo with the framing of a FER2013 face.

A model trained on FER2013 has only seen faces framed the way that data set frames them: tight
around the face, eyes a little above the middle, mouth low in the frame. A crop with another
margin costs accuracy (the ``fer`` package loses 16 points on the same faces through its own
padding), so emotionkit measures the FER2013 framing instead of guessing it:
``scripts/calibrate_face_crop.py`` runs the MTCNN detector on Training faces (enlarged four times
and set on a gray canvas) and records where, in the 48x48 frame, the five landmarks and the
detector's box fall on average. Those numbers are the constants below.

:func:`align_face` then maps a photo's face into that frame with the similarity transform
(rotation, uniform scale, shift) that best fits the five landmarks to the template (least squares,
Umeyama's method in scikit-image), which also levels tilted heads. For a detector without
landmarks (LBP) the box alone sets position and scale.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

FACE_SIZE = 48

#: Median landmark positions (x, y) in FER2013's 48x48 frame: eye on the image's left, eye on the
#: image's right, nose tip, left and right mouth corner. Measured by
#: ``scripts/calibrate_face_crop.py --n 250`` on Training faces (MTCNN found 233 of 250; the
#: positions vary by about 4 pixels between faces).
FER_LANDMARKS = np.array([[14.69, 18.30], [32.39, 18.05], [23.66, 28.19], [16.51, 36.70],
                          [31.19, 36.43]], dtype=np.float64)

#: The MTCNN box in the same frame, as (centre x, centre y, width, height) of a 48-pixel face.
FER_MTCNN_BOX = np.array([22.91, 23.98, 38.27, 49.46], dtype=np.float64)

#: The scikit-image LBP cascade's box in the same frame (found on 166 of the 250 faces).
FER_LBP_BOX = np.array([23.19, 23.50, 42.62, 42.62], dtype=np.float64)


def _to_gray_float(image: np.ndarray) -> np.ndarray:
    """(H, W) float64 in [0, 1] from an RGB/gray uint8 or float image.

    The colour-to-gray rule is scikit-image's ``rgb2gray`` (ITU-R 709 luma), the same one the
    data readers use for image folders (``data.folder_reader.to_gray48``).
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    f = a.astype(np.float64) / 255.0 if np.issubdtype(a.dtype, np.integer) else a.astype(np.float64)
    if f.ndim == 3:
        if f.shape[2] not in (3, 4):
            raise ConfigError(f"expected a gray or RGB image, got shape {a.shape}")
        from skimage.color import rgb2gray

        f = rgb2gray(f[..., :3])
    if f.ndim != 2:
        raise ConfigError(f"expected a gray or RGB image, got shape {a.shape}")
    return f


def face_transform(box: tuple[float, float, float, float], landmarks: np.ndarray | None,
                   detector: str = "mtcnn"):
    """The similarity transform from photo pixels to the 48x48 FER frame of one face.

    Args:
        box: The detector's ``(x, y, w, h)``.
        landmarks: (5, 2) landmark points, or None (then the box sets the framing).
        detector: ``"mtcnn"`` or ``"lbp"``: which box calibration applies without landmarks.

    Returns:
        A :class:`skimage.transform.SimilarityTransform` (photo -> frame).
    """
    from skimage.transform import SimilarityTransform

    if landmarks is not None and np.all(np.isfinite(landmarks)):
        src = np.asarray(landmarks, dtype=np.float64)
        if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
            fitted = SimilarityTransform.from_estimate(src, FER_LANDMARKS)
            if fitted:
                return fitted
        else:  # pragma: no cover - older scikit-image
            fitted = SimilarityTransform()
            if fitted.estimate(src, FER_LANDMARKS):
                return fitted
    ref = FER_LBP_BOX if detector == "lbp" else FER_MTCNN_BOX
    x, y, w, h = (float(v) for v in box)
    scale = ref[2] / max(w, 1e-6)
    cx, cy = x + w / 2.0, y + h / 2.0
    return SimilarityTransform(scale=scale, translation=(ref[0] - scale * cx, ref[1] - scale * cy))


def align_face(image: np.ndarray, box: tuple[float, float, float, float],
               landmarks: np.ndarray | None = None, detector: str = "mtcnn") -> np.ndarray:
    """Cut one face out of a photo as a uint8 48x48 gray image framed like FER2013.

    Args:
        image: The photo, (H, W) gray or (H, W, 3) RGB, uint8 or float in [0, 1].
        box: The detector's ``(x, y, w, h)``.
        landmarks: (5, 2) points from the detector, if it gives them.
        detector: The detector's name (selects the box calibration when there are no landmarks).

    Returns:
        (48, 48) uint8. Parts of the frame outside the photo repeat the nearest edge pixel.
    """
    from scipy.ndimage import gaussian_filter
    from skimage.transform import SimilarityTransform, warp

    gray = _to_gray_float(image)
    tform = face_transform(box, landmarks, detector)
    # work on the part of the photo that maps into the frame (plus a margin), so smoothing a
    # large photo costs no more than smoothing the face
    corners = tform.inverse(np.array([[0, 0], [FACE_SIZE, 0], [0, FACE_SIZE],
                                      [FACE_SIZE, FACE_SIZE]], dtype=np.float64))
    shrink = 1.0 / max(tform.scale, 1e-9)  # photo pixels per frame pixel
    margin = int(np.ceil(3 * shrink)) + 2
    x0 = int(max(np.floor(corners[:, 0].min()) - margin, 0))
    y0 = int(max(np.floor(corners[:, 1].min()) - margin, 0))
    x1 = int(min(np.ceil(corners[:, 0].max()) + margin, gray.shape[1]))
    y1 = int(min(np.ceil(corners[:, 1].max()) + margin, gray.shape[0]))
    if x1 <= x0 or y1 <= y0:  # the face lies outside the photo
        x0, y0, x1, y1 = 0, 0, gray.shape[1], gray.shape[0]
    region = gray[y0:y1, x0:x1]
    if shrink > 1.0:  # anti-alias before sampling at a coarser grid
        region = gaussian_filter(region, sigma=max(0.0, (shrink - 1.0) / 2.0), mode="nearest")
    local = SimilarityTransform(translation=(x0, y0)) + tform  # region pixel -> frame
    out = warp(region, local.inverse, output_shape=(FACE_SIZE, FACE_SIZE), order=1,
               mode="edge", preserve_range=True)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


__all__ = ["FACE_SIZE", "FER_LANDMARKS", "FER_MTCNN_BOX", "FER_LBP_BOX", "align_face",
           "face_transform"]
