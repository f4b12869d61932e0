"""Cost of the faithfulness metric against the forward passes it needs, and against Quantus.

Measured in one run, on the same model and images:

1. ``faithfulness()`` for one gradient method (``saliency``): maps + deletion + insertion + the
   two random-order curves, ``steps + 1`` points each.
2. The baseline: the same number of plain forward passes, ``4 x (steps + 1) x n``, in the same
   batch sizes (chunks of ``--max-batch``), under ``torch.inference_mode()`` with the model in
   eval mode, on one pre-built batch of the same images. Target: (1) <= 1.15 x (2).
3. Where Quantus is importable: ``quantus.PixelFlipping`` (deletion curve only) with
   ``features_in_step = 2304 / q`` against ``faithfulness(..., curves=("deletion",))`` with
   ``steps = q`` on the same maps (``--quantus-steps``, default 48 so both remove the very same
   pixels at each step; the curves are compared too). Quantus is never a dependency.
   ``--quantus-defaults N`` also times Quantus with its own defaults (one pixel per step) on N
   images against our defaults (``--steps``, four curves, maps included).

Run::

    python bench/explain_quality.py                 # 500 images, 50 steps, compact zoo model
    python bench/explain_quality.py --n 100 --device cuda
"""

from __future__ import annotations

import argparse
import math
import time
from types import SimpleNamespace

import numpy as np
import torch

from emotionkit._allocator import tune_cpu_allocator
from emotionkit.data import synthetic
from emotionkit.explain._model_state import ModelState
from emotionkit.explain.faithfulness_curves import (
    _rewrite_for_inference,
    default_max_batch,
    faithfulness,
)
from emotionkit.runtime import describe_machine, resolve_device


class LocalSaliency:
    """Vanilla input gradient, used only when the built-in ``saliency`` is not registered."""

    name = "saliency(local)"

    def explain(self, model, images, target=None, **options):
        x = images.detach().clone().requires_grad_(True)
        logits = model(x)
        t = logits.argmax(1) if target is None else torch.as_tensor(target, device=x.device)
        (grad,) = torch.autograd.grad(logits.gather(1, t.view(-1, 1)).sum(), x)
        return SimpleNamespace(maps=grad.detach(), targets=t.detach().cpu())


def saliency_method():
    try:
        from emotionkit.explain import get

        return get("saliency")
    except (ImportError, AttributeError, KeyError):
        return LocalSaliency()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rewritten_forwards(model, images, total, max_batch, device) -> float:
    """:func:`plain_forwards` on the BN-folded, NHWC model that the metric itself runs."""
    with ModelState(model) as state:
        _rewrite_for_inference(state, images, True)
        return plain_forwards(model, images, total, max_batch, device)


def plain_forwards(
    model, images: torch.Tensor, total: int, max_batch: int, device: torch.device
) -> float:
    """Time ``total`` forward passes in chunks of ``max_batch`` (the metric's batch sizes).

    The input is one pre-built batch of the same images, tiled, so only the forward passes
    are timed.
    """
    reps = math.ceil(min(max_batch, total) / images.shape[0])
    buffer = images.repeat(reps, 1, 1, 1)[: min(max_batch, total)].contiguous().to(device)
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, total, max_batch):
            model(buffer[: min(max_batch, total - first)])
    sync(device)
    return time.perf_counter() - start


