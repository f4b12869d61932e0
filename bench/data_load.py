"""Benchmark: parsing the real FER2013 file, cached reload, and a naive per-row parse baseline.

Run ``python bench/data_load.py [PATH]`` (default ``../shared/data/fer2013.csv.gz`` next to the
checkout). Prints the machine, the fast parse time (best of 3, cache off), the cached reload time
(best of 3), and the time of the straightforward loop (csv module, ``np.array(row.split(),
dtype=float)`` per row) measured in the same run, with the speed-up ratio.
"""

from __future__ import annotations

import csv
import gzip
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emotionkit._runtime import describe_machine
from emotionkit.data import Dataset

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013.csv.gz"


def naive_parse(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The straightforward reader: csv module, one float array per row."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    images, labels = [], []
    with opener(path, "rt", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader)]
        ie, ip = header.index("emotion"), header.index("pixels")
        for row in reader:
            images.append(np.array(row[ip].split(), dtype=float).reshape(48, 48))
            labels.append(int(row[ie]))
    return np.array(images), np.array(labels)


def best_of(n: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(n):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT
    print(describe_machine())
    if not path.exists():
        print(f"skipped: {path} not found (pass the FER2013 csv path as the first argument)")
        return 0
    parse_s, ds = best_of(3, lambda: Dataset.load(path, cache=False))
    print(f"fast parse:     {parse_s:7.3f} s  ({len(ds)} rows, best of 3, cache off)")
    with tempfile.TemporaryDirectory() as cache_dir:
        Dataset.load(path, cache_dir=cache_dir)
        reload_s, cached = best_of(3, lambda: Dataset.load(path, cache_dir=cache_dir))
    assert np.array_equal(cached.images, ds.images)
    print(f"cached reload:  {reload_s:7.3f} s  (best of 3)")
    naive_s, (images, labels) = best_of(1, lambda: naive_parse(path))
    assert np.array_equal(images.astype(np.uint8), ds.images)
    assert np.array_equal(labels, ds.labels)
    print(f"naive baseline: {naive_s:7.3f} s  (csv module + np.array(row.split(), dtype=float))")
    print(f"speed-up: parse {naive_s / parse_s:.1f}x, cached reload {naive_s / reload_s:.0f}x "
          "over the naive baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
