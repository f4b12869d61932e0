"""docs/figures.py: every guide figure draws, and the build redraws only what is out of date."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def figures():
    spec = importlib.util.spec_from_file_location("emotionkit_docs_figures",
                                                  ROOT / "docs" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_png(path: Path) -> None:
    from PIL import Image

    assert path.is_file(), path
    assert 5_000 < path.stat().st_size < 250_000, (path.name, path.stat().st_size)
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        rgba = np.asarray(image.convert("RGBA"))
    assert 300 <= width <= 1600 and 250 <= height <= 1600, (path.name, image.size)
    assert rgba[..., 3].min() == 255, f"{path.name} is transparent (unreadable on a dark theme)"


def _draw(figures, name: str, path: Path) -> None:
    if name == "confusion_matrix":  # synthetic faces: the same everywhere, and fast
        figures.confusion_matrix(path, data=None)
    else:
        figures.FIGURES[name](path)


MODEL_FREE = ("synthetic_faces", "augmentation")


@pytest.mark.parametrize("name", MODEL_FREE)
def test_data_figures_draw(figures, tmp_path, name):
    path = tmp_path / f"{name}.png"
    _draw(figures, name, path)
    figures.finish_png(path)
    _check_png(path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["predict_astronaut", "explain_astronaut", "confusion_matrix",
                                  "sanity_check"])
def test_model_figures_draw(figures, tmp_path, name):
    path = tmp_path / f"{name}.png"
    _draw(figures, name, path)
    figures.finish_png(path)
    _check_png(path)


def test_every_figure_is_tested_and_used_in_a_guide(figures):
    tested = set(MODEL_FREE) | {"predict_astronaut", "explain_astronaut", "confusion_matrix",
                                "sanity_check"}
    assert set(figures.FIGURES) == tested
    guides = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.rst"))
    for name in figures.FIGURES:
        assert f"_generated/figures/{name}.png" in guides, name


def _fake_figures(figures, monkeypatch, calls):
    from PIL import Image

    def make(name):
        def draw(path):
            calls.append(name)
            # transparent on purpose: the build must put it on white
            Image.new("RGBA", (400, 300), (200, 0, 0, 0)).save(path, format="PNG")
        return draw

    monkeypatch.setattr(figures, "FIGURES", {n: make(n) for n in ("a", "b")})


def test_build_redraws_only_what_is_missing_or_stale(figures, tmp_path, monkeypatch):
    from PIL import Image

    calls: list[str] = []
    _fake_figures(figures, monkeypatch, calls)
    assert set(figures.build(tmp_path)) == {"a", "b"}
    with Image.open(tmp_path / "a.png") as image:
        assert np.asarray(image.convert("RGBA"))[0, 0].tolist() == [255, 255, 255, 255]
    assert figures.build(tmp_path) == {} and calls == ["a", "b"]  # current: nothing drawn

    (tmp_path / "b.png").unlink()
    assert list(figures.build(tmp_path)) == ["b"]

    stamp = json.loads((tmp_path / figures.STAMP).read_text())
    stamp["emotionkit"] = "0.0.0"  # another version drew them
    (tmp_path / figures.STAMP).write_text(json.dumps(stamp))
    assert set(figures.build(tmp_path)) == {"a", "b"}
    assert set(figures.build(tmp_path, force=True)) == {"a", "b"}


def test_build_failure_raises_and_leaves_no_stamp(figures, tmp_path, monkeypatch):
    calls: list[str] = []
    _fake_figures(figures, monkeypatch, calls)
    figures.build(tmp_path)

    def broken(path):
        raise ValueError("no face found")

    monkeypatch.setitem(figures.FIGURES, "b", broken)
    (tmp_path / "b.png").unlink()
    with pytest.raises(ValueError, match="no face found"):
        figures.build(tmp_path, force=True)
    assert not (tmp_path / figures.STAMP).exists()  # the next build tries again
    assert not (tmp_path / "b.png").exists()
    with pytest.raises(KeyError, match="unknown figure"):
        figures.build(tmp_path, names=["nope"])
