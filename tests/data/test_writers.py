"""Writers (CSV, CSV.gz, npz, folder) round-trip through the readers; contact sheets."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from emotionkit import ConfigError
from emotionkit.data import Dataset
from emotionkit.data.sheet import pick_examples, save_contact_sheet
from emotionkit.data.writers import csv_bytes, format_for


def test_csv_text_matches_the_fer_format(tiny):
    text = csv_bytes(tiny).decode()
    lines = text.splitlines()
    assert lines[0] == "emotion,pixels,Usage" and len(lines) == len(tiny) + 1
    label, pixels, usage = lines[1].split(",")
    assert int(label) == tiny.labels[0] and usage == tiny.splits[0]
    assert pixels == " ".join(str(v) for v in tiny.images[0].reshape(-1))


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.npz", "outdir"])
def test_export_roundtrip(tiny, tmp_path, name):
    path = tmp_path / name
    fmt = tiny.export(path)
    assert fmt == format_for(path)
    back = Dataset.load(path, cache=False)
    if fmt == "folder":  # files are named by their index in the written dataset
        order = np.argsort([int(Path(str(i)).stem) for i in back.ids])
    else:
        order = np.arange(len(back))
    np.testing.assert_array_equal(back.images[order], tiny.images)
    np.testing.assert_array_equal(back.labels[order], tiny.labels)
    assert list(back.splits[order]) == list(tiny.splits)
    if name.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        assert gzip.decompress(path.read_bytes()).startswith(b"emotion,pixels,Usage\n")


def test_unlabeled_csv_roundtrip(tiny, tmp_path):
    unlabeled = Dataset(tiny.images, None, "Test", ids=np.arange(len(tiny)) + 7)
    unlabeled.export(tmp_path / "u.csv")
    assert (tmp_path / "u.csv").read_text().startswith("id,feature,Usage\n7,")
    back = Dataset.load(tmp_path / "u.csv", cache=False)
    assert back.labels is None and list(back.ids) == list(unlabeled.ids)
    np.testing.assert_array_equal(back.images, tiny.images)


def test_folder_writer_refuses_bad_targets(tiny, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ConfigError, match="already exists and is not an empty folder"):
        tiny.export(tmp_path / "full", fmt="folder")
    with pytest.raises(ConfigError, match="needs labels"):
        Dataset(tiny.images).export(tmp_path / "new", fmt="folder")
    assert not (tmp_path / "new").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["full"]  # no temporary folder left behind


def test_format_for():
    assert format_for("a.NPZ") == "npz" and format_for("a.csv.gz") == "csv.gz"
    assert format_for("dir/") == "folder" and format_for("x", "csv") == "csv"
    with pytest.raises(ConfigError, match="cannot tell the output format"):
        format_for("a.json")
    with pytest.raises(ConfigError, match="unknown output format 'tar'"):
        format_for("a", "tar")


def test_contact_sheet(tiny, tmp_path):
    rows = pick_examples(tiny, 14, seed=0)
    assert [r[0] for r in rows] == ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise",
                                    "Neutral"]
    for k, (_, idx) in enumerate(rows):
        assert len(idx) == 2 and set(tiny.labels[idx]) == {k}
    out = tmp_path / "sheet.png"
    save_contact_sheet(tiny, out, n=49)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    unlabeled_rows = pick_examples(Dataset(tiny.images), 10, seed=None)
    assert [len(i) for _, i in unlabeled_rows] == [4, 4, 2]
    with pytest.raises(ConfigError, match="at least 1"):
        pick_examples(tiny, 0)
