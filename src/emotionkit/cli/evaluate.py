"""``emotionkit evaluate`` (score a checkpoint, write metrics and figures) and
``emotionkit compare`` (overlay the curves of training runs and tabulate them)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from ._common import HISTORY_FILE, RUN_FILE, load_model_arg, run_file
from .options import OutDir, device_option, model_option, precision_option

#: Splits ``--split auto`` looks for, in this order (else the whole dataset).
AUTO_SPLITS = ("PublicTest", "PrivateTest", "Test", "Validation")
FIGURES = ("confusion_matrix.png", "per_class.png", "mistakes.png", "contact_sheet.png")


def _pick_split(ds: Any, split: str) -> str | None:
    if split.lower() == "all":
        return None
    if split.lower() != "auto":
        return split
    for name in AUTO_SPLITS:
        if name in ds.split_names:
            return name
    return None


@click.command()
@model_option()
@click.option("--data", "data_path", required=True, metavar="PATH",
              help="Dataset: a FER2013 CSV, course CSV, image folder, .npz or synthetic[:N].")
@click.option("--split", default="auto", show_default=True,
              help="Split to evaluate, or 'all'. auto: PublicTest, else PrivateTest, Test, "
              "Validation, else all images.")
@click.option("--tta", type=click.Choice(["none", "flip", "tencrop"]), default="none",
              show_default=True, help="Test-time augmentation: average over mirror / ten crops.")
@click.option("--train-data", "train_path", default=None, metavar="PATH",
              help="Training data for leakage-aware scores (test images with an exact copy in "
              "it are reported and left out of a second accuracy). The --data file itself "
              "works: its Training split is used.")
@click.option("--out", "out_dir", type=OutDir(), default=None,
              help="Write metrics.json and the figures (confusion_matrix.png, per_class.png, "
              "mistakes.png, contact_sheet.png) here.")
@click.option("--batch-size", type=click.IntRange(min=1), default=512, show_default=True,
              help="Model inputs per forward pass.")
@device_option()
@precision_option("fp32", "Numeric precision (bf16/fp16 autocast: faster, probabilities "
                  "differ slightly; fp16 on CUDA only; auto: bf16 where the hardware runs it "
                  "natively, as for training).")
@click.option("--progress/--no-progress", default=None,
              help="Force progress bars on/off [on when stderr is a terminal].")
@click.option("--json", "as_json", is_flag=True,
              help="Print the metrics as JSON (without per-image data) instead of a summary.")
def evaluate(model_spec: str | None, data_path: str, split: str, tta: str, train_path: str | None,
             out_dir: str | None, batch_size: int, device: str, precision: str,
             progress: bool | None, as_json: bool) -> None:
    """Evaluate a model: accuracy, top-2, log loss, per-class report, confusion matrix.

    Without --model, the best model shipped with emotionkit is evaluated.

    Prints a summary (or JSON with --json); with --out DIR also writes metrics.json (every
    metric and the per-image predictions, readable with EvaluationResult.from_json) and the
    figures. Unlabeled data gives predictions only (and the contact sheet).

    Example: emotionkit evaluate --model runs/compact --data fer2013.csv.gz --split PublicTest
    --tta flip --train-data fer2013.csv.gz --out eval/compact
    """
    from ..data import Dataset
    from ..evaluation import Evaluator, figures
    from ..runtime import resolve_device

    dev = resolve_device(device)
    model, model_label = load_model_arg(model_spec, dev, untrained_ok=False)
    ds = Dataset.load(data_path, progress=bool(progress))
    chosen = _pick_split(ds, split)
    if split.lower() == "auto" and not as_json:
        click.echo(f"Evaluating {'split ' + chosen if chosen else 'all images'} of "
                   f"{ds.source} (choose with --split)", err=True)
    train = Dataset.load(train_path, progress=bool(progress)) if train_path else None
    evaluator = Evaluator(model, device=dev, batch_size=batch_size, progress=progress,
                          precision=precision)
    result = evaluator.evaluate(ds, split=chosen, tta=tta, train=train)
    written: list[str] = []
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result.to_json(out / "metrics.json")
        written.append(str(out / "metrics.json"))
        evaluated = ds if chosen is None else ds.split(chosen)
        if result.labeled:
            figures.plot_confusion_matrix(result, out / "confusion_matrix.png")
            figures.plot_per_class_accuracy(result, out / "per_class.png")
            figures.plot_mistakes(result, evaluated, out / "mistakes.png")
            written += [str(out / "confusion_matrix.png"), str(out / "per_class.png"),
                        str(out / "mistakes.png")]
        figures.plot_contact_sheet(result, evaluated, out / "contact_sheet.png")
        written.append(str(out / "contact_sheet.png"))
    if as_json:
        label = model_label if model_spec is None else str(run_file(model_spec))
        click.echo(json.dumps({**result.to_dict(samples=False), "checkpoint": label,
                               "files": written}, indent=2))
        return
    click.echo(result.summary())
    if written:
        click.echo(f"Wrote {', '.join(Path(w).name for w in written)} to {out_dir}")


# ---------------------------------------------------------------------- compare
def _param_count(run_dir: Path) -> int | None:
    """Parameters of the run's model.safetensors; None when it has none or it does not load."""
    from ..errors import EmotionKitError

    ckpt = run_file(run_dir)
    if not ckpt.is_file():
        return None
    try:
        model, _ = load_model_arg(ckpt, "cpu", untrained_ok=False)
    except EmotionKitError:
        return None
    return int(sum(p.numel() for p in model.parameters()))


