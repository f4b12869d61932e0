"""``emotionkit explain`` and ``emotionkit plugins`` through click's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from emotionkit.cli.main import cli

BUILTIN_LIST = ("activation-max, grad-cam, guided-backprop, guided-grad-cam, "
                "integrated-gradients, layer-outputs, occlusion, saliency, smoothgrad")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def last_error_line(result) -> str:
    return result.stderr.strip().splitlines()[-1]



def test_unknown_method_exact_line():
    result = run("explain", "-m", "salency", "--model", "compact", "synthetic:1")
    assert result.exit_code == 2
    assert last_error_line(result) == (
        "Error: Invalid value for --method: unknown explainer 'salency'; did you mean "
        f"'saliency'? Valid explainers: {BUILTIN_LIST}")


def test_unknown_layer_exact_line(tmp_path):
    result = run("explain", "-m", "grad-cam", "--model", "compact", "synthetic:1", "--n", 1,
                 "--layer", "features.conv99", "--out", tmp_path)
    assert result.exit_code == 2
    line = last_error_line(result)
    assert line.startswith(
        "Error: Invalid value for --layer: unknown layer 'features.conv99'; did you mean "
        "'features.conv7', 'features.conv6', 'features.conv5'? Valid layers: classifier, "
        "classifier.drop1, classifier.fc1,")
    assert line.endswith("features.pool3, input_norm")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, code, line", [
    (["-m", "saliency", "--model", "compact", "synthetic:1", "--layer", "x"], 2,
     "Error: --layer does not apply to method 'saliency'"),
    (["-m", "activation-max", "--model", "compact", "synthetic"], 2,
     "Error: activation-max synthesizes its images; it takes no IMAGE_OR_DATASET"),
    (["-m", "saliency", "--model", "compact", "synthetic:1", "--target", "9"], 1,
     "Error: target 9 for image 0 is outside 0..6 (the model has 7 classes)"),
    (["-m", "saliency", "--model", "compact", "synthetic:1", "-o", "absolut=1"], 1,
     "Error: saliency: unknown option 'absolut'; did you mean 'absolute'? Valid options: "
     "absolute, max_batch"),
    (["-m", "saliency", "--model", "compact", "synthetic:1", "-o", "oops"], 2,
     "Error: Invalid value for '--option': expected KEY=VALUE, got 'oops'"),
])
def test_cli_error_lines(tmp_path, args, code, line):
    result = run("explain", *args, "--out", tmp_path / "o")
    assert result.exit_code == code, result.output
    assert last_error_line(result) == line


def test_unknown_class_name_target(tmp_path):
    result = run("explain", "-m", "saliency", "--model", "compact", "synthetic:1", "--target",
                 "joy", "--out", tmp_path)
    assert result.exit_code == 1
    line = last_error_line(result)
    assert line.startswith("Error: unknown class 'joy'")
    assert line.endswith("angry, disgust, fear, happy, neutral, sad, surprise")


def test_unknown_model_exact_line():
    result = run("explain", "-m", "saliency", "--model", "compactt", "synthetic:1")
    assert result.exit_code == 1
    assert last_error_line(result) == (
        "Error: unknown model 'compactt'; did you mean 'compact'? "
        "Valid models: compact, dnn, hw17-cnn, hw17-dnn, hw18-cnn, hw18-dnn, hw19-cnn, "
        "hw19-dnn, resnet18-fer, vgg-fer (and no checkpoint file 'compactt')")


def test_explain_checkpoint_and_image_file_with_json(tmp_path):
    from skimage import io

    from emotionkit.models import ModelZoo
    from emotionkit.training import save

    torch.manual_seed(0)
    model = ModelZoo.create("compact", width=0.25)
    ckpt = tmp_path / "model.safetensors"
    save(model, ckpt)
    face = (np.random.default_rng(0).uniform(0, 255, (64, 60, 3))).astype(np.uint8)
    io.imsave(tmp_path / "face.png", face, check_contrast=False)
    out = tmp_path / "out"
    result = run("explain", "-m", "integrated-gradients", "--model", ckpt, tmp_path / "face.png",
                 "synthetic:1", "--n", 2, "--target", "happy", "-o", "steps=4", "--out", out,
                 "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["inputs"] == [str(tmp_path / "face.png"), "synthetic:1[0]", "synthetic:1[1]"]
    assert [item["target_name"] for item in data["items"]] == ["happy"] * 3
    assert data["options"]["steps"] == 4
    assert len(data["extras"]["completeness_error"]) == 3
    for i in range(3):
        for kind in ("original", "heatmap", "overlay", "masked"):
            assert (out / f"{i:03d}-{kind}.png").is_file()
    assert str(out / "explanation.json") in data["files"]
    assert "untrained" not in result.stderr


def test_explain_zoo_model_warns_and_prints_a_summary(tmp_path):
    result = run("explain", "-m", "grad-cam", "--model", "hw17-cnn", "synthetic:1", "--n", 1,
                 "--split", "Training", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "untrained zoo model" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("  0  synthetic:1[0]  target=")
    assert lines[-1] == f"Wrote 7 files to {tmp_path}"


def test_explain_activation_max_channels(tmp_path):
    result = run("explain", "-m", "activation-max", "--model", "compact", "--layer",
                 "features.conv1", "--channels", "0-2", "-o", "steps=2", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("channel    0  mean activation")
    assert {p.name for p in tmp_path.glob("channel-*.png")} == {
        "channel-000.png", "channel-001.png", "channel-002.png"}


def test_plugins_command():
    result = run("plugins")  # the test suite sets EMOTIONKIT_LOAD_PLUGINS="": loading disabled
    assert result.exit_code == 0
    assert result.stdout.startswith(
        "Third-party plugins are disabled: EMOTIONKIT_LOAD_PLUGINS is set to an empty value "
        "(unset it to load every installed plugin).")
    result = run("plugins", "--all", "--json")
    (row,) = json.loads(result.stdout)
    assert row["name"] == "emotionkit" and row["builtin"] and row["error"] is None
    assert ", ".join(sorted(row["explainers"])) == BUILTIN_LIST
    assert row["details"][0]["options"] == {"absolute": True, "max_batch": None}
    text = run("plugins", "--all").stdout.splitlines()
    assert text[0].startswith("emotionkit (emotionkit ")
    assert text[1].split()[0] == "saliency"


def test_mission_example_works_as_written(fake_weights, tmp_path, monkeypatch):
    """`emotionkit explain --method guided-backprop`: shipped model, astronaut photo, its face."""
    from PIL import Image
    from skimage import data

    monkeypatch.chdir(tmp_path)
    result = run("explain", "--method", "guided-backprop")
    assert result.exit_code == 0, result.output
    out = tmp_path / "explanations"
    assert result.stdout.splitlines()[0].startswith("  0  ")
    assert "astronaut.png" in result.stdout.splitlines()[0]
    photo = np.asarray(Image.open(out / "000-photo.png"))
    assert photo.shape == (512, 512, 3)
    changed = np.any(photo != data.astronaut(), axis=2)
    ys, xs = np.nonzero(changed)
    # the map is drawn over the face only (around x 180..270, y 60..175)
    assert changed.any() and 150 < xs.mean() < 290 and 50 < ys.mean() < 190
    assert (out / "000-overlay.png").is_file()
