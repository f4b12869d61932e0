"""``emotionkit predict`` end to end: default photo, JSON shape, --out files, exit status."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from emotionkit.cli.main import cli
from emotionkit.data.classes import CLASS_NAMES


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _weights(fake_weights):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_no_argument_uses_the_astronaut():
    res = run("predict")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("model: compact (pretrained); detector: mtcnn; tta: flip")
    assert len(lines) == 2 and "astronaut.png: face 1 at x=" in lines[1]


def test_json_shape_and_out_files(tmp_path):
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "a.jpg")
    Image.fromarray(np.zeros((48, 48), np.uint8) + 128).save(tmp_path / "face48.png")
    (tmp_path / "bad.png").write_bytes(b"garbage")
    out = tmp_path / "out"
    res = run("predict", tmp_path / "a.jpg", tmp_path / "face48.png", tmp_path / "bad.png",
              tmp_path / "missing.jpg", "--json", "--out", out)
    assert res.exit_code == 1
    data_ = json.loads(res.stdout)
    assert [d["path"] for d in data_] == [str(tmp_path / n) for n in
                                         ("a.jpg", "face48.png", "bad.png", "missing.jpg")]
    face = data_[0]["faces"][0]
    assert len(face["box"]) == 4 and face["emotion"] in CLASS_NAMES
    assert list(face["probabilities"]) == list(CLASS_NAMES) and len(face["landmarks"]) == 5
    assert data_[1]["faces"][0]["box"] == [0.0, 0.0, 48.0, 48.0]
    assert "error" in data_[2] and "error" in data_[3] and data_[2]["faces"] == []
    err = res.stderr.splitlines()
    assert len(err) == 2 and all(line.startswith("Error: ") for line in err)
    assert str(tmp_path / "missing.jpg") in err[1]
    assert (out / "a.png").is_file() and (out / "face48.png").is_file()
    saved = json.loads((out / "predictions.json").read_text())
    assert saved == data_
    annotated = np.asarray(Image.open(out / "a.png"))
    assert annotated.shape == (512, 512, 3)
    assert not np.array_equal(annotated, data.astronaut())  # the box is drawn


def test_no_detect_lbp_and_tta_options(tmp_path):
    from PIL import Image
    from skimage import data

    Image.fromarray(data.coffee()).save(tmp_path / "coffee.png")
    res = run("predict", tmp_path / "coffee.png")
    assert res.exit_code == 0 and "no face found" in res.stdout
    res = run("predict", tmp_path / "coffee.png", "--no-detect", "--tta", "tencrop", "--json")
    assert res.exit_code == 0
    assert json.loads(res.stdout)[0]["faces"][0]["box"] == [0.0, 0.0, 600.0, 400.0]
    res = run("predict", "--detector", "lbp", "--json")
    assert res.exit_code == 0 and "landmarks" not in json.loads(res.stdout)[0]["faces"][0]


def test_usage_errors_are_one_line(tmp_path):
    res = run("predict", "--model", "hw17-cnn")
    assert res.exit_code == 1 and res.output.startswith("Error: model 'hw17-cnn' has no shipped")
    assert len(res.output.splitlines()) == 1
    (tmp_path / "file").write_text("x")
    res = run("predict", "--out", tmp_path / "file")
    assert res.exit_code == 2 and "is a file" in res.output
    res = run("predict", "--out", tmp_path / "file" / "sub")
    assert res.exit_code == 2 and "cannot create folder" in res.output


def test_video(tmp_path):
    av = pytest.importorskip("av")
    from skimage import data

    path = tmp_path / "clip.mp4"
    frame = data.astronaut()[:256, 96:352]  # the face, 256x256
    with av.open(str(path), "w") as box:
        stream = box.add_stream("mpeg4", rate=4)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for i in range(8):
            img = np.roll(frame, 2 * i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    out = tmp_path / "out"
    res = run("predict", path, "--per-second", 2, "--out", out, "--json")
    assert res.exit_code == 0, res.output
    (video,) = json.loads(res.stdout)
    assert video["fps"] == 4 and [f["frame"] for f in video["frames"]] == [0, 2, 4, 6]
    assert all(len(f["faces"]) == 1 for f in video["frames"])
    rows = (out / "clip.frames.csv").read_text().splitlines()
    assert rows[0].startswith("frame,time,face,x,y,w,h,emotion,angry") and len(rows) == 5
    assert (out / "clip.emotions.png").stat().st_size > 1000
    res = run("predict", tmp_path / "missing.mp4")
    assert res.exit_code == 1 and "missing.mp4" in res.output