def run_summary(run_dir: str | Path, label: str | None = None) -> dict[str, Any]:
    """Facts about one training run directory, for ``emotionkit compare``.

    Args:
        run_dir: A directory written by ``emotionkit train --out DIR`` (or its history.json).
        label: Name to show (default: the directory name).

    Returns:
        ``{"label", "run_dir", "model", "epochs", "best_epoch", "best_val_acc",
        "best_val_acc_epoch", "final_val_acc", "final_train_acc", "params", "wall_seconds",
        "history"}``; ``best_val_acc`` is the highest validation accuracy of any epoch and
        ``best_epoch`` the History's own best epoch. Wall time comes from run.json, else the
        sum of the epochs' seconds.

    Raises:
        DataFormatError: The directory has no readable history.json.
    """
    from ..evaluation.figures import _history_dict

    p = Path(run_dir)
    history_file = run_file(p, HISTORY_FILE, what="history", required=True)
    folder = history_file.parent  # the run directory, also when given its history.json
    hist = _history_dict(history_file, label or p.name)
    epochs = hist["epochs"]
    run: dict[str, Any] = {}
    if (folder / RUN_FILE).is_file():
        try:
            run = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            run = {}
    val = [(e.get("epoch"), e.get("val_acc")) for e in epochs if e.get("val_acc") is not None]
    best = max(val, key=lambda t: t[1]) if val else (None, None)
    last = epochs[-1] if epochs else {}
    wall = (run.get("result") or {}).get("wall_seconds")
    if wall is None and epochs and all(e.get("seconds") is not None for e in epochs):
        wall = float(sum(e["seconds"] for e in epochs))
    return {
        "label": label or p.name, "run_dir": str(p),
        "model": run.get("model") or hist.get("model_name"),
        "epochs": len(epochs), "best_epoch": hist.get("best_epoch"),
        "best_val_acc": best[1], "best_val_acc_epoch": best[0],
        "final_val_acc": last.get("val_acc"), "final_train_acc": last.get("train_acc"),
        "params": _param_count(folder), "wall_seconds": wall, "history": hist,
    }


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if kind == "acc":
        return f"{value:.4f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "time":
        return f"{value:.1f}s"
    return str(value)


def comparison_table(rows: list[dict[str, Any]]) -> str:
    """The text table printed by ``emotionkit compare``.

    Args:
        rows: :func:`run_summary` dicts.

    Returns:
        Aligned columns, one line per run.
    """
    cols = [("run", "label", "str"), ("model", "model", "str"), ("epochs", "epochs", "int"),
            ("best val acc", "best_val_acc", "acc"), ("@epoch", "best_val_acc_epoch", "int"),
            ("final val acc", "final_val_acc", "acc"), ("final train acc", "final_train_acc",
                                                         "acc"),
            ("params", "params", "int"), ("wall time", "wall_seconds", "time")]
    cells = [[h for h, _, _ in cols]] + [[_fmt(r[k], kind) for _, k, kind in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = []
    for j, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option("--labels", default=None, help="Comma-separated names for the runs, in order "
              "[directory names].")
@click.option("--out", "out_dir", type=OutDir(), default=None,
              help="Write curves.png (all runs overlaid) and comparison.json here.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def compare(run_dirs: tuple[str, ...], labels: str | None, out_dir: str | None,
            as_json: bool) -> None:
    """Compare training runs: overlaid loss/accuracy curves and a table of accuracies.

    Each RUN_DIR is a directory written by `emotionkit train --out DIR` (it needs
    history.json; run.json and model.safetensors add wall time and parameter counts).

    Example: emotionkit compare runs/cnn runs/dnn --labels CNN,DNN --out compare/
    """
    from ..evaluation.figures import plot_training_curves

    names = [s.strip() for s in labels.split(",")] if labels else None
    if names is not None and len(names) != len(run_dirs):
        raise click.BadParameter(f"{len(names)} labels for {len(run_dirs)} runs",
                                 param_hint="'--labels'")
    if names is None:
        names = [Path(d).name or str(d) for d in run_dirs]
        if len(set(names)) < len(names):
            names = [str(d) for d in run_dirs]
    rows = [run_summary(d, n) for d, n in zip(run_dirs, names, strict=True)]
    written = []
    if out_dir:
        out = Path(out_dir)
        plot_training_curves({r["label"]: r["history"] for r in rows}, out / "curves.png")
        from .._io import atomic_write_json

        atomic_write_json(out / "comparison.json", {"runs": rows})
        written = [str(out / "curves.png"), str(out / "comparison.json")]
    if as_json:
        click.echo(json.dumps({"runs": [{k: v for k, v in r.items() if k != "history"}
                                        for r in rows], "files": written}, indent=2))
        return
    click.echo(comparison_table(rows))
    if written:
        click.echo(f"Wrote curves.png and comparison.json to {out_dir}")
    else:
        click.echo("(add --out DIR for the overlaid curves)", err=True)
