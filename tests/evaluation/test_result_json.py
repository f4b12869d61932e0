"""EvaluationResult: JSON round trip, summary text."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ek_eval_helpers import indexed_images

from emotionkit.data import Dataset
from emotionkit.errors import DataFormatError
from emotionkit.evaluation import EvaluationResult, Evaluator


def _same(a: EvaluationResult, b: EvaluationResult) -> None:
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_array_equal(a.confidences, b.confidences)
    for name in ("labels", "in_train", "conflicting", "confusion_matrix", "precision", "recall",
                 "f1", "support", "misclassified"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y)
    assert a.ids.tolist() == b.ids.tolist()
    for name in ("accuracy", "top2_accuracy", "log_loss", "tta", "split", "source", "model_name",
                 "seconds", "leakage", "class_names"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.to_dict() == b.to_dict()


def test_round_trip_through_text_and_file(hand_set, tmp_path):
    ds, model, _ = hand_set
    train = Dataset(ds.images[:3], ds.labels[:3], "Training")
    res = Evaluator(model, device="cpu").evaluate(ds, tta="flip", train=train)
    text = res.to_json()
    _same(res, EvaluationResult.from_json(text))
    path = tmp_path / "sub" / "metrics.json"
    res.to_json(path)
    back = EvaluationResult.from_json(path)
    _same(res, back)
    assert back.leakage["excluded"] == 3
    data = json.loads(path.read_text())
    assert data["metrics"]["accuracy"] == res.accuracy
    assert data["metrics"]["confusion_matrix"] == res.confusion_matrix.tolist()
    assert data["misclassified"] == res.misclassified.tolist()
    assert list(data["metrics"]["per_class"]) == list(res.class_names)
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]  # no temp files


def test_round_trip_unlabeled_with_string_ids(hand_set):
    ds, model, _ = hand_set
    unlabeled = Dataset(ds.images, None, "Test", ids=[f"img{i}.png" for i in range(len(ds))])
    res = Evaluator(model, device="cpu").evaluate(unlabeled)
    back = EvaluationResult.from_json(res.to_json(indent=None))
    _same(res, back)
    assert back.ids.tolist()[:2] == ["img0.png", "img1.png"] and back.note == res.note


def test_results_without_samples_or_foreign_json_are_refused(hand_set, tmp_path):
    ds, model, _ = hand_set
    res = Evaluator(model, device="cpu").evaluate(ds)
    with pytest.raises(DataFormatError, match="without per-image samples"):
        EvaluationResult.from_json(res.to_json(samples=False))
    with pytest.raises(DataFormatError, match="not an emotionkit evaluation result"):
        EvaluationResult.from_json('{"epochs": []}')
    with pytest.raises(DataFormatError, match="no such file"):
        EvaluationResult.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match="bad.json: not JSON"):
        EvaluationResult.from_json(bad)


def test_summary_reads_well(hand_set):
    ds, model, _ = hand_set
    text = Evaluator(model, device="cpu").evaluate(ds, tta="flip").summary()
    assert "accuracy 0.6000" in text and "top-2 accuracy 0.8000" in text
    assert "TTA flip" in text and "Surprise" in text and "Most confused:" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("Angry"))
    assert line.split()[1:] == ["0.5000", "0.5000", "0.5000", "2"]


def test_constructed_result_metrics():
    probs = np.eye(7, dtype=np.float32)[[0, 1, 1]]
    res = EvaluationResult(probs, labels=[0, 1, 2])
    assert res.accuracy == pytest.approx(2 / 3) and res.misclassified.tolist() == [2]
    with pytest.raises(DataFormatError, match=r"probabilities must be \(N, 7\)"):
        EvaluationResult(np.zeros((3, 5)))
    assert len(res) == 3 and Dataset(indexed_images(1)).has_labels is False
