"""``emotionkit train``: train a zoo model on a dataset and write a run directory."""

from __future__ import annotations

import json
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ._common import MODEL_FILE, RUN_FILE, load_model_arg, parse_key_values
from .options import OutDir, device_option, precision_option


def _parse_val_split(value: str) -> str | float | None:
    low = value.strip().lower()
    if low in ("none", "no", "off"):
        return None
    try:
        fraction = float(value)
    except ValueError:
        return value.strip()
    if not 0.0 < fraction < 1.0:
        raise click.BadParameter(f"a fraction must be in (0, 1), got {value}",
                                 param_hint="'--val-split'")
    return fraction


def _split_data(ds: Any, val_split: str | float | None, seed: int) -> tuple[Any, Any]:
    """(train, val) by :meth:`Dataset.train_val_split`; its errors become --val-split errors."""
    from ..errors import ConfigError, UnknownNameError

    try:
        return ds.train_val_split(val_split, seed=seed)
    except (UnknownNameError, ConfigError) as exc:
        raise click.BadParameter(str(exc), param_hint="'--val-split'") from None


def _init_weights(model: Any, spec: str) -> None:
    """Copy the weights of ``spec`` (checkpoint, run directory or shipped name) into ``model``."""
    from ..errors import CheckpointError
    from ..training.checkpoint import model_identity

    source, _ = load_model_arg(spec, "cpu", untrained_ok=False)
    want, have = model_identity(model), model_identity(source)
    for field in ("model_name", "model_config"):
        if want[field] != have[field]:
            raise CheckpointError(f"--init {spec}: {field} is {have[field]!r}, but this run "
                                  f"trains {want[field]!r}")
    model.load_state_dict(source.state_dict())


@click.command()
@click.option("--data", "data_path", required=True, help="Dataset: a FER2013 CSV, folder, .npz "
              "or synthetic[:N].")
@click.option("--model", "model_name", required=True, help="Zoo model name (see `emotionkit "
              "models list`).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs [model recipe, else 10].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Batch size per process [recipe, else 128].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Learning rate [recipe, else 1e-3].")
@click.option("--optimizer", type=click.Choice(["adam", "adamw", "sgd"]), default=None,
              help="Optimizer [recipe, else adam].")
@click.option("--scheduler", type=click.Choice(["none", "cosine", "onecycle", "plateau"]),
              default=None, help="Learning-rate schedule [recipe, else none].")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=None,
              help="Weight decay [recipe, else 0].")
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Label smoothing [recipe, else 0].")
@click.option("--augment", default=None, help="Augmentation preset or spec, or 'none' "
              "[recipe, else none].")
@click.option("--early-stopping", type=click.IntRange(min=1), default=None,
              help="Stop after this many epochs without validation improvement.")
@click.option("--val-split", default="auto", show_default=True,
              help="Validation data: a split name (PublicTest), a fraction of Training (0.1), "
              "or none. auto = PublicTest if present, else 0.1.")
@device_option()
@precision_option("auto", "Numeric precision (auto: bf16 where fast, fp16 on old GPUs).")
@click.option("--channels-last/--no-channels-last", default=None,
              help="NHWC memory format [auto: on for conv nets].")
@click.option("--compile", "use_compile", is_flag=True, help="Use torch.compile.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of everything random.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Model option, repeatable (e.g. --set width=0.5).")
@click.option("--out", "out_dir", type=OutDir(), default=None,
              help="Run directory [runs/MODEL-TIMESTAMP].")
@click.option("--init", "init_from", default=None, metavar="CKPT|NAME",
              help="Start from these weights instead of random ones (fine-tuning): a "
              "checkpoint or run directory, or a zoo name for its shipped weights. Its model "
              "and options must match --model and --set.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from last.safetensors.")
@click.option("--no-restore-best", is_flag=True,
              help="Keep the last epoch's weights instead of the best validation epoch's.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or epoch lines.")
