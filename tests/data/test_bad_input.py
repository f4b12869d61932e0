"""Every bad-input case: the error names file, line (or image) and value; skip mode goes on."""

from __future__ import annotations

import gzip
import re
import warnings

import numpy as np
import pytest

from emotionkit import DataFormatError, EmotionKitError
from emotionkit.data import Dataset, DataWarning, csv_reader


def _replace_pixel(line: str, k: int, value: str) -> str:
    label, pixels, usage = line.split(",")
    tokens = pixels.split()
    tokens[k] = value
    return ",".join([label, " ".join(tokens), usage])


def _drop_pixel(line: str) -> str:
    label, pixels, usage = line.split(",")
    return ",".join([label, " ".join(pixels.split()[:-1]), usage])


# (edit applied to file line 6, expected reason regex, offending value (None: not checked))
ROW_CASES = {
    "wrong pixel count": (_drop_pixel, r"expected 2304 pixel values \(48x48\), got 2303", "2303"),
    "non-numeric pixel": (lambda s: _replace_pixel(s, 16, "ab"),
                          r"non-numeric pixel value 'ab' \(pixel 17\)", "ab"),
    "float pixel": (lambda s: _replace_pixel(s, 0, "1.5"),
                    r"non-numeric pixel value '1.5' \(pixel 1\)", "1.5"),
    "pixel above 255": (lambda s: _replace_pixel(s, 99, "256"),
                        r"pixel value 256 \(pixel 100\) is outside 0..255", "256"),
    "negative pixel": (lambda s: _replace_pixel(s, 3, "-1"),
                       r"pixel value -1 \(pixel 4\) is outside 0..255", "-1"),
    "label outside 0-6": (lambda s: "7" + s[1:], r"label 7 is outside 0..6", "7"),
    "negative label": (lambda s: "-1" + s[1:], r"label -1 is outside 0..6", "-1"),
    "non-integer label": (lambda s: "x" + s[1:], r"emotion value is not an integer: 'x'", "x"),
    "missing column": (lambda s: s.rsplit(",", 1)[0],
                       r"expected 3 fields \(emotion,pixels,Usage\), got 2 \(missing column\)",
                       None),
    "empty usage": (lambda s: s.rsplit(",", 1)[0] + ",", r"empty Usage value", ""),
}


