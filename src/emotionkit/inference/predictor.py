"""``emotionkit.predict``: emotions of the faces in photos, per image and per face.

Pipeline for each input: read it (:mod:`.images`), find the faces (MTCNN by default, or LBP, or
none: the whole image is one face, automatic for 48x48 inputs), cut each face out with FER2013's
framing (:func:`emotionkit.faces.align_face`), then classify all faces of all inputs in batches,
with flip test-time augmentation by default. A failing input gets an ``error`` and the others
still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.classes import CLASS_NAMES
from ..errors import ConfigError
from .images import InputError, Photo, array_photo, expand_paths, read_photo, split_batches


@dataclass
class Face:
    """One face and its emotion.

    Attributes:
        box: ``(x, y, w, h)`` in pixels of the input as given (whole image with no detection).
        emotion: The most probable class name.
        probabilities: Class name -> probability, in FER2013 class order.
        landmarks: (5, 2) points (eyes, nose, mouth corners) in input pixels, when known.
        detector_score: The detector's confidence (None without detection).
        crop: The 48x48 uint8 gray face the model saw (not part of the JSON form).
    """

    box: tuple[float, float, float, float]
    emotion: str
    probabilities: dict[str, float]
    landmarks: np.ndarray | None = None
    detector_score: float | None = None
    crop: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``box``, ``emotion``, ``probabilities``, and ``landmarks`` when known."""
        out: dict[str, Any] = {"box": [round(float(v), 1) for v in self.box],
                               "emotion": self.emotion,
                               "probabilities": {k: round(float(v), 5)
                                                 for k, v in self.probabilities.items()}}
        if self.landmarks is not None:
            out["landmarks"] = [[round(float(x), 1), round(float(y), 1)]
                                for x, y in self.landmarks]
        if self.detector_score is not None:
            out["detector_score"] = round(float(self.detector_score), 4)
        return out


@dataclass
class ImageResult:
    """The faces found in one input, or why it failed.

    Attributes:
        path: The input as text (a path, or ``<array N>`` for in-memory images).
        faces: The faces, largest first.
        error: One line saying why the input could not be used, else None.
        size: (width, height) of the input.
        notes: Things worth knowing (downscaled, no face found).
        photo: The pixels the faces were found in (for drawing; not part of the JSON form).
    """

    path: str
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    size: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)
    photo: Photo | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when the input was read (finding no face is not a failure)."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"path", "faces": [...]}`` plus ``error`` / ``size`` / ``notes``."""
        out: dict[str, Any] = {"path": self.path, "faces": [f.to_dict() for f in self.faces]}
        if self.size is not None:
            out["size"] = list(self.size)
        if self.error is not None:
            out["error"] = self.error
        if self.notes:
            out["notes"] = list(self.notes)
        return out


