"""Tests on the real FER2013 file (Training + PublicTest); skipped when it is absent."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from emotionkit.data import Dataset, csv_reader
from emotionkit.data import cache as dcache

pytestmark = pytest.mark.realdata

# Per-class counts published with the file (shared/data/README.md).
TRAINING = [3995, 436, 4097, 7215, 4830, 3171, 4965]
PUBLIC_TEST = [467, 56, 496, 895, 653, 415, 607]


def _overloaded() -> bool:
    """Whether other jobs compete for the cores (then wall-clock targets are not meaningful)."""
    return os.getloadavg()[0] > (os.cpu_count() or 1)


def _timed(fn):
    """Best wall time and best CPU time of the calling thread over two runs.

    The reader is a two-stage pipeline (gzip pieces are inflated on a helper thread while this
    thread parses), so the CPU time of the whole process is the sum of two overlapping stages
    and no bound on the wall time; each stage is timed on its own instead (this thread here,
    the inflating in ``test_parse_speed``).
    """
    walls, cpus, result = [], [], None
    for _ in range(2):
        wall, cpu = time.perf_counter(), time.thread_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.thread_time() - cpu)
    return result, min(walls), min(cpus)


def _check_target(what: str, wall: float, cpu: float, target: float) -> None:
    # The CPU time of a stage is its work and is checked always; the wall time is checked
    # unless other jobs overload the machine (load average above the number of cores).
    assert cpu <= target, f"{what}: {cpu:.2f} s of CPU time (target <= {target} s)"
    if not _overloaded():
        assert wall <= target, f"{what}: {wall:.2f} s wall time (target <= {target} s)"


@pytest.fixture(scope="module")
def real(real_data_path):
    """Parse without the cache (timed: best of two runs)."""
    return _timed(lambda: Dataset.load(real_data_path, cache=False))


def test_counts(real):
    ds, _, _ = real
    assert len(ds) == 32298
    assert ds.split_counts() == {"Training": 28709, "PublicTest": 3589}
    assert list(ds.split("Training").class_counts().values()) == TRAINING
    assert list(ds.split("PublicTest").class_counts().values()) == PUBLIC_TEST
    assert ds.skipped == []
    assert ds.ids[0] == 2 and ds.ids[-1] == 32299  # file line numbers


def test_parse_speed(real, real_data_path):
    _, wall, cpu = real
    _check_target("parsing the real file", wall, cpu, 3.0)
    if csv_reader.is_gzip(real_data_path):
        source = str(real_data_path)
        _, inflate_wall, inflate_cpu = _timed(
            lambda: sum(len(piece) for piece, _ in csv_reader._gzip_pieces(source, source)))
        _check_target("inflating the real file (the reader's helper thread)",
                      inflate_wall, inflate_cpu, 3.0)


def test_cached_reload_speed(real, real_data_path, tmp_path):
    ds = real[0]
    # fill the cache with the rows parsed above instead of parsing the file a third time
    entry = dcache.entry_path(dcache.file_key(real_data_path), tmp_path)
    arrays = {"images": ds.images, "labels": ds.labels, "splits": ds.splits, "ids": ds.ids,
              "format": "fer2013"}
    assert dcache.store(entry, arrays, [])
    cached, wall, cpu = _timed(lambda: Dataset.load(real_data_path, cache_dir=tmp_path))
    assert np.array_equal(cached.images, ds.images) and np.array_equal(cached.labels, ds.labels)
    _check_target("cached reload", wall, cpu, 0.3)


def test_audit_finds_the_known_problems(real):
    ds = real[0]
    summary = ds.audit().summary()
    # FER2013 is known to hold about a dozen constant images and several hundred exact
    # duplicates shared between Training and the test splits, some with conflicting labels
    assert 5 <= summary["blank_images"] <= 30
    assert summary["groups_across_splits"]["Training/PublicTest"] >= 100
    assert summary["conflicting_label_groups"] >= 1
    blank = ds.images[ds.audit().blank]
    assert (blank.reshape(len(blank), -1).min(1) == blank.reshape(len(blank), -1).max(1)).all()
