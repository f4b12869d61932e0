"""Benchmark: parsing the real FER2013 file, cached reload, and a naive per-row parse baseline.

Run ``python bench/data_load.py [PATH]`` (default ``../shared/data/fer2013.csv.gz`` next to the
checkout). Prints the machine, the fast parse time (best of 3, cache off), the cached reload time
(best of 3), and the time of the straightforward loop (csv module, ``np.array(row.split(),
dtype=float)`` per row) measured in the same run, with the speed-up ratio.
"""

from __future__ import annotations

import csv
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emotionkit._allocator import tune_cpu_allocator
from emotionkit.data import Dataset
from emotionkit.runtime import describe_machine

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


def best_of(n: int, fn) -> tuple[float, float, object]:
    """Best wall time, best CPU time (all threads of this process) and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(n):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT
    tune_cpu_allocator()  # as the emotionkit command does (EMOTIONKIT_MALLOC=default: off)
    print(describe_machine())
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores"
          + (" (busy: wall times are inflated, CPU times are not)" if load > 1.5 else ""))
    if not path.exists():
        print(f"skipped: {path} not found (pass the FER2013 csv path as the first argument)")
        return 0
    parse_s, parse_cpu, ds = best_of(3, lambda: Dataset.load(path, cache=False))
    print(f"fast parse:     {parse_s:7.3f} s wall {parse_cpu:7.3f} s CPU  "
          f"({len(ds)} rows, best of 3, cache off)")
    with tempfile.TemporaryDirectory() as cache_dir:
        Dataset.load(path, cache_dir=cache_dir)
        reload_s, reload_cpu, cached = best_of(3, lambda: Dataset.load(path, cache_dir=cache_dir))
    assert np.array_equal(cached.images, ds.images)
    print(f"cached reload:  {reload_s:7.3f} s wall {reload_cpu:7.3f} s CPU  (best of 3)")
    naive_s, naive_cpu, (images, labels) = best_of(1, lambda: naive_parse(path))
    assert np.array_equal(images.astype(np.uint8), ds.images)
    assert np.array_equal(labels, ds.labels)
    print(f"naive baseline: {naive_s:7.3f} s wall {naive_cpu:7.3f} s CPU  "
          "(csv module + np.array(row.split(), dtype=float) per row)")
    print(f"speed-up over the naive baseline: parse {naive_s / parse_s:.1f}x wall "
          f"({naive_cpu / parse_cpu:.1f}x CPU), cached reload {naive_s / reload_s:.0f}x wall")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
