"""Training throughput of the emotionkit Trainer against a plain fp32 NCHW PyTorch loop.

Measured in one run, on the same synthetic data, model, batch size and optimizer (Adam):

1. **baseline**: the plain loop most PyTorch code has: the whole dataset as one float32 NCHW
   tensor, ``x[idx]`` batches, forward, cross-entropy, ``zero_grad``, backward, ``step``.
2. **variants** of that loop (fp32 + channels_last, bf16 autocast, bf16 + channels_last), so the
   Trainer's automatic choices can be checked against this machine.
3. **Trainer**: ``Trainer(model).fit(...)`` with its automatic precision and memory format
   (uint8 data on the device, index batches, NaN checks, metrics, no augmentation, no
   validation), timed between batch callbacks.

The Trainer runs one short epoch per round and, from a callback between its epochs, every
plain-loop variant runs the same number of batches, so a busy machine disturbs all of them
alike; warm-up rounds are excluded. Reported: the median over rounds of the per-round ratio to
the baseline (robust to load changes between rounds), and the best and mean images/s.
Target: Trainer / baseline >= 1.3 for
``compact`` on CPU.

Run::

    python bench/train_throughput.py                       # compact and vgg-fer, CPU or GPU
    python bench/train_throughput.py --models compact --steps 40 --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch
import torch.nn.functional as F

from emotionkit._allocator import tune_cpu_allocator
from emotionkit.models import ModelZoo
from emotionkit.runtime import describe_machine, resolve_device
from emotionkit.training import Callback, Trainer

VARIANTS = {  # name -> (precision, channels_last)
    "fp32 NCHW (baseline)": ("fp32", False),
    "fp32 channels_last": ("fp32", True),
    "bf16 NCHW": ("bf16", False),
    "bf16 channels_last": ("bf16", True),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_data(n: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, 48, 48), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 7, (n,), generator=g)
    return x, y


class PlainLoop:
    """A plain PyTorch training loop, run a few steps at a time."""

    def __init__(self, name: str, x_u8: torch.Tensor, y: torch.Tensor, device: torch.device,
                 batch: int, precision: str, channels_last: bool) -> None:
        self.model = ModelZoo.create(name, seed=0).to(device).train()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.x = (x_u8.float() / 255).to(device)  # the usual float32 NCHW dataset tensor
        self.y = y.to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.device, self.batch, self.channels_last = device, batch, channels_last
        self.perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(1)).to(device)
        self.cursor = 0
        self.seconds: list[float] = []

    def run(self, steps: int) -> float:
        """Train ``steps`` batches; return the seconds they took."""
        sync(self.device)
        t0 = time.perf_counter()
        for _ in range(steps):
            if (self.cursor + 1) * self.batch > len(self.perm):
                self.cursor = 0
            idx = self.perm[self.cursor * self.batch:(self.cursor + 1) * self.batch]
            self.cursor += 1
            xb = self.x[idx]
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            ctx = (torch.autocast(self.device.type, dtype=self.dtype) if self.dtype
                   else contextlib.nullcontext())
            with ctx:
                out = self.model(xb)
            loss = F.cross_entropy(out.float(), self.y[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        sync(self.device)
        return time.perf_counter() - t0


class Interleave(Callback):
    """Times each Trainer epoch and runs the plain loops between epochs (same load for all)."""

    def __init__(self, loops: dict[str, PlainLoop], steps: int, warmup: int,
                 device: torch.device) -> None:
        self.loops, self.steps, self.warmup, self.device = loops, steps, warmup, device
        self.seconds: list[float] = []
        self.t0 = 0.0

    def on_epoch_begin(self, trainer, epoch, **kwargs):
        sync(self.device)
        self.t0 = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, record, **kwargs):
        sync(self.device)
        dt = time.perf_counter() - self.t0
        keep = epoch > self.warmup
        if keep:
            self.seconds.append(dt)
        for loop in self.loops.values():
            dt = loop.run(self.steps)
            if keep:
                loop.seconds.append(dt)


def measure(name: str, variants: dict[str, tuple[str, bool]], device: torch.device, batch: int,
            steps: int, rounds: int, warmup: int) -> dict:
    """Images per second of the Trainer and of each plain-loop variant, interleaved."""
    x, y = make_data(steps * batch, device)
    loops = {label: PlainLoop(name, x, y, device, batch, prec, cl)
             for label, (prec, cl) in variants.items()}
    timer = Interleave(loops, steps, warmup, device)
    trainer = Trainer(ModelZoo.create(name, seed=0), optimizer="adam", lr=1e-3,
                      scheduler="none", augment="none", weight_decay=0.0, label_smoothing=0.0,
                      epochs=warmup + rounds, batch_size=batch, device=device, quiet=True,
                      callbacks=[timer])
    trainer.fit((x, y))  # one epoch = `steps` batches; the plain loops run in between
    seconds = {label: loop.seconds for label, loop in loops.items()}
    seconds["emotionkit Trainer"] = timer.seconds
    base = seconds["fp32 NCHW (baseline)"]
    images = steps * batch
    return {
        # each round's variants ran back to back, so their ratio cancels the machine's load
        "ratio_to_baseline": {k: statistics.median(b / t for b, t in zip(base, v, strict=True))
                              for k, v in seconds.items()},
        "images_per_s_best": {k: images / min(v) for k, v in seconds.items()},
        "images_per_s_mean": {k: images * len(v) / sum(v) for k, v in seconds.items()},
        "precision": trainer.precision.name, "channels_last": trainer.channels_last,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="compact,vgg-fer")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3, help="batches per variant per round")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds [CPU 10, GPU 20]")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    device = resolve_device(args.device)
    rounds = args.rounds or (20 if device.type == "cuda" else 10)
    tune_cpu_allocator()  # as the emotionkit command does (EMOTIONKIT_MALLOC=default: off)
    print(describe_machine(), flush=True)
    variants = dict(VARIANTS)
    if device.type == "cuda":
        half = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        variants = {"fp32 NCHW (baseline)": ("fp32", False),
                    f"{half} channels_last": (half, True)}
    results = {}
    for name in args.models.split(","):
        m = measure(name, variants, device, args.batch_size, args.steps, rounds, args.warmup)
        results[name] = {**m, "batch_size": args.batch_size, "steps_per_round": args.steps,
                         "rounds": rounds, "device": str(device)}
        if not args.json:
            print(f"\n{name}  (batch {args.batch_size}, {rounds} rounds x {args.steps} steps "
                  f"per variant, interleaved; Trainer chose {m['precision']}, "
                  f"channels_last={m['channels_last']})")
            print(f"  {'':24s} {'best img/s':>10s} {'mean img/s':>10s} {'ratio (median)':>15s}")
            for label, r in m["ratio_to_baseline"].items():
                print(f"  {label:24s} {m['images_per_s_best'][label]:10.1f} "
                      f"{m['images_per_s_mean'][label]:10.1f} {'x' + format(r, '.2f'):>15s}")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
