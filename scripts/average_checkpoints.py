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
    args = ap.parse_args()

    models, epochs = [], []
    for path in args.snapshots:
        _, meta = read_checkpoint(path, kinds=("resume",))
        epochs.append(int(meta["resume"]["epoch"]))
        models.append(ek.load(path))
    order = sorted(range(len(models)), key=lambda i: epochs[i])
    models, epochs = [models[i] for i in order], [epochs[i] for i in order]
    average = ek.load(args.snapshots[order[0]])
    with torch.no_grad():
        states = [m.state_dict() for m in models]
        for key, value in average.state_dict().items():
            if value.is_floating_point() and "running_" not in key:
                value.copy_(torch.stack([s[key] for s in states]).mean(0))
    data = ek.Dataset.load(args.data)
    train_x = data.split("Training").to_tensor("cpu")[0]
    t0 = time.perf_counter()
    recompute_batchnorm(average, train_x)
    t_bn = time.perf_counter() - t0
    best = ek.load(args.run / "model.safetensors")
    result = {"epochs_averaged": epochs, "bn_recompute_seconds": round(t_bn, 1)}
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
            "method": "average of the weights after epochs "
                      f"{', '.join(map(str, epochs))}; BatchNorm statistics recomputed on Training",
            "command": "python scripts/average_checkpoints.py " + " ".join(
                [str(args.run), *map(str, args.snapshots), "--data", args.data]),
            **result,
        }
        (args.out / "run.json").write_text(json.dumps(run, indent=2))
        history = best.emotionkit_meta.get("history")
        ek.save(average, args.out / "model.safetensors", history=history,
                train_args=best.emotionkit_meta.get("train_args") or {})


if __name__ == "__main__":
    main()
