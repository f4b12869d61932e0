"""The Dataset container: construction checks, indexing, splits, statistics, tensors, saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotionkit import ConfigError, DataFormatError, UnknownNameError
from emotionkit.data import CLASS_NAMES, Dataset, compute_stats


def _const(values) -> np.ndarray:
    return np.stack([np.full((48, 48), v, np.uint8) for v in values])


def test_constructor_checks():
    imgs = _const([1, 2])
    with pytest.raises(DataFormatError, match=r"shape \(N, 48, 48\), got \(2, 48, 47\)"):
        Dataset(imgs[:, :, :47])
    with pytest.raises(DataFormatError, match="must be uint8, got float32"):
        Dataset(imgs.astype(np.float32))
    with pytest.raises(DataFormatError, match="label 7 at index 1 is outside 0..6"):
        Dataset(imgs, [0, 7])
    with pytest.raises(DataFormatError, match="labels must be integers"):
        Dataset(imgs, [0.0, 1.0])
    with pytest.raises(DataFormatError, match="1 labels for 2 images"):
        Dataset(imgs, [0])
    with pytest.raises(DataFormatError, match="3 split names for 2 images"):
        Dataset(imgs, [0, 1], ["a", "b", "c"])
    with pytest.raises(DataFormatError, match="1 ids for 2 images"):
        Dataset(imgs, [0, 1], ids=[5])
    ds = Dataset(imgs, [0, 1])
    assert list(ds.splits) == ["Training", "Training"] and list(ds.ids) == [0, 1]
    assert ds.labels.dtype == np.int64


def test_indexing_protocol_and_dataloader(tiny):
    x, y = tiny[3]
    assert x.shape == (1, 48, 48) and x.dtype == torch.float32
    assert torch.equal(x[0], torch.from_numpy(tiny.images[3]).float() / 255)
    assert y == int(tiny.labels[3])
    loader = torch.utils.data.DataLoader(tiny, batch_size=8)
    xb, yb = next(iter(loader))
    assert xb.shape == (8, 1, 48, 48) and torch.equal(yb, torch.from_numpy(tiny.labels[:8]))
    part = tiny[[0, 2]]
    assert isinstance(part, Dataset) and len(part) == 2 and list(part.ids) == [0, 2]
    assert len(tiny[tiny.labels == 3]) == 3
    assert len(tiny[[]]) == 0
    assert len(tiny[2:5]) == 3


def test_split_and_names(tiny):
    assert tiny.split_names == ["Training", "PublicTest"]
    train = tiny.split("training")  # case-insensitive
    assert len(train) == 14 and set(train.splits) == {"Training"}
    with pytest.raises(UnknownNameError, match="unknown split 'PrivateTest'"):
        tiny.split("PrivateTest")
    assert tiny.split_counts() == {"Training": 14, "PublicTest": 7}


def test_stratified_split_proportions():
    labels = np.repeat(np.arange(7), [100, 10, 50, 200, 30, 40, 60])
    ds = Dataset(np.zeros((len(labels), 48, 48), np.uint8), labels, ids=np.arange(len(labels)))
    rest, held = ds.stratified_split(0.2, seed=1)
    expected = {n: round(0.2 * c) for n, c in ds.class_counts().items()}
    assert held.class_counts() == expected
    assert rest.class_counts() == {n: ds.class_counts()[n] - expected[n] for n in CLASS_NAMES}
    assert set(held.splits) == {"Validation"} and set(rest.splits) == {"Training"}
    assert sorted(list(rest.ids) + list(held.ids)) == list(range(len(labels)))  # a partition
    again = ds.stratified_split(0.2, seed=1)[1]
    assert list(again.ids) == list(held.ids)
    assert list(ds.stratified_split(0.2, seed=2)[1].ids) != list(held.ids)
    with pytest.raises(ConfigError, match=r"fraction must be in \(0, 1\)"):
        ds.stratified_split(1.0)


def test_stratified_split_unlabeled():
    ds = Dataset(np.zeros((50, 48, 48), np.uint8))
    rest, held = ds.stratified_split(0.3, seed=0)
    assert len(held) == 15 and len(rest) == 35


def test_class_counts_and_describe():
    images = _const([0, 255, 10, 20])
    ds = Dataset(images, [3, 3, 0, 6], ["Training", "Training", "PublicTest", "PublicTest"])
    assert ds.class_counts() == {"angry": 1, "disgust": 0, "fear": 0, "happy": 2, "sad": 0,
                                 "surprise": 0, "neutral": 1}
    d = ds.describe()
    assert d["images"] == 4 and d["labeled"] and d["skipped"] == 0
    assert d["pixel_mean"] == pytest.approx((0 + 255 + 10 + 20) / 4)
    assert d["pixel_std"] == pytest.approx(np.std([0, 255, 10, 20]))
    assert (d["pixel_min"], d["pixel_max"]) == (0, 255)
    assert d["splits"]["Training"]["classes"]["happy"] == 2
    assert d["splits"]["Training"]["pixel_mean"] == pytest.approx(127.5)
    assert d["splits"]["PublicTest"]["pixel_std"] == pytest.approx(5.0)
    empty = Dataset(np.zeros((0, 48, 48), np.uint8)).describe()
    assert empty["images"] == 0 and empty["pixel_mean"] is None


def test_to_tensor(tiny):
    x, y = tiny.to_tensor("cpu")
    assert x.shape == (len(tiny), 1, 48, 48) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.equal(x[:, 0], torch.from_numpy(tiny.images).float() / 255)
    assert y.dtype == torch.int64 and torch.equal(y, torch.from_numpy(tiny.labels))
    assert Dataset(tiny.images, None).to_tensor()[1] is None


def test_save_load_roundtrip(tiny, tmp_path):
    tiny.save(tmp_path / "t.npz")
    back = Dataset.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.images, tiny.images)
    np.testing.assert_array_equal(back.labels, tiny.labels)
    assert list(back.splits) == list(tiny.splits) and back.split_names == tiny.split_names


def test_compute_stats_uses_training_split():
    images = _const([0, 255, 0, 255, 100])
    ds = Dataset(images, [0] * 5, ["Training"] * 4 + ["PublicTest"])
    mean, std = compute_stats(ds)
    assert mean == pytest.approx(0.5) and std == pytest.approx(0.5)
    mean_all, _ = compute_stats(ds, split=None)
    assert mean_all == pytest.approx((2 * 255 + 100) / (5 * 255))
    only_test = Dataset(images[4:], [0], ["PublicTest"])
    assert compute_stats(only_test)[0] == pytest.approx(100 / 255)  # no Training: all images


def test_compute_stats_tensors_and_errors():
    x = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(1, 1, 2, 2)
    mean, std = compute_stats(x)
    assert mean == pytest.approx(0.4375)
    assert std == pytest.approx(float(np.std([0.0, 0.25, 0.5, 1.0])))
    assert compute_stats(np.array([[0, 255]], np.uint8)) == pytest.approx((0.5, 0.5))
    with pytest.raises(ConfigError, match=r"float images must be in \[0, 1\]"):
        compute_stats(x * 255)
    with pytest.raises(ConfigError, match="no images"):
        compute_stats(torch.zeros(0))


def test_train_val_split_is_one_rule():
    labels = np.arange(70) % 7
    splits = np.array(["Training"] * 50 + ["PublicTest"] * 20, dtype=object)
    ds = Dataset(np.zeros((70, 48, 48), np.uint8), labels, splits=splits)
    train, val = ds.train_val_split()  # auto: PublicTest when present
    assert (len(train), len(val)) == (50, 20) and val.split_names == ["PublicTest"]
    no_val_train, no_val = ds.train_val_split(None)
    assert no_val is None and len(no_val_train) == 50
    rest, held = ds.train_val_split(0.2, seed=3)
    assert held.split_names == ["Validation"] and len(rest) + len(held) == 50
    expected = [round(0.2 * n) for n in np.bincount(train.labels, minlength=7)]
    assert np.bincount(held.labels, minlength=7).tolist() == expected
    again = ds.train_val_split(0.2, seed=3)[1]
    assert np.array_equal(again.labels, held.labels)
    only_train = Dataset(np.zeros((70, 48, 48), np.uint8), labels)
    rest, held = only_train.train_val_split("auto", seed=0)  # no PublicTest: a tenth
    assert (len(rest), len(held)) == (63, 7)
    with pytest.raises(UnknownNameError, match="PrivateTest"):
        ds.train_val_split("PrivateTest")
    with pytest.raises(ConfigError, match="is the training split"):
        ds.train_val_split("Training")
    with pytest.raises(ConfigError, match="fraction must be in"):
        ds.train_val_split(1.5)