class Predictor:
    """A loaded model plus a face detector, reusable across calls.

    Args:
        model: None (the best shipped model), a zoo name with shipped weights, a checkpoint
            path or run directory, or an ``nn.Module`` taking (N, 1, 48, 48) in [0, 1].
        detector: ``"mtcnn"`` (default, with landmarks) or ``"lbp"`` (lighter).
        detect: ``"auto"`` (detect, except for inputs that are 48x48 already), True, or False
            (each whole image is one face).
        tta: Test-time augmentation of the classifier: ``"none"``, ``"flip"`` (default) or
            ``"tencrop"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        batch_size: Faces classified per forward pass (64: fastest on 2 CPU cores,
            bench/predict_speed.py).
        min_face: Smallest face side (pixels) the detector looks for.
    """

    def __init__(self, model: Any = None, *, detector: str = "mtcnn", detect: bool | str = "auto",
                 tta: str = "flip", device: str | torch.device = "auto", batch_size: int = 64,
                 min_face: float = 20.0) -> None:
        from ..evaluation.tta import check_mode
        from ..faces import DETECTORS
        from ..runtime import resolve_device
        from .model_spec import resolve_model

        if detect not in (True, False, "auto"):
            raise ConfigError(f"detect must be True, False or 'auto', got {detect!r}")
        if str(detector).lower() not in DETECTORS:
            from .._names import unknown_name_message
            from ..errors import UnknownNameError

            raise UnknownNameError(unknown_name_message("face detector", str(detector),
                                                        DETECTORS))
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.device = resolve_device(device)
        self.model = resolve_model(model, self.device)
        self.detector_name = str(detector).lower()
        self.detect, self.tta, self.batch_size = detect, check_mode(tta), batch_size
        self.min_face = float(min_face)
        self.class_names = tuple((getattr(self.model, "emotionkit_meta", None) or {}).get(
            "class_names") or CLASS_NAMES)
        self._detector = None
        self.timings: dict[str, float] = {"read": 0.0, "detect": 0.0, "classify": 0.0}

    @property
    def detector(self):
        """The face detector (built on first use)."""
        if self._detector is None:
            from ..faces import MTCNN, LBPDetector

            if self.detector_name == "mtcnn":
                self._detector = MTCNN(min_face=self.min_face, device=self.device)
            else:
                self._detector = LBPDetector(min_face=max(int(self.min_face), 12))
        return self._detector

    # ------------------------------------------------------------------ faces of one photo
    def _faces_of(self, photo: Photo, note: Callable[[str], None]) -> list[dict[str, Any]]:
        """Detected (or whole-image) faces of one photo: box/landmarks in input pixels + crop."""
        from ..data.folder_reader import to_gray48
        from ..faces import align_face

        h, w = photo.rgb.shape[:2]
        whole = self.detect is False or (self.detect == "auto" and (w, h) == (48, 48)
                                         and photo.scale == 1.0)
        if whole:
            gray, _ = to_gray48(photo.rgb)
            ow, oh = photo.original_size
            return [{"box": (0.0, 0.0, float(ow), float(oh)), "landmarks": None,
                     "score": None, "crop": gray}]
        t0 = time.perf_counter()
        found = self.detector.detect(photo.rgb)
        self.timings["detect"] += time.perf_counter() - t0
        if not found:
            note("no face found (for an already cropped face, use --no-detect / detect=False)")
        faces = []
        inv = 1.0 / photo.scale
        for d in sorted(found, key=lambda d: -d.box[2] * d.box[3]):
            crop = align_face(photo.rgb, d.box, d.landmarks, self.detector_name)
            box = tuple(float(v) * inv for v in d.box)
            marks = None if d.landmarks is None else np.asarray(d.landmarks) * inv
            faces.append({"box": box, "landmarks": marks, "score": d.score, "crop": crop})
        return faces

    # ------------------------------------------------------------------ classification
    @torch.no_grad()
    def classify(self, crops: np.ndarray) -> np.ndarray:
        """Class probabilities of 48x48 uint8 face crops.

        Args:
            crops: (K, 48, 48) uint8.

        Returns:
            (K, 7) float probabilities (averaged over the TTA views).
        """
        from ..evaluation.tta import average_views, make_views

        crops = np.asarray(crops)
        if crops.ndim != 3 or crops.shape[1:] != (48, 48):
            raise ConfigError(f"crops must have shape (K, 48, 48), got {crops.shape}")
        out = []
        for start in range(0, len(crops), self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(crops[start:start + self.batch_size]))
            x = x.to(self.device).float().div_(255.0).unsqueeze(1)
            views = make_views(x, self.tta)
            probs = torch.softmax(self.model(views).float(), dim=1)
            out.append(average_views(probs, len(x)).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)

    # ------------------------------------------------------------------ the whole call
    def photos(self, inputs: Any) -> list[tuple[str, Photo | InputError]]:
        """Read every input; failures come back as :class:`InputError` in place."""
        items = expand_paths(split_batches(inputs))
        out: list[tuple[str, Photo | InputError]] = []
        n_arrays = 0
        for item in items:
            t0 = time.perf_counter()
            if isinstance(item, InputError):
                out.append((str(item).split(":")[0], item))
                continue
            if isinstance(item, (str, bytes)) or hasattr(item, "__fspath__"):
                source = str(item)
                try:
                    out.append((source, read_photo(item)))
                except InputError as exc:
                    out.append((source, exc))
            else:
                source = f"<array {n_arrays}>"
                n_arrays += 1
                try:
                    out.append((source, array_photo(item, source)))
                except InputError as exc:
                    out.append((source, exc))
            self.timings["read"] += time.perf_counter() - t0
        return out

    def predict(self, inputs: Any, *, progress: bool = False) -> list[ImageResult]:
        """Emotions of the faces in ``inputs`` (see :func:`emotionkit.predict`)."""
        return self._run(self.photos(inputs), progress=progress)

    def predict_photo(self, photo: Photo) -> ImageResult:
        """Emotions of the faces in one already-read :class:`Photo` (e.g. a video frame)."""
        return self._run([(photo.source, photo)])[0]

    def _run(self, photos: list[tuple[str, Photo | InputError]], *,
             progress: bool = False) -> list[ImageResult]:
        from tqdm.auto import tqdm

        results: list[ImageResult] = []
        pending: list[tuple[ImageResult, dict[str, Any]]] = []
        for source, photo in tqdm(photos, desc="detecting faces", unit="img", leave=False,
                                  disable=None if progress and len(photos) > 1 else True):
            result = ImageResult(path=source)
            results.append(result)
            if isinstance(photo, InputError):
                result.error = str(photo)
                continue
            result.size = photo.original_size
            result.photo = photo
            if photo.scale != 1.0:
                result.notes.append(f"downscaled by {photo.scale:.3g} for detection")
            try:
                faces = self._faces_of(photo, result.notes.append)
            except Exception as exc:  # a detector failure is this input's problem only
                result.error = f"{source}: face detection failed ({' '.join(str(exc).split())})"
                continue
            pending.extend((result, f) for f in faces)
        if pending:
            t0 = time.perf_counter()
            probs = self.classify(np.stack([f["crop"] for _, f in pending]))
            self.timings["classify"] += time.perf_counter() - t0
            for (result, f), p in zip(pending, probs, strict=True):
                result.faces.append(Face(
                    box=f["box"], emotion=self.class_names[int(np.argmax(p))],
                    probabilities={n: float(v) for n, v in zip(self.class_names, p,
                                                                strict=True)},
                    landmarks=f["landmarks"], detector_score=f["score"], crop=f["crop"]))
        return results


