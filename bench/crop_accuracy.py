"""Does the photo path see faces the way the model was trained? Direct vs detect+crop accuracy.

Each PublicTest face (48x48) is scored three ways with the same model and flip TTA:

1. **direct**: the 48x48 face itself (what the reported PublicTest accuracy measures);
2. **detect + align**: the face enlarged 4x (bicubic) on a flat canvas three times its size, as a
   face in a photo; MTCNN finds it and :func:`emotionkit.faces.align_face` cuts it out with the
   FER2013 framing (landmark fit), exactly what ``emotionkit predict`` does with a photo;
3. **detect + plain box crop**: the same detection, cut as the detector's square box plus a 10 %
   margin and resized (the framing most scripts use), for comparison.

Faces the detector misses count as wrong in the "all" columns and are left out of the "found"
ones. The calibration of the framing (``scripts/calibrate_face_crop.py``) used Training faces
only.

Run::

    python bench/crop_accuracy.py ../shared/data/fer2013.csv.gz            # all 3589 faces
    python bench/crop_accuracy.py ../shared/data/fer2013.csv.gz --n 500
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


def box_crop(photo: np.ndarray, box, margin: float = 0.1) -> np.ndarray:
    """The detector's box, made square and grown by ``margin``, resized to 48x48 (uint8)."""
    from skimage.transform import resize

    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    pad = s
    padded = np.pad(photo, pad, mode="edge")
    region = padded[y0 + pad:y0 + pad + s, x0 + pad:x0 + pad + s].astype(np.float64) / 255.0
    out = resize(region, (48, 48), order=1, anti_aliasing=True)
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def main() -> None:
    from calibrate_face_crop import UPSCALE, best_match, embed
    from tqdm.auto import tqdm

    import emotionkit as ek
    from emotionkit._allocator import tune_cpu_allocator
    from emotionkit.faces import align_face, get_detector
    from emotionkit.runtime import describe_machine

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--n", type=int, default=None, help="first N PublicTest faces [all]")
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", dest="json_out", default=None, help="also write the numbers here")
    args = ap.parse_args()
    tune_cpu_allocator()
    print(describe_machine())
    test = ek.Dataset.load(args.data).split("PublicTest")
    n = len(test) if args.n is None else min(args.n, len(test))
    faces, labels = test.images[:n], np.asarray(test.labels[:n])
    predictor = ek.Predictor(args.model, tta="flip", device="cpu")
    detector = get_detector("mtcnn")

    t0 = time.perf_counter()
    direct = predictor.classify(faces).argmax(1)
    t_direct = time.perf_counter() - t0
    aligned = np.zeros_like(faces)
    boxed = np.zeros_like(faces)
    found = np.zeros(n, dtype=bool)
    t0 = time.perf_counter()
    for i in tqdm(range(n), desc="detect+crop", unit="face"):
        photo = embed(faces[i])
        det = best_match(detector.detect(photo), 48 * UPSCALE)
        if det is None:
            continue
        found[i] = True
        aligned[i] = align_face(photo, det.box, det.landmarks)
        boxed[i] = box_crop(photo, det.box)
    t_detect = time.perf_counter() - t0
    pred_aligned = predictor.classify(aligned).argmax(1)
    pred_boxed = predictor.classify(boxed).argmax(1)

    def acc(pred, mask=None):
        ok = (pred == labels) & (found if mask is None else mask)
        return float(ok.sum() / (found.sum() if mask is None else mask.sum()))

    everyone = np.ones(n, dtype=bool)
    res = {
        "n": n, "found": int(found.sum()), "found_rate": float(found.mean()),
        "direct_all": float((direct == labels).mean()),
        "direct_on_found": float(((direct == labels) & found).sum() / max(found.sum(), 1)),
        "aligned_all": float(((pred_aligned == labels) & found).mean()),
        "aligned_on_found": acc(pred_aligned),
        "boxcrop_all": float(((pred_boxed == labels) & found).mean()),
        "boxcrop_on_found": acc(pred_boxed),
        "seconds_direct": round(t_direct, 1), "seconds_detect_crop": round(t_detect, 1),
    }
    del everyone
    print(f"\nPublicTest faces: {n}; MTCNN found {res['found']} ({res['found_rate']:.1%})")
    print(f"{'path':34s} {'all faces':>10s} {'found only':>11s}")
    print(f"{'direct 48x48 (reported accuracy)':34s} {res['direct_all']:10.4f} "
          f"{res['direct_on_found']:11.4f}")
    print(f"{'detect + FER-framing align':34s} {res['aligned_all']:10.4f} "
          f"{res['aligned_on_found']:11.4f}")
    print(f"{'detect + box crop, 10% margin':34s} {res['boxcrop_all']:10.4f} "
          f"{res['boxcrop_on_found']:11.4f}")
    print(f"align vs direct on found faces: {res['aligned_on_found'] - res['direct_on_found']:+.4f}"
          f"; box crop vs direct: {res['boxcrop_on_found'] - res['direct_on_found']:+.4f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
