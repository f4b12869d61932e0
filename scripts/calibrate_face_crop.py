"""Measure where FER2013 frames a face, for ``emotionkit/faces/align.py`` (run once).

Each sampled Training face (48x48) is enlarged 4x (bicubic) and set in the middle of a canvas
three times its size, filled with the face's mean border value, like a face in a photo. The MTCNN
and LBP detectors run on it; for the detection that overlaps the face's frame most, the landmarks
and the box are mapped back to 48x48 frame coordinates. The medians over all faces are printed as
the constants of ``align.py``. Only the Training split is used.

Usage::

    python scripts/calibrate_face_crop.py ../shared/data/fer2013.csv.gz --n 600
"""

from __future__ import annotations

import argparse
import json

import numpy as np

UPSCALE, PAD = 4, 96


def embed(face: np.ndarray) -> np.ndarray:
    """The face enlarged 4x and centred on a flat canvas (uint8 gray)."""
    from skimage.transform import rescale

    big = rescale(face.astype(np.float64) / 255.0, UPSCALE, order=3, anti_aliasing=False)
    border = np.concatenate([face[0], face[-1], face[:, 0], face[:, -1]]).mean() / 255.0
    canvas = np.full((big.shape[0] + 2 * PAD, big.shape[1] + 2 * PAD), border)
    canvas[PAD:PAD + big.shape[0], PAD:PAD + big.shape[1]] = np.clip(big, 0, 1)
    return np.round(canvas * 255).astype(np.uint8)


def to_frame(xy: np.ndarray) -> np.ndarray:
    return (np.asarray(xy, dtype=np.float64) - PAD + 0.5) / UPSCALE - 0.5


def best_match(dets, side: float):
    """The detection with the largest overlap with the face frame, or None."""
    from emotionkit.faces.mtcnn import box_iou

    if not dets:
        return None
    frame = np.array([[PAD, PAD, PAD + side - 1, PAD + side - 1]], dtype=np.float64)
    boxes = np.array([[d.box[0], d.box[1], d.box[0] + d.box[2], d.box[1] + d.box[3]]
                      for d in dets])
    iou = box_iou(boxes, frame)[:, 0]
    i = int(np.argmax(iou))
    return dets[i] if iou[i] > 0.2 else None


def box_in_frame(box) -> list[float]:
    x, y, w, h = box
    cx, cy = to_frame([x + w / 2, y + h / 2])
    return [float(cx), float(cy), w / UPSCALE, h / UPSCALE]


def main() -> None:
    import emotionkit as ek
    from emotionkit.faces import get_detector

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    train = ek.Dataset.load(args.data).split("Training")
    idx = np.random.default_rng(args.seed).choice(len(train), args.n, replace=False)
    mtcnn, lbp = get_detector("mtcnn"), get_detector("lbp")
    marks, mboxes, lboxes = [], [], []
    for i in idx:
        photo = embed(train.images[i])
        d = best_match(mtcnn.detect(photo), 48 * UPSCALE)
        if d is not None:
            marks.append(to_frame(d.landmarks))
            mboxes.append(box_in_frame(d.box))
        d = best_match(lbp.detect(photo), 48 * UPSCALE)
        if d is not None:
            lboxes.append(box_in_frame(d.box))
    out = {
        "n": int(args.n), "mtcnn_found": len(marks), "lbp_found": len(lboxes),
        "FER_LANDMARKS": np.round(np.median(np.stack(marks), axis=0), 2).tolist(),
        "FER_MTCNN_BOX": np.round(np.median(np.array(mboxes), axis=0), 2).tolist(),
        "FER_LBP_BOX": np.round(np.median(np.array(lboxes), axis=0), 2).tolist()
        if lboxes else None,
        "landmark_spread_px": np.round(np.std(np.stack(marks), axis=0), 2).tolist(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
