"""Figures: every function writes a valid, non-empty PNG; bad input gives clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ek_eval_helpers import IndexedLogits

from emotionkit.data import Dataset
from emotionkit.errors import ConfigError, DataFormatError
from emotionkit.evaluation import (
    Evaluator,
    plot_confusion_matrix,
    plot_contact_sheet,
    plot_mistakes,
    plot_per_class_accuracy,
    plot_training_curves,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _png(path, min_bytes=5_000):
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > min_bytes
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.01  # not a blank canvas
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temps
    return image


def _history(name, n, slope):
    return {"model_name": name, "monitor": "val_acc", "best_epoch": n,
            "epochs": [{"epoch": i + 1, "train_loss": 2 - slope * i, "train_acc": 0.2 + slope * i,
                        "val_loss": 2.1 - slope * i, "val_acc": 0.18 + slope * i, "lr": 1e-3,
                        "seconds": 1.0} for i in range(n)]}


@pytest.fixture(scope="module")
def result(hand_set):
    ds, model, _ = hand_set
    return Evaluator(model, device="cpu").evaluate(ds)


def test_confusion_matrix_and_per_class_figures(result, tmp_path):
    _png(plot_confusion_matrix(result, tmp_path / "cm.png"))
    _png(plot_confusion_matrix(result, tmp_path / "cm_counts.png", normalized=False))
    _png(plot_per_class_accuracy(result, tmp_path / "per_class.png"))


def test_mistakes_and_contact_sheet(result, hand_set, tmp_path):
    ds, _, _ = hand_set
    _png(plot_mistakes(result, ds, tmp_path / "mistakes.png", n=3))
    _png(plot_contact_sheet(result, ds, tmp_path / "sheet.png", n=49))
    _png(plot_contact_sheet(result, ds.images, tmp_path / "sheet_array.png", n=4, seed=None))


def test_grids_find_the_evaluated_split(hand_set, tmp_path):
    ds, model, _ = hand_set
    both = Dataset(np.concatenate([ds.images, ds.images]), np.concatenate([ds.labels] * 2),
                   ["Training"] * 10 + ["PublicTest"] * 10)
    res = Evaluator(model, device="cpu").evaluate(both, split="PublicTest")
    _png(plot_mistakes(res, both, tmp_path / "m.png"))  # the full set: its split is taken
    with pytest.raises(ConfigError, match="covers 10 images but the dataset has 3"):
        plot_contact_sheet(res, ds.images[:3], tmp_path / "x.png")


def test_no_mistakes_and_unlabeled(hand_set, tmp_path):
    ds, _, table = hand_set
    perfect = np.zeros_like(table)
    perfect[np.arange(len(ds)), ds.labels] = 4.0
    res = Evaluator(IndexedLogits(perfect), device="cpu").evaluate(ds)
    assert res.accuracy == 1.0
    _png(plot_mistakes(res, ds, tmp_path / "none.png"), min_bytes=2_000)
    unlabeled = Dataset(ds.images)
    res = Evaluator(IndexedLogits(table), device="cpu").evaluate(unlabeled)
    _png(plot_contact_sheet(res, unlabeled, tmp_path / "sheet.png"))
    with pytest.raises(ConfigError, match="needs labeled data"):
        plot_confusion_matrix(res, tmp_path / "cm.png")
    with pytest.raises(ConfigError, match="needs labeled data"):
        plot_mistakes(res, unlabeled, tmp_path / "m.png")


def test_training_curves_from_dicts_histories_and_run_dirs(tmp_path):
    cnn, dnn = _history("cnn", 12, 0.03), _history("dnn", 8, 0.01)
    dnn["epochs"][2]["val_acc"] = None  # missing values are skipped, not plotted as zero
    _png(plot_training_curves({"CNN": cnn, "DNN": dnn}, tmp_path / "a" / "curves.png"))
    run = tmp_path / "run-cnn"
    run.mkdir()
    (run / "history.json").write_text(json.dumps(cnn))
    _png(plot_training_curves([run], tmp_path / "b" / "curves.png"))
    _png(plot_training_curves({"from file": run / "history.json"}, tmp_path / "c" / "c.png"))
    training = pytest.importorskip("emotionkit.training")
    _png(plot_training_curves({"h": training.History.from_dict(cnn)},
                              tmp_path / "d" / "curves.png"))


def test_training_curves_errors(tmp_path):
    with pytest.raises(DataFormatError, match="not a training run directory"):
        plot_training_curves([tmp_path / "nope"], tmp_path / "x.png")
    with pytest.raises(DataFormatError, match="'epochs' list"):
        plot_training_curves({"bad": {"model_name": "x"}}, tmp_path / "x.png")
    with pytest.raises(ConfigError, match="at least one"):
        plot_training_curves({}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
