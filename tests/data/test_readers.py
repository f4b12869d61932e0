"""Every reader on small generated files: FER2013 CSV (plain, gz, Kaggle headers, CRLF, quotes),
course train/test CSV, image folders, emotionkit npz, and the synthetic spec."""

from __future__ import annotations

import gzip
import io
import lzma
import warnings

import numpy as np
import pytest

from emotionkit import ConfigError
from emotionkit.data import CLASS_NAMES, Dataset, DataWarning, csv_reader


def assert_same(ds: Dataset, ref: Dataset, *, labels: bool = True, splits: bool = True) -> None:
    assert ds.images.dtype == np.uint8 and ds.images.shape == ref.images.shape
    np.testing.assert_array_equal(ds.images, ref.images)
    if labels:
        assert ds.labels is not None and ds.labels.dtype == np.int64
        np.testing.assert_array_equal(ds.labels, ref.labels)
    if splits:
        assert list(ds.splits) == list(ref.splits)


def test_fer_csv_plain(tiny, write_csv):
    path = write_csv("fer.csv", tiny)
    ds = Dataset.load(path, cache=False)
    assert_same(ds, tiny)
    assert ds.source == str(path)
    assert list(ds.ids) == list(range(2, 2 + len(tiny)))  # ids are file line numbers
    assert ds.skipped == []


def test_fer_csv_gz_detected_by_content(tiny, write_csv):
    # gzip content under a plain .csv name: detection looks at the bytes, not the extension
    for name in ("fer.csv.gz", "fer_compressed.csv"):
        ds = Dataset.load(write_csv(name, tiny, compress=True), cache=False)
        assert_same(ds, tiny)


def test_plain_csv_with_gz_name_is_read_as_text(tiny, write_csv):
    ds = Dataset.load(write_csv("misnamed.csv.gz", tiny), cache=False)
    assert_same(ds, tiny)


def test_kaggle_spaced_headers_any_order(tiny, write_csv):
    path = write_csv("kaggle.csv", tiny, header=("emotion", " Usage", " pixels"))
    assert path.read_text().splitlines()[0] == "emotion, Usage, pixels"
    assert_same(Dataset.load(path, cache=False), tiny)
    path = write_csv("reordered.csv", tiny, header=(" pixels", "Usage", "emotion"))
    assert_same(Dataset.load(path, cache=False), tiny)


def test_spaces_after_commas_in_rows(tiny, write_csv):
    path = write_csv("spaced.csv", tiny, header=("emotion", " Usage", " pixels"))
    path.write_text(path.read_text().replace(",", ", "))
    assert_same(Dataset.load(path, cache=False), tiny)


def test_extra_column_is_ignored(tiny, write_csv):
    path = write_csv("extra.csv", tiny, header=("emotion", "pixels", "Usage", "note"))
    assert_same(Dataset.load(path, cache=False), tiny)


def test_crlf_and_quoted_fields(tiny, write_csv):
    assert_same(Dataset.load(write_csv("crlf.csv", tiny, newline="\r\n"), cache=False), tiny)
    assert_same(Dataset.load(write_csv("q.csv", tiny, quote_pixels=True), cache=False), tiny)


def test_missing_final_newline_and_blank_lines(tiny, fer_lines, write_csv):
    text = "\n".join(fer_lines[:5]) + "\n\n" + "\n".join(fer_lines[5:])  # no final newline
    ds = Dataset.load(write_csv("blank.csv", text=text), cache=False)
    assert_same(ds, tiny)
    assert ds.ids[4] == 7  # line numbers count the blank line


def test_usage_column_optional(tiny, write_csv):
    ds = Dataset.load(write_csv("nousage.csv", tiny, header=("emotion", "pixels")), cache=False)
    assert_same(ds, tiny, splits=False)
    assert set(ds.splits) == {"Training"}


def test_course_train_and_test_files(tiny, write_csv):
    train = Dataset.load(write_csv("train.csv", tiny, header=("label", "feature")), cache=False)
    assert_same(train, tiny, splits=False)
    assert set(train.splits) == {"Training"}
    test = Dataset.load(write_csv("test.csv", tiny, header=("id", "feature")), cache=False)
    assert test.labels is None and not test.has_labels
    np.testing.assert_array_equal(test.images, tiny.images)
    assert list(test.ids) == [100 + i for i in range(len(tiny))]  # from the id column
    assert set(test.splits) == {"Test"}
    assert test.class_counts() == {}
    assert test[0][1] == -1  # unlabeled items carry label -1


