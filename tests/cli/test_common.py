"""The helpers every command shares (issue 15: one rule for each thing): the KEY=VALUE parser,
the run-directory resolver, and explain's image files read as the data package reads them."""

from __future__ import annotations

import warnings

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from emotionkit.cli._common import (
    HISTORY_FILE,
    MODEL_FILE,
    RUN_FILE,
    parse_key_values,
    run_file,
)
from emotionkit.cli.main import cli
from emotionkit.errors import DataFormatError


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# ---------------------------------------------------------------- KEY=VALUE
def test_values_are_json_when_they_parse_else_text():
    got = parse_key_values(("width=0.5", "depth=[1,1,1,1]", "steps=4", "flag=true",
                            "none=null", 'baseline="mean"', "activation=prelu", "eq=a=b",
                            " spaced =1", "empty=", "steps=8"), "--set")
    assert got == {"width": 0.5, "depth": [1, 1, 1, 1], "steps": 8, "flag": True, "none": None,
                   "baseline": "mean", "activation": "prelu", "eq": "a=b", "spaced": 1,
                   "empty": ""}
    assert list(got)[:2] == ["width", "depth"]  # the order given; the last value of a key wins
    assert parse_key_values((), "--set") == {}


def test_method_prefixes_only_where_asked_for():
    got = parse_key_values(("integrated-gradients.steps=3", "max_batch=2"), "--option",
                           prefixed=True)
    assert got == {"integrated-gradients.steps": 3, "max_batch": 2}
    with pytest.raises(click.BadParameter) as info:
        parse_key_values(("saliency.absolute=false",), "--set")
    assert info.value.format_message() == ("Invalid value for '--set': expected KEY=VALUE, "
                                           "got 'saliency.absolute=false'")


@pytest.mark.parametrize("item", ["width", "=1", " =1", "1x=2", "bad key=1", "a-b=1",
                                  ".steps=1", "saliency.=1", "saliency.1x=2"])
def test_bad_items_name_the_item(item):
    with pytest.raises(click.BadParameter) as info:
        parse_key_values(("ok=1", item), "--option", prefixed=True)
    assert info.value.format_message() == (f"Invalid value for '--option': expected "
                                           f"KEY=VALUE, got {item!r}")


@pytest.mark.parametrize("args", [
    ["train", "--data", "synthetic:1", "--model", "compact", "--set", "width"],
    ["models", "summary", "compact", "--set", "width"],
    ["report", "--set", "width"],
    ["explain", "-m", "saliency", "--model", "compact", "synthetic:1", "-o", "width"],
    ["explain-check", "--model", "compact", "--data", "synthetic:1", "--methods", "saliency",
     "--out", "unused", "-o", "width"],
])
def test_every_command_reports_a_bad_setting_alike(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == 2, result.output
    flag = "--set" if "--set" in args else "--option"
    assert result.stderr.splitlines() == [f"Error: Invalid value for '{flag}': expected "
                                          "KEY=VALUE, got 'width'"]
    assert list(tmp_path.iterdir()) == []  # refused before any work


def test_explain_takes_its_own_method_prefix(tmp_path):
    base = ["explain", "-m", "saliency", "--model", "compact", "synthetic:1", "--n", 1, "--json"]
    result = run(*base, "-o", "grad-cam.layer=x", "--out", tmp_path / "a")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["Error: Invalid value for '--option': 'grad-cam.layer'"
                                          ": this command explains with method 'saliency' only"]
    result = run(*base, "-o", "saliency.absolute=false", "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert '"absolute": false' in result.stdout


# ---------------------------------------------------------------- run directories
def test_run_file_resolves_a_directory_or_takes_the_file(tmp_path, monkeypatch):
    from emotionkit.training.trainer import MODEL_NAME

    assert MODEL_FILE == MODEL_NAME
    (tmp_path / "run").mkdir()
    assert run_file(tmp_path / "run") == tmp_path / "run" / MODEL_FILE
    assert run_file(tmp_path / "run", HISTORY_FILE) == tmp_path / "run" / HISTORY_FILE
    ckpt = tmp_path / "best.safetensors"
    ckpt.write_bytes(b"")
    assert run_file(ckpt) == ckpt == run_file(ckpt, RUN_FILE, required=True)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert run_file("~/run") == tmp_path / "run" / MODEL_FILE
    assert str(run_file("compact")) == "compact"  # a zoo name is left as it is


@pytest.mark.parametrize("where", ["nope", "empty"])
def test_unknown_run_directory_is_one_message_naming_it(tmp_path, where):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError) as info:
        run_file(tmp_path / where, HISTORY_FILE, what="history", required=True)
    assert str(info.value) == (f"{tmp_path / where}: not a training run directory or history "
                               "file (no history.json)")
    result = run("compare", tmp_path / where)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"Error: {info.value}"]


# ---------------------------------------------------------------- image files
def _image(kind: str) -> Image.Image:
    """An odd-sized image without a face: smooth gradients in every channel."""
    y, x = np.mgrid[0:37, 0:53]
    r, g, b = (x * 4.8) % 256, (y * 6.9) % 256, ((x + y) * 2.9) % 256
    rgb = np.stack([r, g, b], axis=-1).astype(np.uint8)
    if kind == "rgb":
        return Image.fromarray(rgb)
    if kind == "rgba":
        return Image.fromarray(np.dstack([rgb, (x * 4.8).astype(np.uint8)]))
    if kind == "gray-alpha":
        return Image.fromarray(np.dstack([rgb, (y * 6.9).astype(np.uint8)])).convert("LA")
    if kind == "gray16":
        return Image.fromarray((x * 1234 + y * 77).astype(np.uint16))
    if kind == "palette":
        return Image.fromarray(rgb).convert("P")
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["rgb", "rgba", "gray-alpha", "gray16", "palette"])
def test_explain_reads_an_image_file_as_the_data_package_does(kind, tmp_path):
    from emotionkit.cli.explain import load_inputs, read_face_image
    from emotionkit.data import Dataset

    folder = tmp_path / "faces" / "Training" / "happy"
    folder.mkdir(parents=True)
    path = folder / "face.png"
    _image(kind).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the data package notes the conversion
        expected = Dataset.load(tmp_path / "faces", cache=False).images[0]
    assert expected.shape == (48, 48) and expected.dtype == np.uint8
    np.testing.assert_array_equal(read_face_image(path), expected)
    images, sources, placements = load_inputs((str(path),), 1, None, detector="lbp")
    assert sources == [str(path)] and placements == {}  # no face: used whole
    np.testing.assert_array_equal(images[0], expected)


# ---------------------------------------------------------------- --init: the --model loader
def test_train_init_goes_through_the_model_loader(tmp_path):
    base = ["train", "--data", "synthetic:1", "--model", "compact", "--quiet",
            "--out", tmp_path / "run"]
    result = run(*base, "--init", "dnn")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["Error: model 'dnn' has no shipped weights (models "
                                          "with weights: compact); pass a checkpoint written "
                                          "by 'emotionkit train'"]
    result = run(*base, "--init", tmp_path / "none.safetensors")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"Error: checkpoint not found: "
                                          f"{tmp_path / 'none.safetensors'}"]