@pytest.mark.parametrize("case", sorted(ROW_CASES))
@pytest.mark.parametrize("compress", [False, True], ids=["csv", "gz"])
def test_bad_row_raises_with_file_line_value(case, compress, fer_lines, write_csv):
    edit, reason, _ = ROW_CASES[case]
    lines = list(fer_lines)
    lines[5] = edit(lines[5])
    path = write_csv("bad.csv" + (".gz" if compress else ""), text="\n".join(lines) + "\n",
                     compress=compress)
    with pytest.raises(DataFormatError) as info:
        Dataset.load(path, cache=False)
    message = str(info.value)
    assert message.startswith(f"{path}, line 6: ")
    assert re.search(reason, message), message
    assert isinstance(info.value, EmotionKitError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("case", sorted(ROW_CASES))
def test_bad_row_skip_mode(case, fer_lines, write_csv, tiny):
    edit, reason, value = ROW_CASES[case]
    lines = list(fer_lines)
    lines[5] = edit(lines[5])
    lines[9] = edit(lines[9])
    path = write_csv("bad.csv", text="\n".join(lines) + "\n")
    with pytest.warns(DataWarning, match=r"skipped 2 bad row\(s\) \(lines 6, 10\)"):
        ds = Dataset.load(path, on_error="skip", cache=False)
    assert len(ds) == len(tiny) - 2
    keep = [i for i in range(len(tiny)) if i not in (4, 8)]
    np.testing.assert_array_equal(ds.images, tiny.images[keep])
    np.testing.assert_array_equal(ds.labels, tiny.labels[keep])
    assert [r["line"] for r in ds.skipped] == [6, 10]
    for record in ds.skipped:
        assert record["file"] == str(path)
        assert re.search(reason, record["reason"])
        if value is not None:
            assert record["value"] == value
        assert record["message"].startswith(f"{path}, line {record['line']}: ")


def test_error_line_number_across_blocks(tiny, fer_lines, write_csv, monkeypatch):
    monkeypatch.setattr(csv_reader, "_PLAIN_CHUNK", 1000)
    lines = list(fer_lines)
    lines[17] = _replace_pixel(lines[17], 2303, "300")
    path = write_csv("late.csv", text="\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r", line 18: pixel value 300 \(pixel 2304\)"):
        Dataset.load(path, cache=False)


def test_skip_mode_all_rows_bad_gives_empty_dataset(fer_lines, write_csv):
    lines = [fer_lines[0]] + [_drop_pixel(s) for s in fer_lines[1:4]]
    path = write_csv("allbad.csv", text="\n".join(lines) + "\n")
    with pytest.warns(DataWarning, match="skipped 3"):
        ds = Dataset.load(path, on_error="skip", cache=False)
    assert len(ds) == 0 and len(ds.skipped) == 3


@pytest.mark.parametrize(
    "header, message",
    [
        ("emotion,Usage", r"line 1: missing column 'pixels' \(or 'feature'\)"),
        ("pixels,Usage", r"line 1: missing column 'emotion'"),
        ("feature", r"line 1: missing column 'label' \(training file\) or 'id' \(test file\)"),
        ("a,b,c", r"unknown data format: first line 'a,b,c' is not a FER2013 header"),
    ],
)
def test_bad_header(header, message, write_csv):
    path = write_csv("h.csv", text=header + "\n1,2,3\n")
    with pytest.raises(DataFormatError, match=message) as info:
        Dataset.load(path, cache=False)
    assert str(info.value).startswith(str(path))


def test_header_is_checked_even_in_skip_mode(write_csv):
    with pytest.raises(DataFormatError, match="missing column 'pixels'"):
        Dataset.load(write_csv("h.csv", text="emotion,Usage\n"), on_error="skip", cache=False)


def test_empty_files(tmp_path, write_csv):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match=f"^{re.escape(str(empty))}: empty file$"):
        Dataset.load(empty, cache=False)
    gz = write_csv("empty.csv.gz", text="", compress=True)
    with pytest.raises(DataFormatError, match=r"empty file \(after decompression\)"):
        Dataset.load(gz, cache=False)
    blank = write_csv("blank.csv", text="\n\n  \n")
    with pytest.raises(DataFormatError, match="empty file"):
        Dataset.load(blank, cache=False)
    header_only = write_csv("header.csv", text="emotion,pixels,Usage\n")
    with pytest.raises(DataFormatError, match="has a header but no data rows"):
        Dataset.load(header_only, cache=False)


def test_unknown_formats(tmp_path):
    binary = tmp_path / "blob.dat"
    binary.write_bytes(b"\x00\x01\x02 binary \x00 stuff\n")
    with pytest.raises(DataFormatError, match=r"blob.dat: unknown data format \(binary content\)"):
        Dataset.load(binary, cache=False)
    png = tmp_path / "face.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(DataFormatError, match="unknown data format"):
        Dataset.load(png, cache=False)
    with pytest.raises(DataFormatError, match="no such file or directory"):
        Dataset.load(tmp_path / "missing.csv")
    endless = tmp_path / "endless.txt"
    endless.write_bytes(b"a" * (3 << 20))
    with pytest.raises(DataFormatError, match=r"unknown data format \(no line break in the first"):
        Dataset.load(endless, cache=False)


def test_corrupt_and_truncated_gzip(fer_lines, tmp_path):
    data = gzip.compress(("\n".join(fer_lines) + "\n").encode())
    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="cut.csv.gz: gzip file is truncated"):
        Dataset.load(truncated, cache=False)
    corrupt = tmp_path / "bad.csv.gz"
    corrupt.write_bytes(data[:20] + b"\xff" * 200 + data[220:])
    with pytest.raises(DataFormatError, match="bad.csv.gz: not a valid gzip file"):
        Dataset.load(corrupt, cache=False)