def test_many_small_pieces_cross_block_boundaries(tiny, write_csv, monkeypatch):
    # force tiny read chunks so lines straddle pieces and many blocks are parsed
    monkeypatch.setattr(csv_reader, "_PLAIN_CHUNK", 777)
    monkeypatch.setattr(csv_reader, "_READ_CHUNK", 313)
    assert_same(Dataset.load(write_csv("a.csv", tiny), cache=False), tiny)
    assert_same(Dataset.load(write_csv("b.csv.gz", tiny, compress=True), cache=False), tiny)


def test_multi_member_gzip(tiny, fer_lines, tmp_path):
    head = "\n".join(fer_lines[:8]) + "\n"
    tail = "\n".join(fer_lines[8:]) + "\n"
    path = tmp_path / "multi.csv.gz"
    path.write_bytes(gzip.compress(head.encode()) + gzip.compress(tail.encode()))
    assert_same(Dataset.load(path, cache=False), tiny)


def test_fast_and_slow_paths_agree(tiny, fer_lines):
    layout = csv_reader.parse_header(fer_lines[0], "x")
    block = ("\n".join(fer_lines[1:]) + "\n").encode()
    fast = csv_reader._fast_block(block, layout, 2)
    from emotionkit.data.problems import Problems

    slow = csv_reader._slow_block(block, layout, 2, Problems("x"))
    assert fast is not None
    np.testing.assert_array_equal(fast.images, slow.images)
    assert fast.labels == slow.labels and fast.splits == slow.splits and fast.ids == slow.ids


def test_pixel_edge_values_and_leading_zeros(write_csv):
    img = np.zeros((48, 48), np.uint8)
    img[0, :4] = [0, 9, 10, 255]
    img[1, :3] = [99, 100, 254]
    pixels = " ".join(str(v) for v in img.reshape(-1))
    text = f"emotion,pixels,Usage\n3,{pixels},Training\n"
    ds = Dataset.load(write_csv("edge.csv", text=text), cache=False)
    np.testing.assert_array_equal(ds.images[0], img)
    # "007" is the integer 7 (the fast path hands 4+ digit tokens to the strict slow path)
    padded = pixels.replace("255", "0255", 1)
    ds = Dataset.load(write_csv("padded.csv", text=f"emotion,pixels\n3,{padded}\n"), cache=False)
    np.testing.assert_array_equal(ds.images[0], img)


# ------------------------------------------------------------------------------------ npz
def test_npz_roundtrip_labeled_and_unlabeled(tiny, tmp_path):
    path = tmp_path / "set.npz"
    tiny.save(path)
    ds = Dataset.load(path)
    assert_same(ds, tiny)
    np.testing.assert_array_equal(ds.ids, tiny.ids)
    unlabeled = Dataset(tiny.images, None, tiny.splits, ids=[f"img{i}" for i in range(len(tiny))])
    unlabeled.save(tmp_path / "u.npz", compress=False)
    back = Dataset.load(tmp_path / "u.npz")
    assert back.labels is None
    assert list(back.ids) == [f"img{i}" for i in range(len(tiny))]


def test_npz_detected_by_content_and_usage_key(tiny, tmp_path):
    # the layout of the shared fer2013.npz: int8 labels and a 'usage' array; odd file name
    path = tmp_path / "data.bin"
    with open(path, "wb") as fh:
        np.savez(fh, images=tiny.images, labels=tiny.labels.astype(np.int8),
                 usage=np.asarray(tiny.splits, dtype=str))
    ds = Dataset.load(path)
    assert_same(ds, tiny)
    assert ds.labels.dtype == np.int64


def test_npz_xz(tiny, tmp_path):
    buf = io.BytesIO()
    np.savez(buf, images=tiny.images, labels=tiny.labels, usage=np.asarray(tiny.splits, str))
    path = tmp_path / "set.npz.xz"
    path.write_bytes(lzma.compress(buf.getvalue()))
    assert_same(Dataset.load(path), tiny)


