"""Audit and clean on a constructed set with known blanks, duplicates and conflicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotionkit import ConfigError
from emotionkit.data import Dataset


def _face(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8)


@pytest.fixture
def known():
    """Index: content (split, label)
    0: blank 0 (T,0)   1: A (T,1)   2: A (T,1)   3: B (T,2)   4: C (T,3)   5: blank 128 (P,5)
    6: B (P,2)   7: C (P,4)   8: D (T,6)   9: A (T,1)   10: E (P,0)   11: blank 0 (P,0)
    12: nearly blank (T,3)
    A: triple within Training; B: shared Training/PublicTest, same label; C: shared, conflicting
    labels; blanks are not reported as duplicates of each other.
    """
    A, B, C, D, E = (_face(s) for s in range(5))
    near = np.full((48, 48), 40, np.uint8)
    near[0, 0] = 41
    images = np.stack([np.zeros((48, 48), np.uint8), A, A, B, C, np.full((48, 48), 128, np.uint8),
                       B, C, D, A, E, np.zeros((48, 48), np.uint8), near])
    labels = [0, 1, 1, 2, 3, 5, 2, 4, 6, 1, 0, 0, 3]
    splits = ["Training"] * 5 + ["PublicTest"] * 3 + ["Training"] * 2 + ["PublicTest"] * 2 \
        + ["Training"]
    return Dataset(images, labels, splits, source="known", ids=np.arange(13) + 100)


def test_audit_finds_known_problems(known):
    rep = known.audit()
    assert rep.blank == [0, 5, 11]
    assert rep.blank_ids == [100, 105, 111]
    groups = {g.indices: g for g in rep.groups}
    assert set(groups) == {(1, 2, 9), (3, 6), (4, 7)}
    assert not groups[(1, 2, 9)].cross_split and not groups[(1, 2, 9)].conflicting
    assert groups[(3, 6)].cross_split and not groups[(3, 6)].conflicting
    assert groups[(4, 7)].cross_split and groups[(4, 7)].conflicting
    assert groups[(4, 7)].labels == (3, 4) and groups[(4, 7)].splits == ("Training", "PublicTest")
    s = rep.summary()
    assert s["blank_images"] == 3
    assert s["duplicate_groups"] == 3 and s["duplicate_copies"] == 2 + 1 + 1
    assert s["groups_within_split"] == {"Training": 1, "PublicTest": 0}
    assert s["groups_across_splits"] == {"Training/PublicTest": 2}
    assert s["conflicting_label_groups"] == 1
    assert s["conflicting_label_groups_across_splits"] == 1


def test_blank_threshold(known):
    assert known.audit(blank_std=0.5).blank == [0, 5, 11, 12]  # std of 'near' is ~0.02


def test_report_is_json_ready(known):
    d = known.audit().to_dict()
    again = json.loads(json.dumps(d))
    assert again["blank"] == [0, 5, 11]
    assert {tuple(g["indices"]) for g in again["groups"]} == {(1, 2, 9), (3, 6), (4, 7)}
    conflicting = [g for g in again["groups"] if g["conflicting"]]
    assert conflicting[0]["labels"] == [3, 4]


def test_clean_default(known):
    cleaned = known.clean()
    rep = cleaned.clean_report
    # blanks out; conflicting group C out entirely; B keeps its PublicTest copy (keep="eval");
    # the within-Training triple A stays (duplicates="cross-split")
    assert rep.dropped == {"blank": [0, 5, 11], "conflicting": [4, 7], "duplicate": [3]}
    assert list(cleaned.ids) == [101, 102, 106, 108, 109, 110, 112]
    assert rep.images_before == 13 and rep.images_after == 7
    assert json.loads(json.dumps(rep.to_dict()))["dropped_counts"]["blank"] == 3
    assert known.clean_report is None and len(known) == 13  # the input is untouched


def test_clean_all_duplicates_keep_train(known):
    cleaned = known.clean(duplicates="all", keep="train")
    assert cleaned.clean_report.dropped["duplicate"] == [2, 6, 9]
    assert list(cleaned.ids) == [101, 103, 108, 110, 112]
    audit_after = cleaned.audit()
    assert audit_after.groups == [] and audit_after.blank == []


def test_clean_keep_first_and_split_name(known):
    assert known.clean(keep="first").clean_report.dropped["duplicate"] == [6]
    assert known.clean(keep="PublicTest").clean_report.dropped["duplicate"] == [3]


def test_clean_nothing(known):
    cleaned = known.clean(blank=False, duplicates="none", conflicting=False)
    assert len(cleaned) == 13
    assert cleaned.clean_report.dropped == {"blank": [], "conflicting": [], "duplicate": []}


def test_conflicting_only(known):
    cleaned = known.clean(blank=False, duplicates="none", conflicting=True)
    assert cleaned.clean_report.dropped["conflicting"] == [4, 7]


def test_clean_bad_options(known):
    with pytest.raises(ConfigError, match="duplicates must be one of cross-split, all, none"):
        known.clean(duplicates="some")
    with pytest.raises(ConfigError, match="keep must be 'eval', 'train', 'first' or a split name"):
        known.clean(keep="Validation")


def test_unlabeled_and_empty(known):
    unlabeled = Dataset(known.images, None, known.splits)
    rep = unlabeled.audit()
    assert len(rep.groups) == 3 and rep.conflicting() == []
    empty = Dataset(np.zeros((0, 48, 48), np.uint8), np.zeros(0, np.int64))
    assert empty.audit().summary()["duplicate_groups"] == 0
    assert len(empty.clean()) == 0