def test_bad_npz(tmp_path, tiny):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    with pytest.raises(DataFormatError, match="broken.npz: not a readable .npz file"):
        Dataset.load(broken)
    noimages = tmp_path / "noimg.npz"
    np.savez(noimages, labels=np.zeros(3, np.int64))
    with pytest.raises(DataFormatError, match=r"npz has no 'images' array \(arrays: labels\)"):
        Dataset.load(noimages)
    floats = tmp_path / "float.npz"
    np.savez(floats, images=np.zeros((2, 48, 48), np.float32))
    with pytest.raises(DataFormatError, match=r"'images' must be uint8 \(N, 48, 48\), got float32"):
        Dataset.load(floats)
    badlabels = tmp_path / "labels.npz"
    np.savez(badlabels, images=tiny.images, labels=np.full(len(tiny), 9))
    with pytest.raises(DataFormatError, match="label 9 at index 0 is outside 0..6"):
        Dataset.load(badlabels)


# ------------------------------------------------------------------------------------ folders
def _save_png(path, array):
    from skimage import io as skio

    path.parent.mkdir(parents=True, exist_ok=True)
    skio.imsave(path, array, check_contrast=False)


@pytest.fixture
def folder_with_problems(tmp_path):
    root = tmp_path / "imgs"
    _save_png(root / "train" / "happy" / "ok.png", np.full((48, 48), 5, np.uint8))
    (root / "train" / "happy" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (root / "train" / "happy" / "notes.txt").write_text("hello")
    _save_png(root / "train" / "happyish" / "x.png", np.zeros((48, 48), np.uint8))
    return root


def test_folder_problems_raise(folder_with_problems):
    root = folder_with_problems
    with pytest.raises(DataFormatError) as info:
        Dataset.load(root, cache=False)
    # the listing is checked first: sorted class folders, 'happy' before 'happyish'
    assert str(info.value).startswith(str(root / "train" / "happy" / "notes.txt"))
    assert "not an image file" in str(info.value)


def test_folder_problems_skip(folder_with_problems):
    root = folder_with_problems
    with pytest.warns(DataWarning, match=r"skipped 3 bad row\(s\)"):
        ds = Dataset.load(root, on_error="skip", cache=False)
    assert len(ds) == 1 and ds.labels[0] == 3
    reasons = {r["file"]: r["reason"] for r in ds.skipped}
    assert "not an image file" in reasons[str(root / "train" / "happy" / "notes.txt")]
    assert reasons[str(root / "train" / "happyish")].startswith("unknown class folder 'happyish'")
    assert reasons[str(root / "train" / "happy" / "broken.png")].startswith("unreadable image")


def test_unreadable_image_raises_naming_the_image(tmp_path):
    root = tmp_path / "imgs"
    bad = root / "Training" / "sad" / "bad.jpg"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\xff\xd8 garbage")
    with pytest.raises(DataFormatError, match=rf"^{re.escape(str(bad))}: unreadable image"):
        Dataset.load(root, cache=False)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="empty folder"):
        Dataset.load(tmp_path / "empty", cache=False)
    (tmp_path / "noimg" / "train" / "sad").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="no images found"):
        Dataset.load(tmp_path / "noimg", cache=False)


def test_nothing_is_coerced_silently(fer_lines, write_csv):
    """A bad row never turns into data: raise mode raises, skip mode drops and warns."""
    lines = list(fer_lines)
    lines[3] = _replace_pixel(lines[3], 5, "12a")
    path = write_csv("c.csv", text="\n".join(lines) + "\n")
    with pytest.raises(DataFormatError):
        Dataset.load(path, cache=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = Dataset.load(path, on_error="skip", cache=False)
    assert any(issubclass(w.category, DataWarning) for w in caught)
    assert 4 not in set(int(i) for i in ds.ids)