# ------------------------------------------------------------------------------------ folders
def _save_png(path, array):
    from skimage import io as skio

    path.parent.mkdir(parents=True, exist_ok=True)
    skio.imsave(path, array, check_contrast=False)


def test_folder_maps_class_names_not_sorted_position(tmp_path):
    root = tmp_path / "faces"
    # alphabetical order of these folders is angry, happy, neutral, sad, surprise: positional
    # labels would make 'neutral' 2 and 'sad' 3; by name they are 6 and 4
    names = ["Neutral", "sad", "SURPRISE", "angry", "happy"]
    for k, name in enumerate(names):
        _save_png(root / "train" / name / "a.png", np.full((48, 48), 10 * (k + 1), np.uint8))
        _save_png(root / "test" / name / "b.jpg", np.full((48, 48), 100 + k, np.uint8))
    ds = Dataset.load(root, cache=False)
    assert len(ds) == 10
    by_id = {str(i): (int(lab), str(s), int(img[0, 0]))
             for i, lab, s, img in zip(ds.ids, ds.labels, ds.splits, ds.images, strict=True)}
    assert by_id["train/Neutral/a.png"] == (6, "Training", 10)
    assert by_id["train/sad/a.png"] == (4, "Training", 20)
    assert by_id["train/SURPRISE/a.png"] == (5, "Training", 30)
    assert by_id["train/angry/a.png"] == (0, "Training", 40)
    assert by_id["train/happy/a.png"] == (3, "Training", 50)
    assert by_id["test/sad/b.jpg"][:2] == (4, "PublicTest")
    assert abs(by_id["test/sad/b.jpg"][2] - 101) <= 2  # JPEG is lossy


def test_folder_converts_size_and_mode_with_warning(tmp_path):
    root = tmp_path / "rgb"
    rgb = np.zeros((64, 80, 3), np.uint8)
    rgb[...] = (200, 100, 50)
    _save_png(root / "happy" / "big.png", rgb)  # no split level: everything is Training
    _save_png(root / "sad" / "ok.png", np.full((48, 48), 7, np.uint8))
    with pytest.warns(DataWarning, match=r"converted 1 image\(s\) to 48x48 grayscale.*80x64 RGB"):
        ds = Dataset.load(root, cache=False)
    assert set(ds.splits) == {"Training"}
    happy = ds.images[list(ds.labels).index(3)]
    expected = 0.2125 * 200 + 0.7154 * 100 + 0.0721 * 50  # skimage's rgb2gray weights
    assert happy.shape == (48, 48) and np.all(np.abs(happy.astype(float) - expected) <= 1)
    assert np.all(ds.images[list(ds.labels).index(4)] == 7)


def test_folder_ignores_hidden_files(tmp_path):
    root = tmp_path / "f"
    _save_png(root / "Training" / "fear" / "x.png", np.zeros((48, 48), np.uint8))
    (root / "Training" / "fear" / ".DS_Store").write_bytes(b"junk")
    (root / "README.txt").write_text("not in a class folder")
    ds = Dataset.load(root, cache=False)
    assert len(ds) == 1 and ds.labels[0] == CLASS_NAMES.index("fear")


# ------------------------------------------------------------------------------------ synthetic
def test_synthetic_spec():
    ds = Dataset.load("synthetic:4")
    assert len(ds) == 28 and ds.split_names == ["Training", "PublicTest"]
    again = Dataset.load("synthetic:4")
    np.testing.assert_array_equal(ds.images, again.images)
    other = Dataset.load("synthetic:4", seed=1)
    assert not np.array_equal(ds.images, other.images)
    assert len(Dataset.load("synthetic")) == 7 * 200
    with pytest.raises(ConfigError, match="synthetic:N"):
        Dataset.load("synthetic:abc")


def test_bad_on_error_value(tiny, write_csv):
    with pytest.raises(ConfigError, match="on_error must be 'raise' or 'skip'"):
        Dataset.load(write_csv("a.csv", tiny), on_error="ignore")


def test_no_warning_on_clean_read(tiny, write_csv):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Dataset.load(write_csv("clean.csv", tiny), cache=False)
