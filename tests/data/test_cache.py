"""The parsed-data cache: hit, miss on change, corrupt entries, opt-out, and skip records."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from emotionkit import DataFormatError
from emotionkit.data import Dataset, DataWarning, csv_reader, folder_reader
from emotionkit.data import cache as dcache


@pytest.fixture
def cdir(tmp_path):
    return tmp_path / "cache"


def _forbid(monkeypatch, module, name):
    def fail(*args, **kwargs):
        raise AssertionError(f"{name} called on what should be a cache hit")

    monkeypatch.setattr(module, name, fail)


def test_hit_after_first_read(tiny, write_csv, cdir, monkeypatch):
    path = write_csv("a.csv.gz", tiny, compress=True)
    first = Dataset.load(path, cache_dir=cdir)
    entries = list(cdir.glob("*.npz"))
    assert len(entries) == 1
    _forbid(monkeypatch, csv_reader, "read_csv")
    second = Dataset.load(path, cache_dir=cdir)
    for attr in ("images", "labels", "ids"):
        np.testing.assert_array_equal(getattr(second, attr), getattr(first, attr))
    assert list(second.splits) == list(first.splits) and second.splits.dtype == object
    assert second.source == str(path)


def test_env_var_chooses_directory(tiny, write_csv, tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTIONKIT_CACHE_DIR", str(tmp_path / "envcache"))
    Dataset.load(write_csv("a.csv", tiny))
    assert len(list((tmp_path / "envcache").glob("*.npz"))) == 1
    assert dcache.cache_dir() == tmp_path / "envcache"
    assert dcache.cache_dir(tmp_path / "x") == tmp_path / "x"


def test_default_directory_is_user_cache(monkeypatch):
    import platformdirs

    monkeypatch.delenv("EMOTIONKIT_CACHE_DIR", raising=False)
    assert str(dcache.cache_dir()).startswith(platformdirs.user_cache_dir("emotionkit"))


def test_changed_file_is_parsed_again(tiny, fer_lines, write_csv, cdir):
    path = write_csv("a.csv", tiny)
    Dataset.load(path, cache_dir=cdir)
    edited = [fer_lines[0]] + [fer_lines[2]] + fer_lines[2:]  # first row replaced by second
    path.write_text("\n".join(edited) + "\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = Dataset.load(path, cache_dir=cdir)
    np.testing.assert_array_equal(again.images[0], tiny.images[1])
    assert len(list(cdir.glob("*.npz"))) == 1  # the stale entry was replaced


def test_corrupt_entry_is_ignored_and_rebuilt(tiny, write_csv, cdir):
    path = write_csv("a.csv", tiny)
    Dataset.load(path, cache_dir=cdir)
    (entry,) = cdir.glob("*.npz")
    entry.write_bytes(b"PK\x03\x04 this is not a zip file")
    ds = Dataset.load(path, cache_dir=cdir)
    np.testing.assert_array_equal(ds.images, tiny.images)
    with np.load(entry) as z:  # rebuilt, readable again
        assert z["images"].shape == tiny.images.shape
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    np.testing.assert_array_equal(Dataset.load(path, cache_dir=cdir).images, tiny.images)


def test_cache_false_writes_nothing(tiny, write_csv, cdir):
    Dataset.load(write_csv("a.csv", tiny), cache=False, cache_dir=cdir)
    assert not cdir.exists() or not list(cdir.glob("*.npz"))


def test_unwritable_cache_does_not_break_loading(tiny, write_csv, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache dir should be")
    ds = Dataset.load(write_csv("a.csv", tiny), cache_dir=blocker / "sub")
    assert len(ds) == len(tiny)


def test_skip_records_survive_the_cache(fer_lines, write_csv, cdir):
    lines = list(fer_lines)
    lines[3] = lines[3].replace(",", ",x ", 1)
    path = write_csv("bad.csv", text="\n".join(lines) + "\n")
    with pytest.warns(DataWarning, match="skipped 1"):
        first = Dataset.load(path, on_error="skip", cache_dir=cdir)
    with pytest.warns(DataWarning, match="skipped 1"):  # warned again on a hit
        second = Dataset.load(path, on_error="skip", cache_dir=cdir)
    assert second.skipped == first.skipped and second.skipped[0]["line"] == 4
    with pytest.raises(DataFormatError, match=r"bad.csv, line 4: non-numeric pixel value 'x'"):
        Dataset.load(path, cache_dir=cdir)  # a raising load still raises


def test_folder_cache_and_invalidation(tmp_path, cdir, monkeypatch):
    from skimage import io as skio

    root = tmp_path / "imgs"
    (root / "happy").mkdir(parents=True)
    skio.imsave(root / "happy" / "a.png", np.full((48, 48), 3, np.uint8), check_contrast=False)
    assert Dataset.load(root, cache_dir=cdir).images[0, 0, 0] == 3
    with monkeypatch.context() as m:
        _forbid(m, folder_reader, "read_folder")
        assert len(Dataset.load(root, cache_dir=cdir)) == 1
    skio.imsave(root / "happy" / "b.png", np.full((48, 48), 4, np.uint8), check_contrast=False)
    assert len(Dataset.load(root, cache_dir=cdir)) == 2  # a new file changes the key


def test_clear(tiny, write_csv, cdir):
    Dataset.load(write_csv("a.csv", tiny), cache_dir=cdir)
    assert dcache.clear(cdir) == 1
    assert not list(cdir.glob("*.npz"))
