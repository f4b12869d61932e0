""":class:`EvaluationResult`: per-image predictions of one evaluation and the metrics they give.

The result keeps the per-image probabilities and labels; every metric is computed from them when
the result is built, so a result read back with :meth:`EvaluationResult.from_json` has exactly the
metrics of the one written.

JSON layout (``to_dict()``, ``metrics.json`` of ``emotionkit evaluate``)::

    {"format": "emotionkit.evaluation", "version": 1,
     "model": "compact", "source": "fer2013.csv.gz", "split": "PublicTest", "tta": "flip",
     "images": 3589, "labeled": true, "note": null, "class_names": [...7 names...],
     "metrics": {"accuracy": 0.66, "top2_accuracy": 0.82, "log_loss": 0.95,
                 "per_class": {"angry": {"precision", "recall", "f1", "support"}, ...},
                 "confusion_matrix": [[...]], "confusion_matrix_normalized": [[...]]},
     "leakage": {"train_source", "train_images", "excluded", "conflicting", "images",
                 "accuracy"} | null,
     "timing": {"seconds": 1.2, "images_per_second": 2990.0},
     "misclassified": [indices, most confident mistake first],
     "samples": {"ids", "labels", "predictions", "confidences", "probabilities",
                 "in_train", "conflicting"}}

``metrics`` is ``null`` for unlabeled data (``note`` says so); indices refer to the evaluated
images (after split selection), ``ids`` to the source (e.g. CSV line numbers).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_text
from ..data.classes import CLASS_NAMES, DISPLAY_NAMES
from ..errors import DataFormatError
from .metrics import classification_metrics, normalize_rows

FORMAT = "emotionkit.evaluation"
VERSION = 1
UNLABELED_NOTE = "the data has no labels: predictions only, no metrics"


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(eq=False)
class EvaluationResult:
    """Predictions of a model on a set of images, with the metrics when labels are known.

    Args:
        probabilities: (N, 7) class probabilities (averaged over TTA views).
        labels: (N,) true labels, or ``None`` for unlabeled data.
        tta: The TTA mode used.
        split: The split evaluated (``None`` for the whole dataset).
        source: Where the data came from.
        model_name: Name of the model.
        ids: Per-image identifiers from the dataset (default ``0..N-1``).
        in_train: Boolean (N,): the image has an exact copy in the training data (``None`` when
            no training data was given).
        conflicting: Boolean (N,): ... and a training copy has another label.
        train_source: Where the training data came from.
        train_images: How many training images were compared against.
        seconds: Time the predictions took.

    Attributes:
        accuracy, top2_accuracy, log_loss: Floats, or ``None`` when unlabeled.
        precision, recall, f1: float64 (7,) arrays (``zero_division=0``), or ``None``.
        support: int64 (7,) true images per class, or ``None``.
        confusion_matrix: int64 (7, 7) counts, rows = true class, columns = prediction, or
            ``None``.
    """

    probabilities: np.ndarray
    labels: np.ndarray | None = None
    tta: str = "none"
    split: str | None = None
    source: str | None = None
    model_name: str | None = None
    ids: np.ndarray | None = None
    in_train: np.ndarray | None = None
    conflicting: np.ndarray | None = None
    train_source: str | None = None
    train_images: int | None = None
    seconds: float | None = None
    class_names: tuple[str, ...] = field(default=CLASS_NAMES)

    def __post_init__(self) -> None:
        self.probabilities = np.asarray(self.probabilities, dtype=np.float32)
        n = len(self.probabilities)
        if self.probabilities.ndim != 2 or self.probabilities.shape[1] != len(self.class_names):
            raise DataFormatError(f"probabilities must be (N, {len(self.class_names)}), got "
                                  f"{self.probabilities.shape}")
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int64)
        self.ids = np.arange(n) if self.ids is None else np.asarray(self.ids)
        if self.ids.shape != (n,):
            raise DataFormatError(f"{self.ids.size} ids for {n} images")
        for name in ("in_train", "conflicting"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.asarray(value, dtype=bool))
        if self.in_train is not None and self.conflicting is None:
            self.conflicting = np.zeros(n, dtype=bool)
        self.class_names = tuple(self.class_names)
        #: (N,) predicted class (argmax of the probabilities).
        self.predictions: np.ndarray = self.probabilities.argmax(axis=1)
        #: (N,) probability of the predicted class.
        self.confidences: np.ndarray = self.probabilities.max(axis=1)
        self.accuracy: float | None = None
        self.top2_accuracy: float | None = None
        self.log_loss: float | None = None
        self.precision = self.recall = self.f1 = self.support = self.confusion_matrix = None
        if self.labels is not None and n:
            m = classification_metrics(self.labels, self.probabilities)
            self.accuracy, self.top2_accuracy = m["accuracy"], m["top2_accuracy"]
            self.log_loss = m["log_loss"]
            self.precision, self.recall, self.f1 = m["precision"], m["recall"], m["f1"]
            self.support, self.confusion_matrix = m["support"], m["confusion_matrix"]

    # ------------------------------------------------------------------ derived values
    def __len__(self) -> int:
        return len(self.probabilities)

    @property
    def n(self) -> int:
        """Number of images evaluated."""
        return len(self.probabilities)

    @property
    def labeled(self) -> bool:
        """Whether labels were known (and so metrics computed)."""
        return self.labels is not None

    @property
    def note(self) -> str | None:
        """Why metrics are missing, or ``None``."""
        return None if self.labeled else UNLABELED_NOTE

    @property
    def correct(self) -> np.ndarray | None:
        """Boolean (N,): prediction equals label (``None`` when unlabeled)."""
        return None if self.labels is None else self.predictions == self.labels

    @property
    def confusion_matrix_normalized(self) -> np.ndarray | None:
        """Row-normalized confusion matrix (each true class sums to 1; absent classes are 0)."""
        return None if self.confusion_matrix is None else normalize_rows(self.confusion_matrix)

    @property
    def per_class_accuracy(self) -> np.ndarray | None:
        """Accuracy within each true class (= recall), float64 (7,)."""
        return self.recall

    @property
    def misclassified(self) -> np.ndarray | None:
        """Indices of wrong predictions, most confident first (ties by index); None if unlabeled."""
        if self.labels is None:
            return None
        wrong = np.flatnonzero(self.predictions != self.labels)
        order = np.argsort(-self.confidences[wrong].astype(np.float64), kind="stable")
        return wrong[order]

    @property
    def per_class(self) -> dict[str, dict[str, float | int]] | None:
        """``{class name: {"precision", "recall", "f1", "support"}}`` (``None`` when unlabeled)."""
        if self.labels is None:
            return None
        return {name: {"precision": float(self.precision[i]), "recall": float(self.recall[i]),
                       "f1": float(self.f1[i]), "support": int(self.support[i])}
                for i, name in enumerate(self.class_names)}

    @property
    def leakage(self) -> dict[str, Any] | None:
        """Scores without the images that have an exact copy in the training data.

        Returns:
            ``{"train_source", "train_images", "excluded" (test images with a training copy),
            "conflicting" (of those, with another label in training), "images" (left),
            "accuracy" (on those left; ``None`` when unlabeled or none left)}``, or ``None``
            when no training data was given.
        """
        if self.in_train is None:
            return None
        keep = ~self.in_train
        acc = None
        if self.labels is not None and keep.any():
            acc = float(np.mean(self.predictions[keep] == self.labels[keep]))
        return {"train_source": self.train_source, "train_images": self.train_images,
                "excluded": int(self.in_train.sum()), "conflicting": int(self.conflicting.sum()),
                "images": int(keep.sum()), "accuracy": acc}

    @property
    def clean_accuracy(self) -> float | None:
        """Accuracy on the images without a copy in the training data (see :attr:`leakage`)."""
        leak = self.leakage
        return None if leak is None else leak["accuracy"]

    @property
    def images_per_second(self) -> float | None:
        """Throughput of the prediction pass."""
        if not self.seconds:
            return None
        return self.n / self.seconds

    def most_confused(self, k: int = 3) -> list[tuple[int, int, float]]:
        """The ``k`` largest off-diagonal entries of the normalized confusion matrix.

        Args:
            k: How many pairs.

        Returns:
            ``[(true class, predicted class, share of the true class), ...]``, largest first,
            only pairs with a share above zero.
        """
        cm = self.confusion_matrix_normalized
        if cm is None:
            return []
        off = cm.copy()
        np.fill_diagonal(off, 0.0)
        flat = np.argsort(-off, axis=None, kind="stable")[:k]
        pairs = [(int(i // off.shape[1]), int(i % off.shape[1])) for i in flat]
        return [(t, p, float(off[t, p])) for t, p in pairs if off[t, p] > 0]

    # ------------------------------------------------------------------ JSON
    def to_dict(self, samples: bool = True) -> dict[str, Any]:
        """The result as the JSON-ready dict of the module docstring.

        Args:
            samples: Include the per-image arrays (needed by :meth:`from_dict`).

        Returns:
            The dict.
        """
        metrics = None
        if self.labeled:
            metrics = {
                "accuracy": _float_or_none(self.accuracy),
                "top2_accuracy": _float_or_none(self.top2_accuracy),
                "log_loss": _float_or_none(self.log_loss),
                "per_class": self.per_class,
                "confusion_matrix": self.confusion_matrix.tolist(),
                "confusion_matrix_normalized": self.confusion_matrix_normalized.tolist(),
            }
        out: dict[str, Any] = {
            "format": FORMAT, "version": VERSION,
            "model": self.model_name, "source": self.source, "split": self.split,
            "tta": self.tta, "images": self.n, "labeled": self.labeled, "note": self.note,
            "class_names": list(self.class_names),
            "metrics": metrics,
            "leakage": self.leakage,
            "timing": {"seconds": _float_or_none(self.seconds),
                       "images_per_second": _float_or_none(self.images_per_second)},
            "misclassified": None if self.misclassified is None else self.misclassified.tolist(),
        }
        if samples:
            out["samples"] = {
                "ids": self.ids.tolist(),
                "labels": None if self.labels is None else self.labels.tolist(),
                "predictions": self.predictions.tolist(),
                "confidences": self.confidences.tolist(),
                "probabilities": self.probabilities.tolist(),
                "in_train": None if self.in_train is None else self.in_train.tolist(),
                "conflicting": None if self.conflicting is None else self.conflicting.tolist(),
            }
        return out

    def to_json(self, path: str | os.PathLike | None = None, indent: int | None = 1,
                samples: bool = True) -> str:
        """Serialize to JSON; write it atomically to ``path`` when given.

        Args:
            path: Optional destination file.
            indent: JSON indentation (``None`` for the most compact form).
            samples: Include the per-image arrays.

        Returns:
            The JSON text.
        """
        text = json.dumps(self.to_dict(samples=samples), indent=indent, allow_nan=False)
        if path is not None:
            atomic_write_text(path, text + "\n")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "<dict>") -> EvaluationResult:
        """Rebuild a result from :meth:`to_dict` output (which must include ``samples``).

        Args:
            data: The dict.
            where: Name of its origin, for messages.

        Returns:
            The result; its metrics are recomputed from the stored probabilities and labels.

        Raises:
            DataFormatError: If the dict is not an evaluation result with samples.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataFormatError(f"{where}: not an emotionkit evaluation result (no "
                                  f"'format': {FORMAT!r})")
        if data.get("version", 0) > VERSION:
            raise DataFormatError(f"{where}: evaluation format version {data.get('version')} is "
                                  f"newer than this emotionkit reads ({VERSION})")
        s = data.get("samples")
        if not isinstance(s, dict) or "probabilities" not in s:
            raise DataFormatError(f"{where}: the result was saved without per-image samples; "
                                  "it cannot be read back")
        leak = data.get("leakage") or {}
        timing = data.get("timing") or {}
        try:
            probabilities = np.asarray(s["probabilities"], dtype=np.float32)
            if probabilities.size == 0:
                probabilities = probabilities.reshape(0, len(data["class_names"]))
            return cls(
                probabilities=probabilities,
                labels=None if s.get("labels") is None else np.asarray(s["labels"], np.int64),
                tta=data.get("tta", "none"), split=data.get("split"), source=data.get("source"),
                model_name=data.get("model"),
                ids=None if s.get("ids") is None else np.asarray(s["ids"]),
                in_train=s.get("in_train"), conflicting=s.get("conflicting"),
                train_source=leak.get("train_source"), train_images=leak.get("train_images"),
                seconds=timing.get("seconds"), class_names=tuple(data["class_names"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"{where}: malformed evaluation result ({exc})") from None

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike) -> EvaluationResult:
        """Read a result written by :meth:`to_json`.

        Args:
            text_or_path: The JSON text, or the path of a file holding it.

        Returns:
            The result.

        Raises:
            DataFormatError: If the file is missing or not an evaluation result.
        """
        text = str(text_or_path) if not isinstance(text_or_path, os.PathLike) else None
        where = "<json>"
        if text is None or not text.lstrip().startswith("{"):
            where = str(text_or_path)
            try:
                text = Path(text_or_path).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise DataFormatError(f"{where}: no such file") from None
            except OSError as exc:
                raise DataFormatError(f"{where}: cannot read ({exc})") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise DataFormatError(f"{where}: not JSON ({exc})") from None
        return cls.from_dict(data, where)

    # ------------------------------------------------------------------ text
    def summary(self) -> str:
        """A readable multi-line report: headline metrics, per-class table, leakage, confusions."""
        what = f"{self.model_name or 'model'} on {self.split or 'all images'}"
        if self.source:
            what += f" of {self.source}"
        lines = [f"Evaluation of {what}: {self.n} images, TTA {self.tta}"]
        if not self.labeled:
            lines.append(f"Note: {self.note}.")
            counts = np.bincount(self.predictions, minlength=len(self.class_names))
            lines.append("Predicted: " + ", ".join(
                f"{DISPLAY_NAMES[i] if len(self.class_names) == 7 else self.class_names[i]} "
                f"{int(c)}" for i, c in enumerate(counts)))
        else:
            lines.append(f"accuracy {self.accuracy:.4f}   top-2 accuracy {self.top2_accuracy:.4f}"
                         f"   log loss {self.log_loss:.4f}")
            lines.append("")
            lines.append(f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}")
            names = DISPLAY_NAMES if self.class_names == CLASS_NAMES else self.class_names
            for i, name in enumerate(names):
                lines.append(f"{name:<10} {self.precision[i]:>9.4f} {self.recall[i]:>7.4f} "
                             f"{self.f1[i]:>7.4f} {int(self.support[i]):>8d}")
            confused = self.most_confused(3)
            if confused:
                lines.append("")
                lines.append("Most confused: " + "; ".join(
                    f"{names[t]} -> {names[p]} {share:.0%}" for t, p, share in confused))
        leak = self.leakage
        if leak is not None:
            lines.append("")
            line = (f"Leakage: {leak['excluded']} of {self.n} images have an exact copy in the "
                    f"training data ({leak['conflicting']} with another label there)")
            if leak["accuracy"] is not None:
                line += f"; accuracy on the other {leak['images']}: {leak['accuracy']:.4f}"
            lines.append(line)
        if self.images_per_second:
            lines.append(f"Speed: {self.images_per_second:,.0f} images/s "
                         f"({self.seconds:.2f} s)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        acc = "unlabeled" if self.accuracy is None else f"accuracy={self.accuracy:.4f}"
        return (f"EvaluationResult({self.n} images, {acc}, tta={self.tta!r}, "
                f"split={self.split!r})")


__all__ = ["EvaluationResult", "FORMAT", "VERSION", "UNLABELED_NOTE"]