def run_quantus(model, images, maps, targets, steps: int | None, device: torch.device):
    """Quantus PixelFlipping on the same model, images and maps; returns (seconds, curves).

    ``steps=None`` uses Quantus' own defaults (one pixel per step, "black" baseline).
    """
    import quantus

    pixels = images.shape[-1] * images.shape[-2]
    settings = {"disable_warnings": True, "display_progressbar": False}
    if steps is not None:
        # our "zeros" baseline; Quantus' "black" is each image's minimum
        settings.update(features_in_step=pixels // steps, perturb_baseline=0.0)
    metric = quantus.PixelFlipping(**settings)
    x = images.cpu().numpy()
    a = maps.abs().sum(1, keepdim=True).cpu().numpy()  # the same ranking as ours (|map|)
    y = targets.cpu().numpy()
    start = time.perf_counter()
    curves = metric(
        model=model, x_batch=x, y_batch=y, a_batch=a, device=str(device), channel_first=True
    )
    sync(device)
    return time.perf_counter() - start, np.asarray(curves, dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="images (default 500)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--max-batch", type=int, default=None,
                        help="forward chunk (default: the metric's own, 128 on CPU)")
    parser.add_argument("--model", default="compact", help="zoo model name")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1, help="best of R timings of each")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "auto", "bf16", "fp16"],
                        help="precision of our curve forwards (the plain forwards stay fp32)")
    parser.add_argument("--quantus-n", type=int, default=None, help="images for Quantus (def. n)")
    parser.add_argument("--quantus-steps", type=int, default=48)
    parser.add_argument("--no-quantus", action="store_true")
    parser.add_argument(
        "--quantus-defaults",
        type=int,
        default=0,
        metavar="N",
        help="also time Quantus with its default one pixel per step on N images, against our "
        "defaults (4 curves, --steps) on the same images",
    )
    args = parser.parse_args()

    tune_cpu_allocator()  # as the emotionkit command does (EMOTIONKIT_MALLOC=default: off)

    print(describe_machine())
    device = resolve_device(args.device)
    if args.max_batch is None:
        args.max_batch = default_max_batch(device)
    from emotionkit.models import ModelZoo

    model = ModelZoo.create(args.model, seed=0).to(device).eval()
    # half of each class in PublicTest: exactly ceil(n / 7) test faces per class, >= n in all
    data = synthetic(2 * math.ceil(args.n / 7), seed=0, test_fraction=0.5).split("PublicTest")
    images = data.subset(slice(0, args.n)).to_tensor(device)[0]
    method = saliency_method()
    total = 4 * (args.steps + 1) * args.n
    print(
        f"model={args.model} device={device} n={args.n} steps={args.steps} "
        f"max_batch={args.max_batch} method={getattr(method, 'name', method)} "
        f"precision={args.precision} "
        f"forwards={total} ({math.ceil(total / args.max_batch)} batches)"
    )
    with torch.inference_mode():  # warm-up
        model(images[: min(64, args.n)])

    metric_times, curve_times, forward_times, rewritten_times = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        forward_times.append(plain_forwards(model, images, total, args.max_batch, device))
        rewritten_times.append(
            rewritten_forwards(model, images, total, args.max_batch, device))
        start = time.perf_counter()
        result = faithfulness(
            model, method, images, steps=args.steps, max_batch=args.max_batch, seed=0,
            precision=args.precision,
        )
        sync(device)
        metric_times.append(time.perf_counter() - start)
        curve_times.append(result.seconds["curves"])
        assert result.n_forward == total, (result.n_forward, total, images.shape)
    t_metric, t_fwd = min(metric_times), min(forward_times)
    print(f"plain forwards ({total}):         {t_fwd:8.2f} s")
    t_curves = min(curve_times)
    print(f"faithfulness (maps + 4 curves):  {t_metric:8.2f} s  (curves only {t_curves:.2f} s)")
    print(f"ratio faithfulness / forwards:   {t_metric / t_fwd:8.3f}  (target <= 1.15)")
    t_rw = min(rewritten_times)
    print(f"the same forwards, BN folded + NHWC as the metric runs them: {t_rw:8.2f} s; "
          f"ratio faithfulness / those: {t_metric / t_rw:.3f} (the metric's own overhead)")
    print(f"model rewrites used: {', '.join(result.model_rewrites) or 'none'}")
    s = result.summary()
    print(
        f"deletion AUC {s['deletion_auc']:.4f} (random {s['random_deletion_auc']:.4f}), "
        f"insertion AUC {s['insertion_auc']:.4f} (random {s['random_insertion_auc']:.4f})"
    )

    if args.no_quantus:
        return
    try:
        import quantus  # noqa: F401
    except ImportError as exc:
        print(f"Quantus: not installed ({exc}); no comparison")
        return
    nq = args.quantus_n or args.n
    q = args.quantus_steps
    x_q = images[:nq]
    maps = LocalSaliency().explain(model, x_q)
    targets = maps.targets
    try:
        t_quantus, q_curves = run_quantus(model, x_q, maps.maps, targets, q, device)
    except Exception as exc:  # report how it fails, never break the benchmark
        print(f"Quantus: PixelFlipping failed: {type(exc).__name__}: {exc}")
        return
    start = time.perf_counter()
    ours = faithfulness(
        model,
        None,
        x_q,
        maps=maps.maps,
        target=targets,
        steps=q,
        curves=("deletion",),
        max_batch=args.max_batch,
        precision=args.precision,
    )
    sync(device)
    t_ours = time.perf_counter() - start
    diff = np.abs(ours.curves["deletion"][:, 1:] - q_curves).max()
    print(
        f"Quantus {quantus.__version__} PixelFlipping, {nq} images, {q} steps of "
        f"{2304 // q} pixels, deletion only: {t_quantus:.2f} s; ours, same curve: {t_ours:.2f} s"
    )
    print(f"ratio Quantus / ours:            {t_quantus / t_ours:8.2f}  (target >= 10)")
    print(f"max |our curve - Quantus curve|: {diff:.2e} (same pixels removed at each step)")

    if args.quantus_defaults:
        nd = args.quantus_defaults
        t_qd, _ = run_quantus(model, x_q[:nd], maps.maps[:nd], targets[:nd], None, device)
        start = time.perf_counter()
        faithfulness(model, method, x_q[:nd], steps=args.steps, max_batch=args.max_batch)
        sync(device)
        t_od = time.perf_counter() - start
        print(
            f"defaults, {nd} images: Quantus PixelFlipping (1 pixel/step, deletion only) "
            f"{t_qd:.2f} s; ours ({args.steps} steps, 4 curves, maps included) {t_od:.2f} s"
        )
        print(f"ratio Quantus / ours (defaults): {t_qd / t_od:8.2f}")


if __name__ == "__main__":
    main()