def predict(images: Any = None, model: Any = None, *, detector: str = "mtcnn",
            detect: bool | str = "auto", tta: str = "flip", device: str | torch.device = "auto",
            batch_size: int = 64) -> list[ImageResult]:
    """Recognise the emotion of every face in one or more images.

    Args:
        images: A path (file or folder), a numpy array, a PIL image, a tensor ((H, W),
            (C, H, W) or a (N, C, H, W) batch), or a list of those. None: scikit-image's
            astronaut photo (bundled, no download).
        model: None (the best shipped model), a zoo name with shipped weights, a checkpoint
            path or run directory, or a model.
        detector: ``"mtcnn"`` or ``"lbp"``.
        detect: ``"auto"`` (48x48 inputs are taken as faces), True or False (whole images).
        tta: ``"none"``, ``"flip"`` or ``"tencrop"``.
        device: Where the model and detector run.
        batch_size: Faces per forward pass.

    Returns:
        One :class:`ImageResult` per input image (a folder counts as its images), in order.
        ``result.to_dict()`` is the JSON form ``{"path", "faces": [{"box", "emotion",
        "probabilities", ...}]}``; a failed input has ``error`` set and no faces.

    Example::

        import emotionkit as ek
        for face in ek.predict("group.jpg")[0].faces:
            print(face.box, face.emotion, face.probabilities["happy"])
    """
    if images is None:
        images = [astronaut()]
    return Predictor(model, detector=detector, detect=detect, tta=tta, device=device,
                     batch_size=batch_size).predict(images)


def astronaut() -> np.ndarray:
    """scikit-image's bundled astronaut photo (Eileen Collins, public domain), RGB uint8."""
    from skimage import data

    return data.astronaut()


__all__ = ["Face", "ImageResult", "Predictor", "astronaut", "predict"]
