"""MTCNN: box arithmetic against hand values, weight integrity, and detection on bundled photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotionkit.errors import CheckpointError, ConfigError
from emotionkit.faces import mtcnn as mt


def test_box_iou_and_min_overlap_by_hand():
    a = np.array([[0, 0, 9, 9]], dtype=float)  # 10x10 = 100 px (inclusive corners)
    b = np.array([[5, 0, 14, 9], [0, 0, 4, 4], [20, 20, 29, 29]], dtype=float)
    # overlap with b0: 5x10 = 50 -> iou 50/150; with b1: 25 -> 25/100; with b2: none
    np.testing.assert_allclose(mt.box_iou(a, b)[0], [50 / 150, 25 / 100, 0.0])
    np.testing.assert_allclose(mt.box_iou(a, b, "min")[0], [50 / 100, 25 / 25, 0.0])


def test_nms_keeps_best_and_drops_overlaps():
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [30, 30, 39, 39], [0, 0, 9, 9]], float)
    scores = np.array([0.8, 0.9, 0.5, 0.1])
    assert mt.nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert mt.nms(boxes, scores, 0.99).tolist() == [1, 0, 2]  # duplicates: iou 1 > 0.99
    assert mt.nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_square_and_offsets_by_hand():
    sq = mt._square(np.array([[10.0, 20.0, 30.0, 60.0]]))  # w 20, h 40 -> side 40
    np.testing.assert_allclose(sq, [[0.0, 20.0, 40.0, 60.0]])
    moved = mt._apply_offsets(np.array([[0.0, 0.0, 9.0, 19.0]]),
                              np.array([[0.1, -0.1, 0.2, 0.0]]), plus_one=True)
    np.testing.assert_allclose(moved, [[1.0, -2.0, 11.0, 19.0]])  # w 10, h 20


def test_network_output_shapes():
    p, r, o = mt.PNet(), mt.RNet(), mt.ONet()
    prob, reg = p(torch.zeros(1, 3, 30, 40))
    assert prob.shape == (1, 10, 15) and reg.shape == (1, 4, 10, 15)
    prob, reg = r(torch.zeros(2, 3, 24, 24))
    assert prob.shape == (2,) and reg.shape == (2, 4)
    prob, reg, marks = o(torch.zeros(2, 3, 48, 48))
    assert prob.shape == (2,) and reg.shape == (2, 4) and marks.shape == (2, 10)


def test_caffe_flatten_order():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4)  # (N, C, H, W)
    flat = mt._flatten_caffe(x)[0]
    # width-major, then height, then channel
    assert flat[:2].tolist() == [x[0, 0, 0, 0].item(), x[0, 1, 0, 0].item()]
    assert flat[2:4].tolist() == [x[0, 0, 1, 0].item(), x[0, 1, 1, 0].item()]


def test_weights_are_verified(monkeypatch):
    monkeypatch.setattr(mt, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(CheckpointError, match="does not match"):
        mt.MTCNN()


def test_bad_settings():
    with pytest.raises(ConfigError, match="min_face"):
        mt.MTCNN(min_face=5)
    with pytest.raises(ConfigError, match="thresholds"):
        mt.MTCNN(thresholds=(0.6, 0.7))


@pytest.fixture(scope="module")
def detector():
    torch.set_num_threads(1)
    return mt.MTCNN()


def test_astronaut_face_and_landmarks(detector):
    from skimage import data

    faces = detector.detect(data.astronaut())
    assert len(faces) == 1
    (face,) = faces
    x, y, w, h = face.box
    # Eileen Collins' face sits around x 180..270, y 60..175 of the 512x512 photo
    assert 165 < x < 195 and 45 < y < 80 and 70 < w < 110 and 90 < h < 130
    assert face.score > 0.99
    left_eye, right_eye, nose, mouth_l, mouth_r = face.landmarks
    assert left_eye[0] < nose[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    assert all(x <= p[0] <= x + w and y <= p[1] <= y + h for p in face.landmarks)


def test_gray_photo_and_no_false_positives(detector):
    from skimage import data

    assert len(detector.detect(data.camera())) == 1  # the cameraman, a gray photo
    for name in ("coffee", "chelsea", "rocket"):  # no human face
        assert detector.detect(getattr(data, name)()) == [], name


def test_tiny_and_float_images(detector):
    assert detector.detect(np.zeros((8, 8, 3), np.uint8)) == []
    from skimage import data

    as_float = data.astronaut().astype(np.float64) / 255.0
    assert len(detector.detect(as_float)) == 1
    with pytest.raises(ConfigError, match="images"):
        detector.detect(np.zeros((10, 10, 2)))
