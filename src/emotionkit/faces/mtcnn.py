"""MTCNN face detection (Zhang et al., 2016) in plain PyTorch, with weights shipped as safetensors.

Three small networks run as a cascade:

1. **P-Net**, fully convolutional, scans an image pyramid and proposes windows (12x12 cells at
   stride 2 of each scaled image) with a face score and a box correction;
2. **R-Net** rescores every proposal from a 24x24 crop and refines its box;
3. **O-Net** rescores the survivors from a 48x48 crop, refines the box once more and places five
   landmarks: the two eyes, the nose tip and the two mouth corners.

Between the stages, overlapping boxes are merged by non-maximum suppression and made square. The
weights are the MIT-licensed ones carried in the ``facenet-pytorch`` 2.6.0 wheel, converted once
to safetensors (``scripts/convert_mtcnn_weights.py``); ``weights/LICENSE-MTCNN.txt`` is their
licence and :data:`WEIGHTS_SHA256` is checked before they are read. Nothing here unpickles.

Coordinates are pixels of the input image, ``x`` to the right and ``y`` down; boxes are
``(x1, y1, x2, y2)`` with inclusive corners as the original method defines them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError

WEIGHTS_FILE = "mtcnn.safetensors"
#: sha256 of ``weights/mtcnn.safetensors``; the file is refused when it does not match.
WEIGHTS_SHA256 = "259355ee191fe80498d7451c966d17e6db9d574cf3c93a42710f4fd50f4b923a"

#: The input scaling every stage was trained with: (pixel - 127.5) / 128.
_PIXEL_MEAN, _PIXEL_SCALE = 127.5, 1.0 / 128.0


class PNet(nn.Module):
    """Proposal network: 12x12 receptive field, stride 2; face probability and box offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)  # face / not-face logits
        self.conv4_2 = nn.Conv2d(32, 4, 1)  # box offsets

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return torch.softmax(self.conv4_1(x), dim=1)[:, 1], self.conv4_2(x)


def _flatten_caffe(x: torch.Tensor) -> torch.Tensor:
    """Flatten conv features in the (width, height, channel) order the dense weights expect."""
    return x.permute(0, 3, 2, 1).reshape(len(x), -1)


class RNet(nn.Module):
    """Refinement network on 24x24 crops: face probability and box offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu4(self.dense4(_flatten_caffe(self.prelu3(self.conv3(x)))))
        return torch.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    """Output network on 48x48 crops: face probability, box offsets and five landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)  # x of the five points, then y

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.dense5(_flatten_caffe(self.prelu4(self.conv4(x)))))
        return torch.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)


