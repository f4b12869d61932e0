"""emotionkit.predict: inputs of every kind, exact probabilities, and per-input failures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import emotionkit as ek
from emotionkit.data.classes import CLASS_NAMES
from emotionkit.errors import ConfigError, UnknownModelError, UnknownNameError


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def predictor(fake_weights):
    return ek.Predictor()


def _face48(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8)


def test_default_is_the_astronaut_with_one_face(fake_weights):
    (result,) = ek.predict()
    assert result.ok and result.size == (512, 512)
    (face,) = result.faces
    d = face.to_dict()
    assert set(d) >= {"box", "emotion", "probabilities", "landmarks"}
    assert list(d["probabilities"]) == list(CLASS_NAMES)
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert face.emotion == max(face.probabilities, key=face.probabilities.get)
    assert face.crop.shape == (48, 48) and face.crop.dtype == np.uint8


def test_probabilities_equal_the_model_with_flip_tta(predictor):
    crops = np.stack([_face48(0), _face48(1)])
    x = torch.from_numpy(crops).float().div(255).unsqueeze(1)
    with torch.no_grad():
        want = (torch.softmax(predictor.model(x), 1)
                + torch.softmax(predictor.model(x.flip(-1)), 1)) / 2
    np.testing.assert_allclose(predictor.classify(crops), want.numpy(), rtol=1e-5, atol=1e-6)
    results = predictor.predict([crops[0], crops[1]])  # 48x48: classified whole, no detection
    for r, p in zip(results, want.numpy(), strict=True):
        (face,) = r.faces
        assert face.box == (0.0, 0.0, 48.0, 48.0) and face.landmarks is None
        np.testing.assert_allclose(list(face.probabilities.values()), p, rtol=1e-5, atol=1e-6)


def test_tta_none_is_one_forward(fake_weights):
    p = ek.Predictor(tta="none")
    crop = _face48(3)[None]
    x = torch.from_numpy(crop).float().div(255).unsqueeze(1)
    with torch.no_grad():
        want = torch.softmax(p.model(x), 1).numpy()
    np.testing.assert_allclose(p.classify(crop), want, rtol=1e-5, atol=1e-6)


def test_every_input_kind_gives_the_same_answer(predictor, tmp_path):
    from PIL import Image

    face = _face48(5)
    path = tmp_path / "face.png"
    Image.fromarray(face).save(path)
    rgb = np.repeat(face[..., None], 3, axis=2)
    inputs = [str(path), path, face, rgb, face.astype(np.float32) / 255, Image.fromarray(face),
              torch.from_numpy(face), torch.from_numpy(face)[None].float() / 255]
    results = predictor.predict(inputs)
    assert [r.ok for r in results] == [True] * len(inputs)
    first = results[0].faces[0].probabilities
    for r in results[1:]:
        for k, v in r.faces[0].probabilities.items():
            assert v == pytest.approx(first[k], abs=2e-3), r.path
    batch = predictor.predict(torch.from_numpy(np.stack([face, face]))[:, None].float() / 255)
    assert len(batch) == 2 and batch[0].path == "<array 0>" and batch[1].path == "<array 1>"
    stack = predictor.predict(np.stack([face] * 5))  # (N, 48, 48), like Dataset.images
    assert len(stack) == 5 and all(len(r.faces) == 1 for r in stack)


def test_folder_means_every_image(predictor, tmp_path):
    from PIL import Image

    for i in range(3):
        Image.fromarray(_face48(i)).save(tmp_path / f"f{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    results = predictor.predict(tmp_path)
    assert [r.path for r in results] == [str(tmp_path / f"f{i}.png") for i in range(3)]


def test_bad_inputs_fail_alone(predictor, tmp_path):
    from skimage import data_dir

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10)
    truncated = tmp_path / "cut.png"
    from PIL import Image

    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 100).save(tmp_path / "full.png")
    truncated.write_bytes((tmp_path / "full.png").read_bytes()[:60])
    nan = np.full((48, 48), np.nan, np.float32)
    inputs = [tmp_path / "missing.png", empty, corrupt, truncated,
              f"{data_dir}/no_time_for_that_tiny.gif", f"{data_dir}/multipage.tif", nan,
              np.zeros((4, 4, 4, 4, 4)), np.zeros((0, 10)), _face48()]
    results = predictor.predict(inputs)
    errors = [r.error for r in results]
    assert errors[-1] is None and len(results[-1].faces) == 1
    assert all(e is not None and "\n" not in e for e in errors[:-1])
    assert "no such file" in errors[0] and str(tmp_path / "missing.png") in errors[0]
    assert "empty file" in errors[1]
    assert "not a readable image" in errors[2] or "corrupt" in errors[2]
    assert "corrupt or truncated" in errors[3] or "not a readable image" in errors[3]
    assert "animated" in errors[4] and "frames" in errors[4]
    assert "multi-page" in errors[5]
    assert "NaN" in errors[6]
    assert "shape" in errors[7] and "no pixels" in errors[8]
    assert all(r.faces == [] for r in results[:-1])


def test_huge_image_is_downscaled_and_boxes_stay_in_input_pixels(predictor):
    from skimage import data

    small = ek.predict(data.astronaut(), detect=True)[0].faces[0].box
    big = np.repeat(np.repeat(data.astronaut(), 6, axis=0), 6, axis=1)  # 3072 x 3072
    (result,) = predictor.predict(big)
    assert result.size == (3072, 3072) and any("downscaled" in n for n in result.notes)
    (face,) = result.faces
    np.testing.assert_allclose(face.box, np.array(small) * 6, rtol=0.08, atol=12)


def test_exif_rotation_is_applied(predictor, tmp_path):
    from PIL import Image

    im = Image.fromarray(np.zeros((30, 60, 3), np.uint8))  # 60 wide, 30 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    im.save(tmp_path / "rot.jpg", exif=exif)
    (result,) = predictor.predict(tmp_path / "rot.jpg")
    assert result.ok and result.size == (30, 60)


def test_no_detect_and_no_face(fake_weights):
    from skimage import data

    (r,) = ek.predict(data.coffee(), detect=True)
    assert r.ok and r.faces == [] and any("no face" in n for n in r.notes)
    (r,) = ek.predict(data.coffee(), detect=False)
    assert len(r.faces) == 1 and r.faces[0].box == (0.0, 0.0, 600.0, 400.0)


def test_lbp_detector(fake_weights):
    from skimage import data

    (r,) = ek.predict(data.astronaut(), detector="lbp")
    assert r.faces and r.faces[0].landmarks is None
    x, y, w, h = r.faces[0].box
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 180  # the largest box is the face


def test_options_are_checked(fake_weights):
    with pytest.raises(UnknownNameError, match="face detector"):
        ek.Predictor(detector="haar")
    with pytest.raises(ConfigError, match="detect"):
        ek.Predictor(detect="sometimes")
    with pytest.raises(UnknownNameError, match="TTA"):
        ek.Predictor(tta="rotate")
    with pytest.raises(UnknownModelError, match="no shipped weights"):
        ek.Predictor(model="hw17-cnn")
    with pytest.raises(ek.CheckpointError, match="not found"):
        ek.Predictor(model="runs/nope/model.safetensors")


def test_checkpoint_and_module_models(fake_weights, tmp_path):
    model = ek.ModelZoo.create("compact", width=0.125, seed=1).eval()
    ek.save(model, tmp_path / "m.safetensors")
    face = _face48(9)
    a = ek.predict(face, model=tmp_path / "m.safetensors")[0].faces[0].probabilities
    b = ek.predict(face, model=model)[0].faces[0].probabilities
    assert a == pytest.approx(b, abs=1e-6)
