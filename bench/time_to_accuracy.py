"""Wall time and epochs to reach 0.60 / 0.65 / 0.70 PublicTest: the shipped recipe vs a plain loop.

Both runs use the same data (Training for training, PublicTest for the accuracy after each
epoch), the same model architecture and seed, on this machine, one after the other:

1. **recipe**: ``Trainer(ModelZoo.create(name))``: the model's zoo recipe (the one the shipped
   weights were trained with: optimizer, one-cycle schedule, augmentation, label smoothing) and
   the Trainer's automatic precision and memory format, for the recipe's epochs (or
   ``--epochs``).
2. **baseline**: the plain loop most PyTorch code has: fp32, NCHW, Adam at 1e-3, no schedule,
   no augmentation, batch 128, for the same number of epochs.

The clock includes training and the per-epoch PublicTest pass (the same fp32 evaluation for
both), not data loading. Printed: per target, the epoch and wall time at which each run first
reached it, and the baseline/recipe time ratio where both did. A target that a run never
reached is printed as such; a short ``--epochs`` makes the recipe's schedule shorter too.

Run::

    python bench/time_to_accuracy.py --data ../shared/data/fer2013.csv.gz            # compact
    python bench/time_to_accuracy.py --data fer2013.csv.gz --model vgg-fer --device cuda
    python bench/time_to_accuracy.py --data synthetic:1400 --epochs 3 --targets 0.3,0.5  # smoke
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from emotionkit._allocator import tune_cpu_allocator
from emotionkit.data import Dataset
from emotionkit.data.normalize import compute_stats
from emotionkit.evaluation import Evaluator
from emotionkit.models import ModelZoo
from emotionkit.runtime import describe_machine, resolve_device
from emotionkit.training import Callback, Trainer


class Clock(Callback):
    """Wall time and validation accuracy after every epoch (the clock started at train begin)."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.points: list[tuple[int, float, float]] = []

    def on_train_begin(self, trainer, **kwargs) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, record, **kwargs) -> None:
        self.points.append((epoch, time.perf_counter() - self.t0, float(record["val_acc"])))


def recipe_run(name: str, train, val, epochs: int | None, device: torch.device,
               seed: int) -> tuple[list[tuple[int, float, float]], dict]:
    clock = Clock()
    trainer = Trainer(ModelZoo.create(name, seed=seed), epochs=epochs, device=device,
                      seed=seed, quiet=True, callbacks=[clock], restore_best=False)
    trainer.fit(train, val)
    return clock.points, trainer.options


def baseline_run(name: str, train, val, epochs: int, device: torch.device, seed: int,
                 batch: int = 128) -> list[tuple[int, float, float]]:
    torch.manual_seed(seed)
    model = ModelZoo.create(name, seed=seed).to(device)
    mean, std = compute_stats(train, split=None)  # the statistics the Trainer sets
    if hasattr(model, "input_norm"):
        model.input_norm.set_stats(mean, std)
    x = torch.from_numpy(train.images).float().div_(255).unsqueeze(1).to(device)
    y = torch.from_numpy(train.labels).long().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    evaluator = Evaluator(model, device=device, progress=False)
    g = torch.Generator().manual_seed(seed)
    points, t0 = [], time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in torch.randperm(len(y), generator=g).split(batch):
            idx = idx.to(device)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        acc = evaluator.evaluate(val).accuracy
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        points.append((epoch, time.perf_counter() - t0, float(acc)))
    return points


def first_reaching(points: list[tuple[int, float, float]], target: float):
    return next(((e, t) for e, t, a in points if a >= target), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="FER2013 CSV (Training + PublicTest), or "
                    "synthetic:N for a smoke run")
    ap.add_argument("--model", default="compact")
    ap.add_argument("--epochs", type=int, default=None, help="[the model's recipe]")
    ap.add_argument("--targets", default="0.60,0.65,0.70")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="Also write the results here")
    args = ap.parse_args()
    tune_cpu_allocator()
    device = resolve_device(args.device)
    print(describe_machine())
    data = Dataset.load(args.data)
    train = data.split("Training")
    val = data.split("PublicTest") if "PublicTest" in data.split_names else \
        train.stratified_split(0.1, seed=args.seed)[1]
    targets = [float(t) for t in args.targets.split(",")]
    recipe_points, options = recipe_run(args.model, train, val, args.epochs, device, args.seed)
    epochs = len(recipe_points)
    print(f"recipe: {options['optimizer']} lr {options['lr']} {options['scheduler']}, "
          f"augment {'on' if options['augment'] else 'off'}, precision {options['precision']}, "
          f"channels_last {options['channels_last']}, {epochs} epochs")
    base_points = baseline_run(args.model, train, val, epochs, device, args.seed)
    print(f"{'target':>7} | {'recipe epoch':>12} {'recipe s':>9} | {'baseline epoch':>14} "
          f"{'baseline s':>10} | baseline/recipe time")
    rows = []
    for target in targets:
        r, b = first_reaching(recipe_points, target), first_reaching(base_points, target)
        ratio = b[1] / r[1] if r and b else None
        rows.append({"target": target, "recipe": r, "baseline": b, "ratio": ratio})
        print(f"{target:7.2f} | {r[0] if r else 'never':>12} {f'{r[1]:.0f}' if r else '-':>9} | "
              f"{b[0] if b else 'never':>14} {f'{b[1]:.0f}' if b else '-':>10} | "
              f"{f'{ratio:.2f}x' if ratio else '-'}")
    best_r = max(a for _, _, a in recipe_points)
    best_b = max(a for _, _, a in base_points)
    print(f"best PublicTest accuracy: recipe {best_r:.4f}, baseline {best_b:.4f}; total wall "
          f"{recipe_points[-1][1]:.0f} s vs {base_points[-1][1]:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": describe_machine(), "model": args.model, "epochs": epochs,
                       "options": options, "recipe": recipe_points, "baseline": base_points,
                       "targets": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
