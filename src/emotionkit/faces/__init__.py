"""Face detection and FER2013-style face cropping for photos, offline and in plain PyTorch.

- :class:`MTCNN`: the default detector (boxes and five landmarks), weights shipped in the wheel
  and checked by sha256;
- :class:`LBPDetector`: a lighter cascade without landmarks;
- :func:`align_face`: a 48x48 gray crop framed like the FER2013 training faces.

Example::

    from emotionkit.faces import get_detector, align_face
    det = get_detector("mtcnn")
    for face in det.detect(rgb):
        crop = align_face(rgb, face.box, face.landmarks)
"""

from __future__ import annotations

import threading
from typing import Any

from .._names import unknown_name_message
from ..errors import UnknownNameError
from .align import FACE_SIZE, FER_LANDMARKS, align_face, face_transform
from .lbp import LBPDetector
from .mtcnn import MTCNN, Detection

DETECTORS: tuple[str, ...] = ("mtcnn", "lbp")
_CACHE: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def get_detector(name: str = "mtcnn", device: Any = "cpu") -> MTCNN | LBPDetector:
    """A face detector by name, built once per process and device.

    Args:
        name: ``"mtcnn"`` (default) or ``"lbp"``.
        device: Where MTCNN runs: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``...

    Returns:
        The detector (its ``detect(image)`` returns a list of :class:`Detection`).

    Raises:
        UnknownNameError: For another name.
    """
    from ..runtime import resolve_device

    key = str(name).strip().lower()
    if key not in DETECTORS:
        raise UnknownNameError(unknown_name_message("face detector", str(name), DETECTORS))
    dev = resolve_device(device)
    cache_key = (key, str(dev) if key == "mtcnn" else "cpu")
    with _LOCK:
        if cache_key not in _CACHE:
            _CACHE[cache_key] = MTCNN(device=dev) if key == "mtcnn" else LBPDetector()
        return _CACHE[cache_key]


__all__ = ["DETECTORS", "FACE_SIZE", "FER_LANDMARKS", "Detection", "LBPDetector", "MTCNN",
           "align_face", "face_transform", "get_detector"]