@click.option("--progress/--no-progress", default=None,
              help="Force the progress bar on/off [on when stderr is a terminal].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def train(ctx: click.Context, data_path: str, model_name: str, epochs: int | None,
          batch_size: int | None, lr: float | None, optimizer: str | None,
          scheduler: str | None, weight_decay: float | None, label_smoothing: float | None,
          augment: str | None, early_stopping: int | None, val_split: str, device: str,
          precision: str, channels_last: bool | None, use_compile: bool, seed: int,
          settings: tuple[str, ...], out_dir: str | None, init_from: str | None, resume: bool,
          no_restore_best: bool,
          quiet: bool, progress: bool | None, as_json: bool) -> None:
    """Train a zoo model and write a run directory.

    The directory holds model.safetensors (the best model on validation), last.safetensors
    (resume state, updated every epoch), history.json, curves.png and run.json. Options left
    unset take the model's recipe (`emotionkit models info NAME`). Works unchanged under
    `torchrun --nproc_per_node=N -m emotionkit train ...`. Ctrl-C saves the state; continue
    with --resume --out DIR.
    """
    from .._io import atomic_write_json
    from ..data import Dataset
    from ..models import ModelZoo
    from ..runtime import describe_machine
    from ..training import Trainer, TrainingInterrupted
    from ..training.trainer import LAST_NAME

    config = parse_key_values(settings, "--set")
    split_choice = _parse_val_split(val_split) if val_split != "auto" else "auto"
    ModelZoo.get_info(model_name)  # an unknown name fails here, before any work
    given = {"optimizer": optimizer, "lr": lr, "weight_decay": weight_decay,
             "batch_size": batch_size, "epochs": epochs, "scheduler": scheduler,
             "augment": augment, "label_smoothing": label_smoothing}
    run_dir = Path(out_dir) if out_dir else Path("runs") / (
        f"{model_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    if resume and not out_dir:
        raise click.UsageError("--resume needs --out DIR (the run to continue)")
    if not resume and (run_dir / LAST_NAME).exists():
        raise click.UsageError(f"{run_dir} already holds a training run; continue it with "
                               "--resume or choose another --out")

    model = ModelZoo.create(model_name, seed=seed, **config)
    if init_from is not None and not resume:
        _init_weights(model, init_from)
    ds = Dataset.load(data_path)
    train_ds, val_ds = _split_data(ds, split_choice, seed)
    trainer = Trainer(model, **given, early_stopping=early_stopping, device=device,
                      precision=precision, channels_last=channels_last, compile=use_compile,
                      seed=seed, restore_best=not no_restore_best, quiet=quiet,
                      progress=progress, out_dir=run_dir, resume=resume)
    run = {"command": "train", "argv": sys.argv[1:], "data": data_path, "model": model_name,
           "model_config": model.emotionkit_config, "options": trainer.options,
           "init": init_from, "val_split": val_split, "n_train": len(train_ds),
           "n_val": len(val_ds) if val_ds is not None else 0, "resume": resume,
           "started": datetime.now().isoformat(timespec="seconds"),
           "machine": describe_machine()}
    if trainer.is_main:
        atomic_write_json(run_dir / RUN_FILE, run)
        if not quiet:
            click.echo(f"Training {model_name} on {len(train_ds)} images "
                       f"({run['n_val']} validation) on {trainer.device}, precision "
                       f"{trainer.precision.name}, channels_last {trainer.channels_last}; "
                       f"run directory {run_dir}", err=True)
    t0 = time.perf_counter()
    try:
        history = trainer.fit(train_ds, val_ds)
    except TrainingInterrupted as exc:
        if trainer.is_main:
            sets = "".join(f" --set {shlex.quote(s)}" for s in settings)
            click.echo(f"Interrupted: {exc}. Continue with the same options plus --resume, e.g. "
                       f"emotionkit train --data {shlex.quote(data_path)} --model {model_name}"
                       f"{sets} --out {shlex.quote(str(run_dir))} --resume", err=True)
        ctx.exit(130)
    wall = time.perf_counter() - t0
    if not trainer.is_main:
        return
    history.plot(run_dir / "curves.png", title=f"{model_name} on {ds.source}")
    last = history[-1] if len(history) else {}
    best = history.best or {}
    result = {"run_dir": str(run_dir), "model": model_name, "epochs": len(history),
              "best_epoch": history.best_epoch, "best_val_acc": best.get("val_acc"),
              "final": last, "wall_seconds": wall,
              "checkpoint": str(run_dir / MODEL_FILE)}
    atomic_write_json(run_dir / RUN_FILE, {**run, "result": result})
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    msg = f"Trained {model_name} for {len(history)} epochs in {wall:.1f}s"
    if history.best_epoch is not None:
        msg += f"; best epoch {history.best_epoch}: val_acc {best['val_acc']:.4f}"
    click.echo(f"{msg}. Saved {run_dir / MODEL_FILE}")
