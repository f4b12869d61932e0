"""Test-time augmentation: views, their order, and the averaged probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ek_eval_helpers import Asymmetric, IndexedLogits, MirrorSymmetric, indexed_images

from emotionkit.data import Dataset
from emotionkit.errors import UnknownNameError
from emotionkit.evaluation import Evaluator, make_views, n_views


@pytest.fixture(scope="module")
def faces():
    rng = np.random.default_rng(3)
    return Dataset(rng.integers(0, 256, (9, 48, 48), dtype=np.uint8), rng.integers(0, 7, 9))


def test_flip_on_a_mirror_symmetric_model_equals_no_tta(faces):
    ev = Evaluator(MirrorSymmetric(), device="cpu")
    plain = ev.evaluate(faces, tta="none")
    flipped = ev.evaluate(faces, tta="flip")
    np.testing.assert_allclose(flipped.probabilities, plain.probabilities, rtol=0, atol=1e-6)
    assert flipped.predictions.tolist() == plain.predictions.tolist()
    assert flipped.tta == "flip"


def test_flip_on_an_asymmetric_model_is_the_manual_average(faces):
    model = Asymmetric()
    ev = Evaluator(model, device="cpu")
    got = ev.predict_proba(faces, tta="flip")
    x, _ = faces.to_tensor()
    with torch.no_grad():
        manual = (torch.softmax(model(x), 1) + torch.softmax(model(x.flip(-1)), 1)) / 2
    np.testing.assert_allclose(got, manual.numpy(), rtol=1e-5, atol=1e-7)
    # ... and differs from no TTA, so the test above could fail
    assert np.abs(got - ev.predict_proba(faces)).max() > 1e-3


def test_tencrop_views_follow_the_documented_recipe():
    x = torch.rand(3, 1, 48, 48)
    views = make_views(x, "tencrop")
    assert views.shape == (30, 1, 48, 48) and n_views("tencrop") == 10
    n = 3
    offsets = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]  # TL, TR, BL, BR, centre; 44x44 crops
    for v, (r, c) in enumerate(offsets):
        crop = x[:, :, r:r + 44, c:c + 44]
        expected = F.interpolate(crop, size=(48, 48), mode="bilinear", align_corners=False)
        torch.testing.assert_close(views[v * n:(v + 1) * n], expected)
        torch.testing.assert_close(views[(5 + v) * n:(6 + v) * n], expected.flip(-1))
    assert make_views(x, "none") is x
    torch.testing.assert_close(make_views(x, "flip"), torch.cat([x, x.flip(-1)]))


def test_tencrop_on_constant_images_changes_nothing():
    n = 12
    rng = np.random.default_rng(0)
    table = rng.normal(size=(n, 7))
    ds = Dataset(indexed_images(n, constant=True), rng.integers(0, 7, n))
    ev = Evaluator(IndexedLogits(table), device="cpu")
    np.testing.assert_allclose(ev.predict_proba(ds, tta="tencrop"), ev.predict_proba(ds),
                               rtol=1e-6, atol=1e-7)


def test_tencrop_is_the_manual_average_and_chunking_is_consistent(faces):
    model = Asymmetric(seed=1)
    ev = Evaluator(model, device="cpu", batch_size=512)
    got = ev.predict_proba(faces, tta="tencrop")
    x, _ = faces.to_tensor()
    with torch.no_grad():
        views = make_views(x, "tencrop").reshape(10, len(x), 1, 48, 48)
        manual = torch.stack([torch.softmax(model(v), 1) for v in views]).mean(0)
    np.testing.assert_allclose(got, manual.numpy(), rtol=1e-5, atol=1e-7)
    # one image (10 views) per forward pass gives the same answer as all at once
    np.testing.assert_allclose(ev.predict_proba(faces, tta="tencrop", batch_size=10), got,
                               rtol=1e-5, atol=1e-7)
    res = ev.evaluate(faces, tta="tencrop")
    assert res.tta == "tencrop" and res.probabilities.shape == (9, 7)


def test_tta_views_are_one_forward_per_chunk(faces):
    calls = []
    model = Asymmetric()
    model.register_forward_pre_hook(lambda m, inp: calls.append(inp[0].shape[0]))
    Evaluator(model, device="cpu", batch_size=40).predict_proba(faces, tta="tencrop")
    assert calls == [40, 40, 10]  # 4 + 4 + 1 images, all 10 views of each in its pass


def test_unknown_tta_mode_lists_the_valid_ones(faces):
    with pytest.raises(UnknownNameError, match="unknown TTA mode 'flp'; did you mean 'flip'"):
        Evaluator(Asymmetric(), device="cpu").evaluate(faces, tta="flp")
