"""Classification metrics from labels and predicted probabilities (numpy in, numpy out).

Every function takes the true labels ``(N,)`` and the class probabilities ``(N, C)`` (rows sum to
one) or the predicted labels, and always reports all ``C`` classes, also those that never occur in
the truth or in the predictions: their precision/recall/F1 are 0 (scikit-learn's
``zero_division=0``) and their row of the normalized confusion matrix is all zeros.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError


def _check(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ConfigError(f"probabilities must be (N, classes), got shape {probabilities.shape}")
    if labels.shape != (probabilities.shape[0],):
        raise ConfigError(f"{labels.shape[0] if labels.ndim else 0} labels for "
                          f"{probabilities.shape[0]} probability rows")
    if labels.size and (labels.min() < 0 or labels.max() >= probabilities.shape[1]):
        raise ConfigError(f"labels must be in 0..{probabilities.shape[1] - 1}")
    return labels.astype(np.int64, copy=False), probabilities


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray,
                     num_classes: int = 7) -> np.ndarray:
    """Raw confusion counts; rows are true classes, columns predicted classes.

    Args:
        labels: True labels (N,).
        predictions: Predicted labels (N,).
        num_classes: Number of classes (rows and columns), whether present or not.

    Returns:
        int64 array (num_classes, num_classes).
    """
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    if len(labels) == 0:
        return np.zeros((num_classes, num_classes), np.int64)
    return sk_confusion_matrix(labels, predictions, labels=np.arange(num_classes)).astype(np.int64)


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Divide each row by its sum; rows that sum to zero stay zero (never NaN).

    Args:
        matrix: A (C, C) count matrix.

    Returns:
        float64 (C, C): each row with samples sums to one.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)


def top_k_accuracy(labels: np.ndarray, probabilities: np.ndarray, k: int = 2) -> float:
    """Share of samples whose true class is among the ``k`` most probable ones.

    Ties are broken towards the lower class index (a stable sort), as ``argmax`` does.

    Args:
        labels: True labels (N,).
        probabilities: (N, C).
        k: How many top classes count as a hit.

    Returns:
        The accuracy in [0, 1] (NaN for N = 0).
    """
    labels, probabilities = _check(labels, probabilities)
    if len(labels) == 0:
        return float("nan")
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == labels[:, None]).any(axis=1)))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (scikit-learn's ``log_loss``).

    Probabilities are taken in float64 and renormalized per row, so float32 rounding never trips
    scikit-learn's sum-to-one check; they are clipped by scikit-learn's machine epsilon.

    Args:
        labels: True labels (N,).
        probabilities: (N, C).

    Returns:
        The loss in nats (NaN for N = 0).
    """
    from sklearn.metrics import log_loss as sk_log_loss

    labels, probabilities = _check(labels, probabilities)
    if len(labels) == 0:
        return float("nan")
    p = probabilities.astype(np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    return float(sk_log_loss(labels, p, labels=np.arange(p.shape[1])))


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Every metric of an :class:`~emotionkit.evaluation.EvaluationResult` in one call.

    Args:
        labels: True labels (N,).
        probabilities: (N, C) class probabilities.

    Returns:
        ``{"accuracy", "top2_accuracy", "log_loss", "precision", "recall", "f1", "support",
        "confusion_matrix"}``: floats, float64 (C,) arrays, int64 (C,) support and the int64
        (C, C) confusion matrix.
    """
    from sklearn.metrics import precision_recall_fscore_support

    labels, probabilities = _check(labels, probabilities)
    num_classes = probabilities.shape[1]
    predictions = probabilities.argmax(axis=1)
    if len(labels):
        precision, recall, f1, support = precision_recall_fscore_support(
            labels, predictions, labels=np.arange(num_classes), zero_division=0)
        accuracy = float(np.mean(predictions == labels))
    else:
        precision = recall = f1 = np.zeros(num_classes)
        support = np.zeros(num_classes, np.int64)
        accuracy = float("nan")
    return {
        "accuracy": accuracy,
        "top2_accuracy": top_k_accuracy(labels, probabilities, 2),
        "log_loss": log_loss(labels, probabilities),
        "precision": np.asarray(precision, np.float64),
        "recall": np.asarray(recall, np.float64),
        "f1": np.asarray(f1, np.float64),
        "support": np.asarray(support, np.int64),
        "confusion_matrix": confusion_matrix(labels, predictions, num_classes),
    }


__all__ = ["confusion_matrix", "normalize_rows", "top_k_accuracy", "log_loss",
           "classification_metrics"]
