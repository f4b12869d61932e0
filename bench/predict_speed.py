"""Predict speed on the CPU: face detection and classification timed apart, in one run.

- **single-face latency**: ``emotionkit.predict`` on the bundled astronaut photo (512x512, one
  face): detector, crop+classify, and the whole call;
- **detector**: MTCNN and LBP on each bundled photo, per image;
- **classifier throughput**: faces per second for batches of 1..256 pre-cut 48x48 faces, with and
  without flip TTA; the baseline is the same model called one face at a time (what a first
  script's loop does), so the printed ratio is what batching buys;
- ``fer`` (TensorFlow) is timed on the same photo when it is importable; it is not installed
  by emotionkit.

Run::

    python bench/predict_speed.py              # shipped model, 2 threads, best of 5
    python bench/predict_speed.py --repeats 10 --threads 1
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch


def best_of(fn, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    from skimage import data

    import emotionkit as ek
    from emotionkit._allocator import tune_cpu_allocator
    from emotionkit.faces import get_detector
    from emotionkit.runtime import describe_machine

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--model", default=None, help="model spec (default: best shipped)")
    args = ap.parse_args()
    tune_cpu_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(describe_machine())
    photos = {name: getattr(data, name)() for name in ("astronaut", "camera", "coffee",
                                                        "chelsea", "rocket")}
    predictor = ek.Predictor(args.model, device="cpu")
    astronaut = photos["astronaut"]
    predictor.predict(astronaut)  # warm-up (weights, allocator)

    print("\n## single face (astronaut, 512x512)")
    mtcnn = get_detector("mtcnn")
    t_det = best_of(lambda: mtcnn.detect(astronaut), args.repeats)
    face = mtcnn.detect(astronaut)[0]
    from emotionkit.faces import align_face

    t_crop = best_of(lambda: align_face(astronaut, face.box, face.landmarks), args.repeats)
    crop = align_face(astronaut, face.box, face.landmarks)[None]
    t_cls = best_of(lambda: predictor.classify(crop), args.repeats)
    t_all = best_of(lambda: predictor.predict(astronaut), args.repeats)
    print(f"MTCNN detect    {t_det * 1e3:8.1f} ms")
    print(f"align (crop)    {t_crop * 1e3:8.1f} ms")
    print(f"classify (flip) {t_cls * 1e3:8.1f} ms")
    print(f"predict() total {t_all * 1e3:8.1f} ms")

    print("\n## detectors per photo (ms; faces found)")
    lbp = get_detector("lbp")
    for name, img in photos.items():
        tm = best_of(lambda img=img: mtcnn.detect(img), args.repeats)
        tl = best_of(lambda img=img: lbp.detect(img), args.repeats)
        print(f"{name:10s} {img.shape[1]}x{img.shape[0]}  MTCNN {tm * 1e3:7.1f} "
              f"({len(mtcnn.detect(img))})  LBP {tl * 1e3:7.1f} ({len(lbp.detect(img))})  "
              f"MTCNN/LBP time {tm / tl:5.1f}x")

    print("\n## classifier throughput (faces/s) vs one face per call")
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (256, 48, 48), dtype=np.uint8)
    model = predictor.model
    for tta in ("none", "flip"):
        predictor.tta = tta

        def one_by_one(n=64):
            for i in range(n):
                predictor.classify(faces[i:i + 1])

        base = best_of(one_by_one, max(1, args.repeats // 2)) / 64
        for batch in (1, 16, 64, 256):
            t = best_of(lambda b=batch: predictor.classify(faces[:b]), args.repeats) / batch
            print(f"tta={tta:4s} batch {batch:3d}: {1 / t:8.0f} faces/s  ({base / t:5.1f}x the "
                  f"one-at-a-time loop, {1 / base:6.0f} faces/s)")
    predictor.tta = "flip"
    del model

    try:
        from fer import FER  # type: ignore[import-not-found]
    except Exception:
        print("\nfer: not importable here (it needs TensorFlow); no comparison in this run")
    else:
        detector = FER(mtcnn=False)
        bgr = astronaut[..., ::-1].copy()
        t_fer = best_of(lambda: detector.detect_emotions(bgr), args.repeats)
        print(f"\nfer.detect_emotions on the astronaut: {t_fer * 1e3:.1f} ms "
              f"(emotionkit predict/fer: {t_all / t_fer:.2f}x)")


if __name__ == "__main__":
    main()
