"""Figures of training runs and evaluations, written as PNG (matplotlib, no pyplot, no GUI).

Every figure has a title and axis labels, draws each class in its colour from
:data:`emotionkit.data.classes.CLASS_COLORS`, and is written atomically (a reader never sees half
a PNG). Image grids are drawn as one mosaic image rather than one subplot per face, so a 49-face
sheet takes a fraction of a second.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_with
from ..data.classes import CLASS_COLORS, DISPLAY_NAMES
from ..errors import ConfigError, DataFormatError

RIGHT_COLOR = "#1a9850"
WRONG_COLOR = "#d73027"
UNKNOWN_COLOR = "#999999"
RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
              "#7f7f7f", "#bcbd22", "#17becf")


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _save(fig: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    atomic_write_with(path, lambda fh: fig.savefig(fh, format="png"))
    return path


def _names(result: Any) -> list[str]:
    names = list(result.class_names)
    return list(DISPLAY_NAMES) if len(names) == len(DISPLAY_NAMES) else names


def _need_labels(result: Any, what: str) -> None:
    if not result.labeled:
        raise ConfigError(f"{what} needs labeled data; {result.note}")


def _what(result: Any) -> str:
    text = result.model_name or "model"
    if result.split:
        text += f" on {result.split}"
    if result.tta and result.tta != "none":
        text += f" (TTA {result.tta})"
    return text


# ---------------------------------------------------------------------- training curves
def _history_dict(item: Any, label: str) -> dict[str, Any]:
    """A history dict from a History, a dict, a run directory or a history.json path."""
    if hasattr(item, "to_dict"):
        item = item.to_dict()
    elif isinstance(item, (str, os.PathLike)):
        p = Path(item)
        file = p / "history.json" if p.is_dir() else p
        if not file.is_file():
            raise DataFormatError(f"{p}: not a training run directory or history file "
                                  "(no history.json)")
        try:
            item = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{file}: not a JSON history ({exc})") from None
    if not isinstance(item, dict) or not isinstance(item.get("epochs"), list):
        raise DataFormatError(f"history of run {label!r} must be a dict with an 'epochs' list")
    return item


def _runs(histories: Any) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(histories, Mapping):
        pairs = [(str(k), v) for k, v in histories.items()]
    elif isinstance(histories, Sequence) and not isinstance(histories, (str, bytes)):
        pairs = [(Path(v).name if isinstance(v, (str, os.PathLike)) else f"run {i + 1}", v)
                 for i, v in enumerate(histories)]
    else:
        pairs = [(Path(histories).name if isinstance(histories, (str, os.PathLike))
                  else str(getattr(histories, "model_name", None) or "run"), histories)]
    if not pairs:
        raise ConfigError("plot_training_curves needs at least one history")
    return [(label, _history_dict(h, label)) for label, h in pairs]


def _series(epochs: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    pts = [(e.get("epoch", i + 1), e.get(key)) for i, e in enumerate(epochs)]
    pts = [(int(x), float(y)) for x, y in pts if y is not None and math.isfinite(float(y))]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_training_curves(histories: Any, path: str | os.PathLike,
                         title: str | None = None) -> Path:
    """Loss and accuracy against epoch for one or several runs, overlaid.

    Each run has one colour; training curves are dashed, validation curves solid, and the best
    epoch (the History's ``best_epoch``) is marked with a star on the validation accuracy.

    Args:
        histories: ``{label: history}`` where a history is a
            :class:`~emotionkit.training.History`, its dict (``History.to_dict()`` / the
            ``history.json`` layout), a run directory or a ``history.json`` path; also a list of
            run directories (labelled by directory name) or a single history.
        path: Destination PNG.
        title: Figure title (default names the runs).

    Returns:
        The path written.

    Raises:
        DataFormatError: A history is malformed or a run directory has no history.json.
    """
    from matplotlib.lines import Line2D

    runs = _runs(histories)
    fig = _figure(12, 4.6)
    ax_loss, ax_acc = fig.subplots(1, 2)
    handles = []
    for i, (label, hist) in enumerate(runs):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        epochs = hist["epochs"]
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
            for split, style in (("train", "--"), ("val", "-")):
                x, y = _series(epochs, f"{split}_{metric}")
                if x:
                    ax.plot(x, y, style, color=color, linewidth=1.6,
                            marker="o" if len(x) <= 30 else None, markersize=2.5)
        best = hist.get("best_epoch")
        x, y = _series(epochs, "val_acc")
        if best in x:
            ax_acc.plot([best], [y[x.index(best)]], marker="*", markersize=12, color=color,
                        markeredgecolor="black", linestyle="none")
        handles.append(Line2D([], [], color=color, linewidth=2.5, label=label))
    handles += [Line2D([], [], color="black", linestyle="--", label="train"),
                Line2D([], [], color="black", linestyle="-", label="validation"),
                Line2D([], [], color="grey", marker="*", markersize=10, linestyle="none",
                       markeredgecolor="black", label="best epoch")]
    from matplotlib.ticker import MaxNLocator

    for ax, ylabel in ((ax_loss, "loss (cross-entropy)"), (ax_acc, "accuracy")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ax_loss.set_title("Loss")
    ax_acc.set_title("Accuracy")
    ax_acc.legend(handles=handles, fontsize=8, loc="lower right")
    fig.suptitle(title or "Training curves: " + " vs ".join(label for label, _ in runs))
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------- confusion and classes
def plot_confusion_matrix(result: Any, path: str | os.PathLike, normalized: bool = True,
                          title: str | None = None) -> Path:
    """Heatmap of the confusion matrix with class names and the value in every cell.

    Args:
        result: A labeled :class:`~emotionkit.evaluation.EvaluationResult`.
        path: Destination PNG.
        normalized: Show row-normalized shares (each true class sums to 1) instead of counts.
        title: Figure title.

    Returns:
        The path written.
    """
    _need_labels(result, "a confusion matrix")
    names = _names(result)
    k = len(names)
    values = result.confusion_matrix_normalized if normalized else result.confusion_matrix
    fig = _figure(7.6, 6.4)
    ax = fig.subplots()
    vmax = 1.0 if normalized else max(1, int(values.max()))
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04,
                 label="share of the true class" if normalized else "images")
    for t in range(k):
        for p in range(k):
            v = values[t, p]
            text = f"{v:.2f}" if normalized else f"{int(v)}"
            ax.text(p, t, text, ha="center", va="center", fontsize=9,
                    color="white" if v > 0.55 * vmax else "black",
                    fontweight="bold" if t == p else "normal")
    ax.set_xticks(range(k), names, rotation=35, ha="right")
    ax.set_yticks(range(k), [f"{n} ({int(s)})" for n, s in zip(names, result.support, strict=True)])
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
        for i, tick in enumerate(ticks):
            tick.set_color(CLASS_COLORS[i % len(CLASS_COLORS)])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (images)")
    kind = "Normalized confusion matrix" if normalized else "Confusion matrix"
    ax.set_title(title or f"{kind}: {_what(result)}, accuracy {result.accuracy:.3f}")
    fig.tight_layout()
    return _save(fig, path)


def plot_per_class_accuracy(result: Any, path: str | os.PathLike,
                            title: str | None = None) -> Path:
    """Bar chart of the accuracy within each true class (recall), with the overall accuracy.

    Args:
        result: A labeled :class:`~emotionkit.evaluation.EvaluationResult`.
        path: Destination PNG.
        title: Figure title.

    Returns:
        The path written.
    """
    _need_labels(result, "per-class accuracy")
    names = _names(result)
    k = len(names)
    fig = _figure(8, 4.6)
    ax = fig.subplots()
    colors = [CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(k)]
    bars = ax.bar(range(k), result.recall, color=colors, edgecolor="black", linewidth=0.6)
    for bar, acc, support in zip(bars, result.recall, result.support, strict=True):
        label = f"{acc:.2f}" if support else "n/a"
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.015, label,
                ha="center", va="bottom", fontsize=9)
    ax.axhline(result.accuracy, color="black", linestyle="--", linewidth=1,
               label=f"overall accuracy {result.accuracy:.3f}")
    ax.set_xticks(range(k), [f"{n}\n(n={int(s)})" for n, s in zip(names, result.support,
                                                                     strict=True)])
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("true class (images)")
    ax.set_ylabel("accuracy (recall)")
    ax.set_title(title or f"Per-class accuracy: {_what(result)}")
    ax.legend(loc="upper right", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------- image grids
def _images_for(result: Any, dataset: Any) -> np.ndarray:
    """The uint8 (N, 48, 48) images the result was computed on."""
    images = getattr(dataset, "images", dataset)
    images = np.asarray(images)
    if len(images) != result.n and result.split and hasattr(dataset, "split"):
        images = dataset.split(result.split).images
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if len(images) != result.n or images.ndim != 3:
        raise ConfigError(f"the result covers {result.n} images but the dataset has "
                          f"{len(images)}; pass the dataset (or split) that was evaluated")
    if images.dtype != np.uint8:
        images = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
    return images


def _hex_rgb(color: str) -> np.ndarray:
    color = color.lstrip("#")
    return np.array([int(color[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.uint8)


def _grid(images: np.ndarray, idx: np.ndarray, borders: list[str],
          captions: list[list[tuple[str, str]]], title: str, cols: int | None = None) -> Any:
    """One mosaic image of faces with coloured borders and coloured caption lines below each."""
    n = len(idx)
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    size = images.shape[1]
    border, pad = 3, 4
    lines = max((len(c) for c in captions), default=0)
    text_h = 11 * lines
    cell_w, cell_h = size + 2 * border + pad, size + 2 * border + text_h + pad
    canvas = np.full((rows * cell_h, cols * cell_w, 3), 255, dtype=np.uint8)
    for k, i in enumerate(idx):
        r, c = divmod(k, cols)
        y, x = r * cell_h, c * cell_w + pad // 2
        canvas[y:y + size + 2 * border, x:x + size + 2 * border] = _hex_rgb(borders[k])
        canvas[y + border:y + border + size, x + border:x + border + size] = images[i][..., None]
    fig = _figure(0.9 + 0.95 * cols, 0.7 + (0.95 + 0.17 * lines) * rows)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.9 if rows > 1 else 0.82))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    for k in range(n):
        r, c = divmod(k, cols)
        cx = c * cell_w + pad // 2 + border + size / 2
        for j, (text, color) in enumerate(captions[k]):
            ax.text(cx, r * cell_h + size + 2 * border + 1 + 11 * j, text, ha="center", va="top",
                    fontsize=6.5, color=color)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_mistakes(result: Any, dataset: Any, path: str | os.PathLike, n: int = 25,
                  title: str | None = None) -> Path:
    """A grid of the most confident mistakes, with true and predicted class and confidence.

    Args:
        result: A labeled :class:`~emotionkit.evaluation.EvaluationResult`.
        dataset: The evaluated images (the Dataset, its evaluated split, or uint8 (N, 48, 48)).
        path: Destination PNG.
        n: How many mistakes at most.
        title: Figure title.

    Returns:
        The path written.
    """
    _need_labels(result, "a grid of mistakes")
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    images = _images_for(result, dataset)
    names = _names(result)
    idx = result.misclassified[:n]
    captions = [[(f"true {names[result.labels[i]]}", CLASS_COLORS[result.labels[i]]),
                 (f"pred {names[result.predictions[i]]} {result.confidences[i]:.2f}",
                  CLASS_COLORS[result.predictions[i]])] for i in idx]
    head = title or (f"Most confident mistakes: {_what(result)} "
                     f"({len(result.misclassified)} wrong of {result.n})")
    if not len(idx):
        fig = _figure(6, 2)
        fig.text(0.5, 0.5, "no mistakes", ha="center", va="center", fontsize=14)
        fig.suptitle(head, fontsize=10)
        return _save(fig, path)
    fig = _grid(images, idx, [WRONG_COLOR] * len(idx), captions, head,
                cols=min(len(idx), max(1, math.ceil(math.sqrt(n)))))
    return _save(fig, path)


def plot_contact_sheet(result: Any, dataset: Any, path: str | os.PathLike, n: int = 49,
                       seed: int | None = 0, title: str | None = None) -> Path:
    """A sheet of faces with their predictions; green border = right, red = wrong.

    Args:
        result: An :class:`~emotionkit.evaluation.EvaluationResult` (grey borders when
            unlabeled).
        dataset: The evaluated images (as for :func:`plot_mistakes`).
        path: Destination PNG.
        n: Number of faces.
        seed: Seed of the random choice (shown in index order); ``None`` takes the first ``n``.
        title: Figure title.

    Returns:
        The path written.
    """
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    images = _images_for(result, dataset)
    names = _names(result)
    k = min(n, result.n)
    if seed is None or k == result.n:
        idx = np.arange(k)
    else:
        idx = np.sort(np.random.default_rng(seed).choice(result.n, size=k, replace=False))
    correct = result.correct
    borders, captions = [], []
    for i in idx:
        p = result.predictions[i]
        cap = [(f"{names[p]} {result.confidences[i]:.2f}", CLASS_COLORS[p])]
        if correct is None:
            borders.append(UNKNOWN_COLOR)
        else:
            borders.append(RIGHT_COLOR if correct[i] else WRONG_COLOR)
            cap.append((f"true {names[result.labels[i]]}", CLASS_COLORS[result.labels[i]]))
        captions.append(cap)
    head = title or f"Predictions: {_what(result)}"
    if correct is not None:
        head += f" (green right, red wrong; {int(correct[idx].sum())}/{k} right here)"
    return _save(_grid(images, idx, borders, captions, head), path)


__all__ = ["plot_training_curves", "plot_confusion_matrix", "plot_per_class_accuracy",
           "plot_mistakes", "plot_contact_sheet", "RIGHT_COLOR", "WRONG_COLOR"]
