"""``emotionkit data info|audit|convert|show`` through click's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from emotionkit.cli.main import cli
from emotionkit.data import Dataset


@pytest.fixture
def runner():
    return CliRunner()


def run(runner, *args):
    return runner.invoke(cli, ["data", *map(str, args)])


def _first_pixel(line: str, value: str) -> str:
    label, rest = line.split(",", 1)
    return f"{label},{value}{rest[rest.index(' '):]}"


def test_help_on_every_command(runner):
    for cmd in ([], ["info"], ["audit"], ["convert"], ["show"]):
        r = run(runner, *cmd, "--help")
        assert r.exit_code == 0 and "Usage:" in r.output


def test_info_table(runner, tiny, write_csv):
    path = write_csv("t.csv", tiny)
    r = run(runner, "info", path)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"{path}: 21 images, labeled"
    assert lines[1].split() == ["split", "images", "Angry", "Disgust", "Fear", "Happy", "Sad",
                                "Surprise", "Neutral", "mean", "std"]
    training = next(line for line in lines if line.startswith("Training"))
    assert training.split()[:9] == ["Training", "14", "2", "2", "2", "2", "2", "2", "2"]
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[:3] == ["total", "21", "3"]
    assert len({len(line) for line in lines[1:6]}) == 1  # columns aligned
    assert lines[-1].startswith("pixels (0..255): mean ")


def test_info_json(runner, tiny):
    r = run(runner, "info", "synthetic:3", "--json")
    assert r.exit_code == 0
    d = json.loads(r.output)
    assert d["images"] == 21 and d["splits"]["PublicTest"]["images"] == 7
    assert d["classes"]["happy"] == 3 and d["skipped_rows"] == []
    assert d["pixel_mean"] == pytest.approx(tiny.describe()["pixel_mean"], abs=50)


def test_info_errors_are_one_line(runner, tiny, fer_lines, write_csv, tmp_path):
    r = run(runner, "info", tmp_path / "nope.csv")
    assert r.exit_code == 1
    assert r.output == f"Error: {tmp_path / 'nope.csv'}: no such file or directory\n"
    lines = list(fer_lines)
    lines[2] = _first_pixel(lines[2], "300")
    bad = write_csv("bad.csv", text="\n".join(lines) + "\n")
    r = run(runner, "info", bad)
    assert r.exit_code == 1
    assert r.output == f"Error: {bad}, line 3: pixel value 300 (pixel 1) is outside 0..255\n"
    assert "Traceback" not in r.output


def test_info_skip_mode_prints_warning_line(runner, fer_lines, write_csv):
    lines = list(fer_lines)
    lines[2] = _first_pixel(lines[2], "300")
    bad = write_csv("bad.csv", text="\n".join(lines) + "\n")
    r = run(runner, "info", bad, "--on-error", "skip")
    assert r.exit_code == 0
    assert "Warning: " in r.output and "skipped 1 bad row(s) (lines 3)" in r.output
    assert "skipped while reading: 1 row(s)" in r.output
    r = run(runner, "info", bad, "--on-error", "ignore")
    assert r.exit_code == 2 and "Invalid value for '--on-error'" in r.output


def test_audit_text_and_json(runner, tmp_path):
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)
    images = np.stack([faces[0], faces[0], faces[1], faces[1], np.zeros((48, 48), np.uint8),
                       faces[2]])
    ds = Dataset(images, [1, 2, 3, 3, 0, 4],
                 ["Training", "PublicTest", "Training", "Training", "Training", "PublicTest"])
    ds.save(tmp_path / "a.npz")
    r = run(runner, "audit", tmp_path / "a.npz")
    assert r.exit_code == 0, r.output
    rows = {line.strip().rsplit(None, 1)[0].strip(): line.split()[-1]  # "name   value" rows
            for line in r.output.splitlines()[1:] if ":" not in line}
    assert rows["blank images"] == "1" and rows["duplicate groups"] == "2"
    assert rows["groups within Training"] == "1"
    assert rows["groups across Training/PublicTest"] == "1"
    assert rows["conflicting-label groups"] == "1"
    r = run(runner, "audit", tmp_path / "a.npz", "--json")
    d = json.loads(r.output)
    assert d["blank"] == [4] and d["duplicate_groups"] == 2
    assert {tuple(g["indices"]) for g in d["groups"]} == {(0, 1), (2, 3)}


def test_convert_formats_and_errors(runner, tiny, write_csv, tmp_path):
    src = write_csv("t.csv.gz", tiny, compress=True)
    for out in ("o.npz", "o.csv", "folder_out"):
        r = run(runner, "convert", src, tmp_path / out)
        assert r.exit_code == 0, r.output
        assert r.output.startswith(f"wrote 21 images to {tmp_path / out}")
        assert len(Dataset.load(tmp_path / out, cache=False)) == 21
    r = run(runner, "convert", src, tmp_path / "x.csv", "--format", "npz")
    assert r.exit_code == 0 and np.load(tmp_path / "x.csv")["images"].shape == (21, 48, 48)
    r = run(runner, "convert", src, tmp_path / "x.json")
    assert r.exit_code == 1 and r.output.startswith("Error: cannot tell the output format")
    r = run(runner, "convert", src, tmp_path / "folder_out")
    assert r.exit_code == 1 and "already exists and is not an empty folder" in r.output
    r = run(runner, "convert", src, tmp_path / "y", "--format", "zip")
    assert r.exit_code == 2


def test_show_writes_png(runner, tmp_path):
    out = tmp_path / "sheet.png"
    r = run(runner, "show", "synthetic:3", "--n", "14", "--out", out, "--split", "Training")
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run(runner, "show", "synthetic:3", "--out", out, "--split", "Validation")
    assert r.exit_code == 1 and r.output.startswith("Error: unknown split 'Validation'")
    r = run(runner, "show", "synthetic:3", "--n", "0", "--out", out)
    assert r.exit_code == 2
