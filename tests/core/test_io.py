import os
import stat

import pytest

from emotionkit._io import atomic_write_bytes, atomic_write_json, atomic_write_with


def test_atomic_write_creates_with_umask_mode(tmp_path):
    path = tmp_path / "a.bin"
    old = os.umask(0o022)
    try:
        atomic_write_bytes(path, b"x")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_atomic_write_keeps_existing_mode(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("{}")
    os.chmod(path, 0o600)
    atomic_write_json(path, {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip().startswith("{")


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")

    def boom(fh):
        fh.write(b"partial")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write_with(path, boom)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
