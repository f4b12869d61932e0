"""Average the weights of the last epochs of a run (stochastic weight averaging, done afterwards).

Usage::

    python scripts/average_checkpoints.py runs/compact-e36 snapshots/epoch-3[3-6].safetensors \\
        --data ../shared/data/fer2013.csv.gz --out runs/compact-e36-swa

The snapshots are the run's ``last.safetensors`` copied after each epoch (resume states; nothing
is unpickled). Their trainable weights are averaged; BatchNorm running statistics are then
recomputed from the Training split (no augmentation, cumulative averages), because an average
of weights needs its own statistics. PublicTest accuracy of the average and of the run's own
``model.safetensors`` (the best epoch) are printed; ``--out`` receives a run directory (the
original ``run.json`` with a ``post_processing`` record, and ``model.safetensors``) that
``scripts/package_pretrained.py`` can package.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> None:
    """Reset every BatchNorm's running statistics and re-estimate them on ``images``."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = {m: m.momentum for m in norms}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    model.train()
    for start in range(0, len(images), batch_size):
        model(images[start:start + batch_size])
    for m, momentum in saved.items():
        m.momentum = momentum
    model.eval()


def main() -> None:
    import emotionkit as ek
    from emotionkit._checkpoint import read_checkpoint
    from emotionkit.evaluation import Evaluator

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("snapshots", type=Path, nargs="+")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--weights", type=float, nargs="+", default=None,
                    help="One weight per snapshot (default: equal); normalized to sum 1.")
    ap.add_argument("--bn-images", type=int, default=None,
                    help="Recompute BatchNorm statistics on the first N Training images only "
                         "(a quick screen; default: all of Training).")
    args = ap.parse_args()
    if args.weights is not None and len(args.weights) != len(args.snapshots):
        ap.error(f"--weights: {len(args.weights)} weights for {len(args.snapshots)} snapshots")

    models, epochs = [], []
    for path in args.snapshots:
        _, meta = read_checkpoint(path, kinds=("resume", "model"))
        # a model file (e.g. an earlier average) counts as epoch 0 of this run
        epochs.append(int(meta["resume"]["epoch"]) if meta.get("kind") == "resume" else 0)
        models.append(ek.load(path))
    weights = torch.tensor(args.weights or [1.0] * len(models), dtype=torch.float64)
    if (weights < 0).any() or weights.sum() <= 0:
        ap.error("--weights must be non-negative with a positive sum")
    weights = weights / weights.sum()
    order = sorted(range(len(models)), key=lambda i: epochs[i])
    models, epochs = [models[i] for i in order], [epochs[i] for i in order]
    weights = weights[order]
    average = ek.load(args.snapshots[order[0]])
    with torch.no_grad():
        states = [m.state_dict() for m in models]
        for key, value in average.state_dict().items():
            if value.is_floating_point() and "running_" not in key:
                stacked = torch.stack([s[key].double() for s in states])
                mixed = (weights.view(-1, *[1] * value.dim()) * stacked).sum(0)
                value.copy_(mixed.to(value.dtype))
    data = ek.Dataset.load(args.data)
    train_x = data.split("Training").to_tensor("cpu")[0]
    if args.bn_images:
        train_x = train_x[: args.bn_images]
    t0 = time.perf_counter()
    recompute_batchnorm(average, train_x)
    t_bn = time.perf_counter() - t0
    best = ek.load(args.run / "model.safetensors")
    result = {"epochs_averaged": epochs, "weights": [round(float(w), 4) for w in weights],
              "bn_images": len(train_x), "bn_recompute_seconds": round(t_bn, 1)}
    for label, model in (("best_epoch", best), ("average", average)):
        ev = Evaluator(model, device="cpu", precision="fp32")
        for tta in ("none", "flip"):
            acc = float(ev.evaluate(data, split="PublicTest", tta=tta).accuracy)
            result[f"{label}_{tta}"] = round(acc, 4)
            print(f"{label:10s} tta={tta:4s} PublicTest {acc:.4f}")
    print(json.dumps(result))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        run = json.loads((args.run / "run.json").read_text())
        run["post_processing"] = {
            "method": ("weighted " if args.weights else "") + "average of the weights after "
                      f"epochs {', '.join(map(str, epochs))} (0 = a model file given, e.g. the "
                      "starting weights); BatchNorm statistics recomputed on Training",
            "command": "python scripts/average_checkpoints.py " + " ".join(
                [str(args.run), *map(str, args.snapshots), "--data", args.data]
                + (["--weights", *map(str, args.weights)] if args.weights else [])
                + (["--bn-images", str(args.bn_images)] if args.bn_images else [])),
            **result,
        }
        (args.out / "run.json").write_text(json.dumps(run, indent=2))
        history = best.emotionkit_meta.get("history")
        ek.save(average, args.out / "model.safetensors", history=history,
                train_args=best.emotionkit_meta.get("train_args") or {})


if __name__ == "__main__":
    main()
