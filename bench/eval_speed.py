"""Evaluation throughput: the batched :class:`~emotionkit.evaluation.Evaluator` against a naive
per-image loop, on the same model and images, in one run.

1. ``Evaluator(model).evaluate(data)`` (uint8 chunks of ``--batch-size`` moved to the device and
   converted there, one forward pass per chunk under ``torch.inference_mode``, metrics included),
   for each TTA mode asked for.
2. The baseline: for each image, build a (1, 1, 48, 48) float tensor, run the model in eval mode
   under ``torch.no_grad``, softmax, and read the class with ``.item()`` -- what a first script
   usually does. Timed on the first ``--naive-n`` images (a rate, so a subset is enough).

The model is the ``compact`` zoo model (random weights: speed does not depend on them) on
``--n`` synthetic faces (3,589 = the size of FER2013's PublicTest). Prints images/s and the ratio.

Run::

    python bench/eval_speed.py                       # CPU, 3,589 images, naive loop on 1,000
    python bench/eval_speed.py --n 1024 --naive-n 256 --repeats 1   # quick
    python bench/eval_speed.py --device cuda --tta none flip tencrop
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from emotionkit._allocator import tune_cpu_allocator
from emotionkit.data import Dataset, synthetic
from emotionkit.evaluation import Evaluator
from emotionkit.runtime import describe_machine, resolve_device


def build_model(name: str) -> torch.nn.Module:
    """The zoo model, or a small local conv net when the zoo is not available."""
    try:
        from emotionkit.models import ModelZoo

        return ModelZoo.create(name, seed=0)
    except Exception as exc:  # noqa: BLE001 - the bench must run without the zoo
        print(f"(zoo model {name!r} unavailable: {exc}; using a local conv net)")
        return torch.nn.Sequential(
            torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(64, 128, 3, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(128, 7))


def make_data(n: int) -> Dataset:
    """``n`` synthetic labeled faces (the built-in set, repeated as needed)."""
    base = synthetic(max(1, -(-n // 7)), seed=0)
    idx = np.arange(n) % len(base)
    return Dataset(base.images[idx], base.labels[idx], "PublicTest", source=f"synthetic x{n}")


def naive_loop(model: torch.nn.Module, images: np.ndarray, device: torch.device) -> float:
    """Seconds for the per-image loop over ``images``."""
    model.eval()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    preds = []
    with torch.no_grad():
        for img in images:
            x = torch.from_numpy(img).float().div(255.0)[None, None].to(device)
            p = torch.softmax(model(x), dim=1)
            preds.append(int(p.argmax(dim=1).item()))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="compact")
    parser.add_argument("--n", type=int, default=3589, help="images for the Evaluator")
    parser.add_argument("--naive-n", type=int, default=1000, help="images for the naive loop")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tta", nargs="+", default=["none", "flip"],
                        choices=["none", "flip", "tencrop"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()

    tune_cpu_allocator()  # as the emotionkit command does (EMOTIONKIT_MALLOC=default: off)

    print(describe_machine())
    device = resolve_device(args.device)
    model = build_model(args.model)
    params = sum(p.numel() for p in model.parameters())
    data = make_data(args.n)
    print(f"model {args.model} ({params:,} parameters), {len(data)} images, device {device}, "
          f"batch {args.batch_size}")
    rates = {}
    for channels_last in (False, True):
        ev = Evaluator(model, device=device, batch_size=args.batch_size, progress=False,
                       precision=args.precision, channels_last=channels_last)
        ev.predict_proba(data.images[: args.batch_size])  # warm-up (allocator, kernels)
        for mode in args.tta if channels_last else args.tta[:1]:
            best = min(ev.evaluate(data, tta=mode).seconds for _ in range(args.repeats))
            rates[mode, channels_last] = len(data) / best
            print(f"Evaluator tta={mode:<8} channels_last={channels_last!s:<5} "
                  f"{len(data) / best:>10,.0f} images/s  ({best:.3f} s)")
    model = model.to(memory_format=torch.contiguous_format)

    naive_images = data.images[: args.naive_n]
    naive_loop(model, naive_images[:20], device)  # warm-up
    naive_s = naive_loop(model, naive_images, device)
    naive_rate = len(naive_images) / naive_s
    print(f"naive per-image loop (fp32, NCHW)            {naive_rate:>10,.0f} images/s  "
          f"({naive_s:.3f} s for {len(naive_images)} images)")
    first = args.tta[0]
    print(f"ratio Evaluator(tta={first}, defaults) / naive loop: "
          f"{rates[first, True] / naive_rate:.1f}x "
          f"(without channels_last: {rates[first, False] / naive_rate:.1f}x)")


if __name__ == "__main__":
    main()
