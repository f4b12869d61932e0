"""Training throughput of the emotionkit Trainer against a plain fp32 NCHW PyTorch loop.

Measured in one run, on the same synthetic data, model, batch size and optimizer (Adam):

1. **baseline**: the plain loop most PyTorch code has: the whole dataset as one float32 NCHW
   tensor, ``x[idx]`` batches, forward, cross-entropy, ``zero_grad``, backward, ``step``.
2. **variants** of that loop (fp32 + channels_last, bf16 autocast, bf16 + channels_last), so the
   Trainer's automatic choices can be checked against this machine.
3. **Trainer**: ``Trainer(model).fit(...)`` with its automatic precision and memory format
   (uint8 data on the device, index batches, NaN checks, metrics, no augmentation, no
   validation), timed between batch callbacks.

Warm-up batches are excluded; variants are interleaved over ``--rounds`` rounds and the median
is reported, so a busy machine disturbs them alike. Target: Trainer / baseline >= 1.3 for
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

from emotionkit._runtime import describe_machine, resolve_device
from emotionkit.models import ModelZoo
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


def plain_loop(name: str, x_u8: torch.Tensor, y: torch.Tensor, device: torch.device,
               batch: int, warmup: int, steps: int, precision: str, channels_last: bool) -> float:
    """Images per second of a plain PyTorch training loop."""
    model = ModelZoo.create(name, seed=0).to(device).train()
    x = (x_u8.float() / 255).to(device)
    y = y.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(1)).to(device)
    t0 = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            sync(device)
            t0 = time.perf_counter()
        idx = perm[step * batch:(step + 1) * batch]
        xb = x[idx]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with ctx:
            out = model(xb)
        loss = F.cross_entropy(out.float(), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return steps * batch / (time.perf_counter() - t0)


class _Timer(Callback):
    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.t0 = self.t1 = 0.0
        self.images = 0

    def on_batch_end(self, trainer, epoch, batch, loss, **kwargs):
        if batch == self.warmup - 1:
            sync(self.device)
            self.t0 = time.perf_counter()
        elif batch >= self.warmup:
            self.images += trainer.batch_size
            sync(self.device)
            self.t1 = time.perf_counter()


def trainer_run(name: str, x_u8: torch.Tensor, y: torch.Tensor, device: torch.device,
                batch: int, warmup: int, steps: int) -> tuple[float, str, bool]:
    """Images per second of Trainer.fit with its automatic choices."""
    timer = _Timer(warmup, device)
    trainer = Trainer(ModelZoo.create(name, seed=0), optimizer="adam", lr=1e-3, epochs=1,
                      batch_size=batch, device=device, quiet=True, callbacks=[timer])
    trainer.fit((x_u8, y))
    return timer.images / (timer.t1 - timer.t0), trainer.precision.name, trainer.channels_last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="compact,vgg-fer")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=None, help="timed batches per measurement "
                    "[CPU 15, GPU 200]")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    device = resolve_device(args.device)
    steps = args.steps or (200 if device.type == "cuda" else 15)
    print(describe_machine(), flush=True)
    n = (args.warmup + steps) * args.batch_size
    x, y = make_data(n, device)
    variants = dict(VARIANTS)
    if device.type == "cuda":
        variants = {"fp32 NCHW (baseline)": ("fp32", False), "bf16 channels_last":
                    ("bf16" if torch.cuda.is_bf16_supported() else "fp16", True)}
    results = {}
    for name in args.models.split(","):
        samples: dict[str, list[float]] = {k: [] for k in [*variants, "emotionkit Trainer"]}
        choice = ("?", False)
        for _ in range(args.rounds):
            for label, (prec, cl) in variants.items():
                samples[label].append(plain_loop(name, x, y, device, args.batch_size,
                                                 args.warmup, steps, prec, cl))
            ips, prec, cl = trainer_run(name, x, y, device, args.batch_size, args.warmup, steps)
            samples["emotionkit Trainer"].append(ips)
            choice = (prec, cl)
        med = {k: statistics.median(v) for k, v in samples.items()}
        base = med["fp32 NCHW (baseline)"]
        results[name] = {"images_per_s": med, "ratio_to_baseline": {k: v / base
                                                                    for k, v in med.items()},
                         "trainer_choice": {"precision": choice[0], "channels_last": choice[1]},
                         "batch_size": args.batch_size, "steps": steps, "rounds": args.rounds,
                         "device": str(device)}
        if not args.json:
            print(f"\n{name}  (batch {args.batch_size}, {steps} timed steps x {args.rounds} "
                  f"rounds, median; Trainer chose {choice[0]}, channels_last={choice[1]})")
            for label, v in med.items():
                print(f"  {label:24s} {v:9.1f} img/s   x{v / base:.2f}")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