# ---------------------------------------------------------------------- box arithmetic
def box_iou(a: np.ndarray, b: np.ndarray, mode: str = "union") -> np.ndarray:
    """Overlap of every box in ``a`` with every box in ``b`` (inclusive pixel corners).

    Args:
        a: (N, 4) boxes ``x1, y1, x2, y2``.
        b: (M, 4) boxes.
        mode: ``"union"`` (intersection over union) or ``"min"`` (over the smaller area).

    Returns:
        (N, M) overlaps in [0, 1].
    """
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    if mode == "min":
        denom = np.minimum(area_a[:, None], area_b[None, :])
    else:
        denom = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(denom, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression, in O(N) memory (no N x N overlap matrix).

    Args:
        boxes: (N, 4) boxes.
        scores: (N,) scores.
        threshold: Boxes overlapping a better-scored kept box by more than this are dropped.
        mode: Overlap measure, see :func:`box_iou`.

    Returns:
        Indices of the kept boxes, best score first.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    boxes = np.asarray(boxes, dtype=np.float64)
    keep = []
    while len(order):
        best, rest = order[0], order[1:]
        keep.append(best)
        if not len(rest):
            break
        overlap = box_iou(boxes[best:best + 1], boxes[rest], mode)[0]
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (side = its longer side)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + 0.5 * (w - side)
    out[:, 1] = boxes[:, 1] + 0.5 * (h - side)
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return out


def _apply_offsets(boxes: np.ndarray, offsets: np.ndarray, plus_one: bool) -> np.ndarray:
    """Move each corner by its offset times the box size (the networks' box regression)."""
    w = boxes[:, 2] - boxes[:, 0] + (1 if plus_one else 0)
    h = boxes[:, 3] - boxes[:, 1] + (1 if plus_one else 0)
    scale = np.stack([w, h, w, h], axis=1)
    return boxes[:, :4] + offsets * scale


# ---------------------------------------------------------------------- the cascade
@dataclass(frozen=True)
class Detection:
    """One face found in an image.

    Attributes:
        box: ``(x, y, w, h)`` in pixels of the image (float).
        score: The last stage's face probability.
        landmarks: (5, 2) array of ``(x, y)``: eye on the image's left, eye on the image's right,
            nose tip, left and right mouth corner; ``None`` when the detector gives none.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: box, score and landmarks as lists of floats."""
        out: dict[str, Any] = {"box": [round(float(v), 2) for v in self.box],
                               "score": round(float(self.score), 4)}
        if self.landmarks is not None:
            out["landmarks"] = [[round(float(x), 2), round(float(y), 2)]
                                for x, y in self.landmarks]
        return out


def _load_weights(pnet: PNet, rnet: RNet, onet: ONet) -> None:
    from safetensors.torch import load as st_load

    blob = resources.files(__package__).joinpath("weights", WEIGHTS_FILE).read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise CheckpointError(f"emotionkit/faces/weights/{WEIGHTS_FILE}: sha256 {digest} does "
                              f"not match the expected {WEIGHTS_SHA256} (damaged install?)")
    tensors = st_load(blob)
    for prefix, net in (("pnet.", pnet), ("rnet.", rnet), ("onet.", onet)):
        part = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        net.load_state_dict(part, strict=True)


class MTCNN:
    """The MTCNN face detector (pure PyTorch, offline, weights verified by sha256).

    Args:
        min_face: Smallest face side to look for, in pixels of the (possibly downscaled) image.
        thresholds: Face-probability thresholds of P-Net, R-Net and O-Net.
        scale_factor: Ratio between neighbouring pyramid levels.
        device: Where the networks run (a ``torch.device``).

    Example::

        detector = MTCNN()
        faces = detector.detect(rgb_uint8_array)     # list of Detection
    """

    name = "mtcnn"

    def __init__(self, min_face: float = 20.0, thresholds: tuple[float, float, float] =
                 (0.6, 0.7, 0.7), scale_factor: float = 0.709,
                 device: torch.device | str = "cpu") -> None:
        if not min_face >= 12:
            raise ConfigError(f"min_face must be >= 12 pixels, got {min_face!r}")
        if not 0.1 <= scale_factor < 1:
            raise ConfigError(f"scale_factor must be in [0.1, 1), got {scale_factor!r}")
        if len(thresholds) != 3 or not all(0 <= t < 1 for t in thresholds):
            raise ConfigError(f"thresholds must be three numbers in [0, 1), got {thresholds!r}")
        self.min_face, self.scale_factor = float(min_face), float(scale_factor)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.device = torch.device(device)
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        _load_weights(self.pnet, self.rnet, self.onet)
        for net in (self.pnet, self.rnet, self.onet):
            net.to(self.device).eval().requires_grad_(False)

    def _scales(self, h: int, w: int) -> list[float]:
        scale = 12.0 / self.min_face
        side = min(h, w) * scale
        scales = []
        while side >= 12:
            scales.append(scale)
            scale *= self.scale_factor
            side *= self.scale_factor
        return scales

    def _propose(self, img: torch.Tensor) -> np.ndarray:
        """Stage 1: (K, 9) candidates ``x1 y1 x2 y2 score dx1 dy1 dx2 dy2`` over the pyramid."""
        h, w = img.shape[-2:]
        found = []
        for scale in self._scales(h, w):
            size = (int(h * scale + 1), int(w * scale + 1))
            level = F.interpolate(img, size=size, mode="area")
            prob, offsets = self.pnet((level - _PIXEL_MEAN) * _PIXEL_SCALE)
            prob, offsets = prob[0].cpu().numpy(), offsets[0].cpu().numpy()
            rows, cols = np.nonzero(prob >= self.thresholds[0])
            if len(rows) == 0:
                continue
            x1 = np.floor((2 * cols + 1) / scale)
            y1 = np.floor((2 * rows + 1) / scale)
            x2 = np.floor((2 * cols + 12) / scale)
            y2 = np.floor((2 * rows + 12) / scale)
            cand = np.column_stack([x1, y1, x2, y2, prob[rows, cols],
                                    offsets[:, rows, cols].T]).astype(np.float64)
            found.append(cand[nms(cand[:, :4], cand[:, 4], 0.5)])
        if not found:
            return np.zeros((0, 9))
        cand = np.concatenate(found)
        cand = cand[nms(cand[:, :4], cand[:, 4], 0.7)]
        boxes = _apply_offsets(cand[:, :4], cand[:, 5:9], plus_one=False)
        return np.column_stack([_square(boxes), cand[:, 4]])

    @staticmethod
    def _crops(img: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
        """(K, 3, size, size) crops of the boxes, zero outside the image, area-resampled."""
        h, w = img.shape[-2:]
        out = []
        for x1, y1, x2, y2 in np.floor(boxes[:, :4]).astype(np.int64):
            bw, bh = x2 - x1 + 1, y2 - y1 + 1
            patch = img.new_zeros((1, 3, bh, bw))
            sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w - 1), min(y2, h - 1)
            if sx2 >= sx1 and sy2 >= sy1:
                patch[:, :, sy1 - y1:sy2 - y1 + 1, sx1 - x1:sx2 - x1 + 1] = \
                    img[:, :, sy1:sy2 + 1, sx1:sx2 + 1]
            out.append(F.interpolate(patch, size=(size, size), mode="area"))
        return (torch.cat(out) - _PIXEL_MEAN) * _PIXEL_SCALE

    @torch.no_grad()
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Find the faces in one image.

        Args:
            image: (H, W, 3) RGB or (H, W) gray, uint8 (0..255) or float (0..1).

        Returns:
            The faces, best score first.
        """
        img = _as_rgb_tensor(image).to(self.device)
        h, w = img.shape[-2:]
        if min(h, w) < 12:
            return []
        boxes = self._propose(img)
        if len(boxes):
            boxes = boxes[np.all(boxes[:, 2:4] > boxes[:, 0:2], axis=1)]
        if len(boxes):
            prob, offsets = self.rnet(self._crops(img, boxes, 24))
            prob, offsets = prob.cpu().numpy(), offsets.cpu().numpy()
            keep = prob > self.thresholds[1]
            boxes = np.column_stack([boxes[keep, :4], prob[keep]])
            offsets = offsets[keep]
            pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
            boxes, offsets = boxes[pick], offsets[pick]
            boxes = np.column_stack([_square(_apply_offsets(boxes[:, :4], offsets, True)),
                                     boxes[:, 4]])
        if not len(boxes):
            return []
        prob, offsets, points = self.onet(self._crops(img, boxes, 48))
        prob, offsets, points = prob.cpu().numpy(), offsets.cpu().numpy(), points.cpu().numpy()
        keep = prob > self.thresholds[2]
        boxes, offsets, points, prob = boxes[keep], offsets[keep], points[keep], prob[keep]
        if not len(boxes):
            return []
        bw = boxes[:, 2] - boxes[:, 0] + 1
        bh = boxes[:, 3] - boxes[:, 1] + 1
        xs = boxes[:, 0:1] + bw[:, None] * points[:, 0:5] - 1
        ys = boxes[:, 1:2] + bh[:, None] * points[:, 5:10] - 1
        marks = np.stack([xs, ys], axis=2)
        final = _apply_offsets(boxes[:, :4], offsets, True)
        pick = nms(final, prob, 0.7, mode="min")
        out = []
        for i in pick:
            x1, y1, x2, y2 = final[i]
            out.append(Detection(box=(float(x1), float(y1), float(x2 - x1), float(y2 - y1)),
                                 score=float(prob[i]), landmarks=marks[i].astype(np.float64)))
        return out


def _as_rgb_tensor(image: np.ndarray) -> torch.Tensor:
    """(1, 3, H, W) float32 on the 0..255 scale from an RGB or gray array."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ConfigError(f"the detector takes (H, W) or (H, W, 3) images, got {arr.shape}")
    x = torch.from_numpy(np.array(arr, dtype=np.float32))  # a copy: inputs may be read-only
    if not np.issubdtype(arr.dtype, np.integer):
        x = x * 255.0
    return x.permute(2, 0, 1).unsqueeze(0).contiguous()


__all__ = ["MTCNN", "Detection", "PNet", "RNet", "ONet", "nms", "box_iou", "WEIGHTS_SHA256"]
