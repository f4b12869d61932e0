"""Find test images that also occur, byte for byte, in the training data.

FER2013 holds several hundred images shared between its Training and test splits; a model that
memorised them scores higher on the test split than on unseen faces. Images are compared by
their exact uint8 bytes (no hashing, so no collisions), with the vectorised grouping of
:func:`emotionkit.data.audit.duplicate_groups`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.audit import duplicate_groups


@dataclass(frozen=True)
class TrainOverlap:
    """Which test images have an exact copy in the training images.

    Attributes:
        in_train: Boolean (N_test,): True where the image also occurs in the training data.
        conflicting: Boolean (N_test,): True where some training copy carries a different
            label than the test image (all False when either side is unlabeled).
    """

    in_train: np.ndarray
    conflicting: np.ndarray

    @property
    def count(self) -> int:
        """Number of test images with a copy in the training data."""
        return int(self.in_train.sum())


def train_overlap(
    test_images: np.ndarray,
    train_images: np.ndarray,
    test_labels: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
) -> TrainOverlap:
    """Mark the test images whose exact bytes also appear among the training images.

    Args:
        test_images: uint8 (N, 48, 48).
        train_images: uint8 (M, 48, 48).
        test_labels: Optional (N,) labels, to find copies whose labels disagree.
        train_labels: Optional (M,) labels.

    Returns:
        A :class:`TrainOverlap`.
    """
    n_test, n_train = len(test_images), len(train_images)
    in_train = np.zeros(n_test, dtype=bool)
    conflicting = np.zeros(n_test, dtype=bool)
    if n_test == 0 or n_train == 0:
        return TrainOverlap(in_train, conflicting)
    if test_images.shape[1:] != train_images.shape[1:]:
        return TrainOverlap(in_train, conflicting)
    combined = np.concatenate([np.asarray(train_images), np.asarray(test_images)])
    labeled = test_labels is not None and train_labels is not None
    for group in duplicate_groups(combined):
        if group[0] >= n_train:  # ascending: no training member
            continue
        tests = group[group >= n_train] - n_train
        if not tests.size:
            continue
        in_train[tests] = True
        if labeled:
            train_set = np.unique(np.asarray(train_labels)[group[group < n_train]])
            conflicting[tests] = [not (train_set.size == 1 and train_set[0] == test_labels[t])
                                  for t in tests]
    return TrainOverlap(in_train, conflicting)


__all__ = ["TrainOverlap", "train_overlap"]
