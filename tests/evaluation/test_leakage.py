"""Leakage-aware scores: test images with an exact copy in the training data."""

from __future__ import annotations

import numpy as np
import pytest
from ek_eval_helpers import IndexedLogits, indexed_images

from emotionkit.data import Dataset
from emotionkit.evaluation import Evaluator, train_overlap


@pytest.fixture(scope="module")
def sets():
    test_images = indexed_images(8, seed=1)
    test_labels = np.array([0, 1, 2, 3, 4, 5, 6, 5])
    rng = np.random.default_rng(7)
    train_images = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
    train_labels = np.array([2, 2, 2, 2, 2, 2])
    train_images[2] = test_images[1]          # copy, label 2 in train vs 1 in test: conflicting
    train_images[0] = test_images[4]          # copy
    train_labels[0] = 4                       # same label: not conflicting
    train_images[5] = test_images[4]          # a second training copy of the same face
    train_labels[5] = 4
    near = test_images[6].copy()
    near[0, 0] ^= 1                           # one grey level differs: not a duplicate
    train_images[3] = near
    test_images[7] = test_images[5]           # duplicated within the test set only
    train = Dataset(train_images, train_labels, "Training", source="train")
    test = Dataset(test_images, test_labels, "PublicTest", source="test")
    return train, test


def test_overlap_marks_exact_copies_only(sets):
    train, test = sets
    overlap = train_overlap(test.images, train.images, test.labels, train.labels)
    assert np.flatnonzero(overlap.in_train).tolist() == [1, 4]
    assert np.flatnonzero(overlap.conflicting).tolist() == [1]
    assert overlap.count == 2
    none = train_overlap(test.images, train.images[:0])
    assert not none.in_train.any()


def test_clean_accuracy_leaves_out_the_copies(sets):
    train, test = sets
    # predictions: right on 0, 1, 2, 4, wrong on 3, 5, 6, 7
    preds = [0, 1, 2, 0, 4, 0, 0, 0]
    table = np.zeros((8, 7))
    table[np.arange(8), preds] = 5.0
    res = Evaluator(IndexedLogits(table), device="cpu").evaluate(test, train=train)
    assert res.accuracy == pytest.approx(4 / 8)
    leak = res.leakage
    assert leak["excluded"] == 2 and leak["conflicting"] == 1 and leak["images"] == 6
    # left: 0, 2, 3, 5, 6, 7 -> right on 0 and 2 only
    assert leak["accuracy"] == pytest.approx(2 / 6) and res.clean_accuracy == leak["accuracy"]
    assert leak["train_images"] == 6 and leak["train_source"] == "train"
    assert "2 of 8 images have an exact copy" in res.summary()
    assert Evaluator(IndexedLogits(table), device="cpu").evaluate(test).leakage is None


def test_full_file_as_training_data_uses_its_training_split(sets):
    train, test = sets
    both = Dataset(np.concatenate([train.images, test.images]),
                   np.concatenate([train.labels, test.labels]),
                   ["Training"] * 6 + ["PublicTest"] * 8, source="fer")
    table = np.zeros((8, 7))
    res = Evaluator(IndexedLogits(table), device="cpu").evaluate(both, split="PublicTest",
                                                                 train=both)
    assert res.leakage["excluded"] == 2 and res.leakage["train_images"] == 6
