"""Metrics against values worked out by hand on a fixed prediction set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ek_eval_helpers import HAND_SET, RUNNER_UP_LOGIT, IndexedLogits, Moody, indexed_images

from emotionkit.data import Dataset
from emotionkit.errors import ConfigError, UnknownNameError
from emotionkit.evaluation import Evaluator, normalize_rows, top_k_accuracy


@pytest.fixture(scope="module")
def result(hand_set):
    ds, model, _ = hand_set
    return Evaluator(model, device="cpu").evaluate(ds)


def test_accuracy_and_top2_by_hand(result):
    # right: 0, 2, 3, 4, 6, 9 -> 6/10; top-2 also catches samples 1 and 7 -> 8/10
    assert result.accuracy == pytest.approx(0.6, abs=1e-12)
    assert result.top2_accuracy == pytest.approx(0.8, abs=1e-12)
    assert result.predictions.tolist() == [p for _, p, _, _ in HAND_SET]


def test_confusion_matrix_by_hand(result):
    expected = np.zeros((7, 7), int)
    for (t, p) in [(0, 0), (0, 1), (1, 1), (2, 2), (3, 3), (3, 6), (4, 4), (5, 0), (5, 4),
                   (2, 2)]:
        expected[t, p] += 1
    assert result.confusion_matrix.dtype == np.int64
    np.testing.assert_array_equal(result.confusion_matrix, expected)
    np.testing.assert_array_equal(result.confusion_matrix[0], [1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(result.confusion_matrix[5], [1, 0, 0, 0, 1, 0, 0])
    norm = result.confusion_matrix_normalized
    np.testing.assert_allclose(norm[0], [0.5, 0.5, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(norm[3], [0, 0, 0, 0.5, 0, 0, 0.5])
    np.testing.assert_array_equal(norm[6], np.zeros(7))  # class 6 absent: zeros, not NaN
    assert not np.isnan(norm).any()


def test_per_class_report_by_hand(result):
    # class 5 is never predicted (precision 0 by zero_division), class 6 never true (recall 0)
    np.testing.assert_allclose(result.precision, [0.5, 0.5, 1.0, 1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(result.recall, [0.5, 1.0, 1.0, 0.5, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(result.f1, [0.5, 2 / 3, 1.0, 2 / 3, 2 / 3, 0.0, 0.0])
    np.testing.assert_array_equal(result.support, [2, 1, 2, 2, 1, 2, 0])
    assert result.per_class["surprise"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                            "support": 2}
    np.testing.assert_allclose(result.per_class_accuracy, result.recall)


def test_log_loss_matches_the_formula(result, hand_set):
    _, _, table = hand_set
    z = table.astype(np.float64)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    labels = [t for t, _, _, _ in HAND_SET]
    manual = -np.mean(logp[np.arange(len(labels)), labels])
    assert result.log_loss == pytest.approx(manual, rel=1e-6)


def test_confidences_and_misclassified_order(result):
    # confidence of a prediction with logit a (runner-up 0.5, five zeros): e^a/(e^a+e^0.5+5)
    def conf(a):
        return math.exp(a) / (math.exp(a) + math.exp(RUNNER_UP_LOGIT) + 5)

    expected = [conf(a) for _, _, a, _ in HAND_SET]
    np.testing.assert_allclose(result.confidences, expected, rtol=1e-6)
    # mistakes 1 (a=2), 5 (a=4), 7 (a=1.5), 8 (a=3): most confident first
    assert result.misclassified.tolist() == [5, 8, 1, 7]
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_uniform_logits_give_log7():
    ds = Dataset(indexed_images(4), np.array([0, 1, 2, 6]))
    res = Evaluator(IndexedLogits(np.zeros((4, 7))), device="cpu").evaluate(ds)
    assert res.log_loss == pytest.approx(math.log(7), rel=1e-6)
    assert res.predictions.tolist() == [0, 0, 0, 0]  # ties go to the lowest class
    assert res.accuracy == 0.25 and res.top2_accuracy == 0.5  # top-2 = classes 0 and 1


def test_metric_helpers():
    np.testing.assert_array_equal(normalize_rows(np.array([[2, 2], [0, 0]])), [[0.5, 0.5],
                                                                               [0.0, 0.0]])
    p = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
    assert top_k_accuracy(np.array([2, 2]), p, 1) == 0.0
    assert top_k_accuracy(np.array([2, 2]), p, 2) == 1.0
    assert top_k_accuracy(np.array([0, 1]), p, 3) == 1.0


def test_unlabeled_data_gives_predictions_only(hand_set):
    ds, model, _ = hand_set
    unlabeled = Dataset(ds.images, None, "Test", source="course-test")
    res = Evaluator(model, device="cpu").evaluate(unlabeled)
    assert res.accuracy is None and res.confusion_matrix is None and res.misclassified is None
    assert res.per_class is None and res.log_loss is None
    assert "no labels" in res.note and "no labels" in res.summary()
    assert res.predictions.tolist() == [p for _, p, _, _ in HAND_SET]
    assert res.to_dict()["metrics"] is None


def test_predict_accepts_datasets_arrays_and_tensors(hand_set):
    ds, model, _ = hand_set
    ev = Evaluator(model, device="cpu")
    expected = [p for _, p, _, _ in HAND_SET]
    assert ev.predict(ds).tolist() == expected
    assert ev.predict(ds.images).tolist() == expected
    assert ev.predict(ds.images[:, None]).tolist() == expected
    x, _ = ds.to_tensor()
    assert ev.predict(x).tolist() == expected
    np.testing.assert_array_equal(ev.predict_proba(x), ev.predict_proba(ds))
    with pytest.raises(ConfigError, match="divide by 255"):
        ev.predict(x * 255)
    with pytest.raises(ConfigError, match=r"shape \(N, 48, 48\)"):
        ev.predict(np.zeros((2, 32, 32), np.uint8))


def test_batch_size_does_not_change_results(hand_set):
    ds, model, _ = hand_set
    ev = Evaluator(model, device="cpu", batch_size=512)
    np.testing.assert_array_equal(ev.predict_proba(ds, batch_size=3), ev.predict_proba(ds))
    with pytest.raises(ConfigError, match="batch_size"):
        Evaluator(model, device="cpu", batch_size=0)


def test_train_eval_flags_restored_even_on_error():
    model = Moody()
    model.train()
    model.bn.eval()  # a mixed state must come back exactly
    before = {name: m.training for name, m in model.named_modules()}
    seen = {}

    def spy(module, inputs, output):
        seen["drop_training"] = module.training

    handle = model.drop.register_forward_hook(spy)
    ds = Dataset(indexed_images(5), np.zeros(5, np.int64))
    Evaluator(model, device="cpu").evaluate(ds)
    assert seen["drop_training"] is False  # evaluated in eval mode
    assert {name: m.training for name, m in model.named_modules()} == before
    handle.remove()

    def boom(module, inputs, output):
        raise RuntimeError("boom")

    model.drop.register_forward_hook(boom)
    with pytest.raises(RuntimeError, match="boom"):
        Evaluator(model, device="cpu").evaluate(ds)
    assert {name: m.training for name, m in model.named_modules()} == before


def test_wrong_output_shape_and_bad_inputs(hand_set):
    ds, _, _ = hand_set
    five = IndexedLogits(np.zeros((10, 5)))
    with pytest.raises(ConfigError, match=r"returned \(10, 5\) for 10 images"):
        Evaluator(five, device="cpu").evaluate(ds)
    model = IndexedLogits(np.zeros((10, 7)))
    with pytest.raises(UnknownNameError, match="unknown split 'Nope'"):
        Evaluator(model, device="cpu").evaluate(ds, split="Nope")
    with pytest.raises(ConfigError, match="no images"):
        Evaluator(model, device="cpu").evaluate(ds.subset(np.zeros(0, np.int64)))
    with pytest.raises(ConfigError, match="nn.Module"):
        Evaluator(lambda x: x)


def test_split_selection(hand_set):
    ds, model, _ = hand_set
    splits = np.array(["Training"] * 4 + ["PublicTest"] * 6, dtype=object)
    both = Dataset(ds.images, ds.labels, splits, source="two")
    res = Evaluator(model, device="cpu").evaluate(both, split="publictest")
    assert res.n == 6 and res.split == "PublicTest"
    assert res.ids.tolist() == [4, 5, 6, 7, 8, 9]
    assert res.predictions.tolist() == [p for _, p, _, _ in HAND_SET[4:]]


def test_ensemble_probabilities_are_member_averages(hand_set):
    training = pytest.importorskip("emotionkit.training")
    ds, _, _ = hand_set
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(10, 7)), rng.normal(size=(10, 7))
    ens = training.Ensemble([IndexedLogits(a), IndexedLogits(b)])
    probs = Evaluator(ens, device="cpu").predict_proba(ds)
    expected = (torch.softmax(torch.tensor(a), 1) + torch.softmax(torch.tensor(b), 1)) / 2
    np.testing.assert_allclose(probs, expected.numpy(), rtol=1e-5, atol=1e-6)
