"""The study examples (examples/study_*.py) run on tiny settings and print numbers that check out.

Each script is loaded with runpy and its ``main(argv)`` called in this process (one import of
torch for all of them), with one torch thread: the models are tiny, and extra threads only
spin. Study 1's checkpoint is reused by studies 4, 6 and 7, as a student would do.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("study_*.py"))
DATA = "synthetic:20"  # 140 faces: 112 Training, 28 PublicTest (4 per class)
TINY = ["--data", DATA, "--epochs", "1", "--width", "0.25"]
FLOAT = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run(script: str, *args: str) -> str:
    """Run ``examples/<script>.py`` with ``args``; return what it printed."""
    module = runpy.run_path(str(EXAMPLES / f"{script}.py"))  # not __main__: main() not run yet
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        module["main"](list(args))
    return out.getvalue()


def value(out: str, label: str) -> float:
    """The number printed after ``label: `` (exactly one such line)."""
    found = re.findall(rf"^{re.escape(label)}: ({FLOAT})\b", out, flags=re.MULTILINE)
    assert len(found) == 1, f"expected one line '{label}: <number>' in:\n{out}"
    return float(found[0])


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def study1(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("study1")
    return out, run("study_1_cnn", *TINY, "--out", str(out))


def test_there_is_one_script_per_question():
    assert [int(name.split("_")[1]) for name in SCRIPTS] == list(range(1, 9))


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_document_the_real_run_and_use_only_public_modules(name):
    source = (EXAMPLES / name).read_text()
    tree = ast.parse(source)
    doc = ast.get_docstring(tree)
    assert doc and "question" in doc.lower().split("\n")[0]
    assert f"python examples/{name} --data fer2013.csv.gz" in doc
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for full in names:
            if full.startswith("emotionkit"):
                assert not any(part.startswith("_") for part in full.split(".")), full
    assert len(source.splitlines()) <= 100


def test_study_1_cnn(study1):
    from emotionkit import ModelZoo, load
    from emotionkit.models import count_params

    out, text = study1
    assert is_png(out / "curves.png")
    model = load(out / "cnn.safetensors")
    expected = count_params(ModelZoo.create("compact", width=0.25))["trainable"]
    assert value(text, "trainable parameters") == expected == count_params(model)["trainable"]
    assert value(text, "best epoch") == 1
    for tta in ("none", "flip", "tencrop"):
        assert 0.0 <= value(text, f"accuracy tta={tta}") <= 1.0
    assert "Total params:" in text  # the Keras-style summary


def test_study_2_dnn(tmp_path):
    text = run("study_2_dnn", *TINY, "--out", str(tmp_path))
    cnn, dnn = value(text, "CNN trainable parameters"), value(text, "DNN trainable parameters")
    assert abs(dnn - cnn) <= 0.01 * cnn
    assert value(text, "parameter ratio DNN/CNN") == pytest.approx(dnn / cnn, abs=1e-4)
    hidden = ast.literal_eval(re.search(r"^DNN hidden widths: (\[.*\])$", text, re.M).group(1))
    widths = [48 * 48, *hidden, 7]  # dense layers: weights and biases
    assert dnn == sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))
    for name in ("CNN", "DNN"):
        assert 0.0 <= value(text, f"{name} accuracy") <= 1.0
    assert is_png(tmp_path / "cnn_vs_dnn.png")


def test_study_3_normalization_augmentation(tmp_path):
    text = run("study_3_normalization_augmentation", *TINY, "--out", str(tmp_path))
    for run_name in ("no normalization", "normalization", "normalization + augmentation"):
        assert 0.0 <= value(text, f"best accuracy, {run_name}") <= 1.0
        assert 0.0 <= value(text, f"final training accuracy, {run_name}") <= 1.0
    assert re.search(rf"^112 training images, pixel mean {FLOAT}, std {FLOAT}", text, re.M)
    assert is_png(tmp_path / "curves.png") and is_png(tmp_path / "augmented.png")


def test_study_4_confusion(study1, tmp_path):
    checkpoint = study1[0] / "cnn.safetensors"
    text = run("study_4_confusion", "--data", DATA, "--model", str(checkpoint),
               "--out", str(tmp_path), "--mistakes", "9")
    rows = {m[0]: [float(v) for v in m[1].split()] for m in
            re.findall(r"^ *(\w+): ((?:\d\.\d\d ?){7})$", text, re.M)}
    assert list(rows) == ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
    for shares in rows.values():  # 4 faces per class: each row sums to 1
        assert sum(shares) == pytest.approx(1.0, abs=0.03)
    accuracy = value(text, "accuracy")
    assert accuracy == pytest.approx(np.mean([rows[n][i] for i, n in enumerate(rows)]), abs=0.01)
    pairs = re.findall(r"^(\d+)% of the (\w+) faces are predicted as (\w+)\.$", text, re.M)
    assert 1 <= len(pairs) <= 3 or accuracy == 1.0
    for share, true, pred in pairs:
        assert int(share) == round(100 * rows[true][list(rows).index(pred)])
    assert re.search(r"^\w+ is recognized best \(\d+%\), \w+ worst \(\d+%\)\.$", text, re.M)
    assert is_png(tmp_path / "confusion.png") and is_png(tmp_path / "mistakes.png")


def test_study_5_saliency_trains_its_own_cnn(tmp_path):
    text = run("study_5_saliency", *TINY, "--out", str(tmp_path))
    for method in ("saliency", "guided-backprop"):
        assert value(text, f"{method} mean |map|") > 0
        # the 10% most salient pixels hold at least 10% of the map, and at most all of it
        assert 0.1 <= value(text, f"{method} share of the map in the top 10% pixels") <= 1.0
        assert is_png(tmp_path / f"{method}.png")
        for view in ("original", "heatmap", "overlay", "masked"):
            assert is_png(tmp_path / method / f"006-{view}.png")  # one face per class


def test_study_6_filters(study1, tmp_path):
    text = run("study_6_filters", "--data", DATA, "--model", str(study1[0] / "cnn.safetensors"),
               "--out", str(tmp_path), "--steps", "20", "--filters", "3")
    line = rf"^(features\.conv\d) filter (\d) activation: ({FLOAT}) \(face: ({FLOAT})\)$"
    found = re.findall(line, text, re.M)
    assert [(layer, int(k)) for layer, k, _, _ in found] == \
        [("features.conv1", k) for k in range(3)] + [("features.conv7", k) for k in range(3)]
    early = np.array([(float(a), float(f)) for layer, _, a, f in found if layer.endswith("1")])
    assert early[:, 0].mean() > early[:, 1].mean()  # gradient ascent beats a real face
    assert "feature maps of features.conv1: 8 channels of 48x48" in text
    for layer in ("features.conv1", "features.conv7"):
        assert is_png(tmp_path / f"activation-max-{layer}" / "channel-002.png")
    assert is_png(tmp_path / "feature-maps" / "000-features.conv1.png")


def test_study_7_trust(study1, tmp_path):
    text = run("study_7_trust", "--data", DATA, "--model", str(study1[0] / "cnn.safetensors"),
               "--out", str(tmp_path), "--images", "3", "--steps", "8")
    rows = re.findall(rf"^\| ([\w-]+) \| ({FLOAT}) \| ({FLOAT}) \| ({FLOAT}) \| ({FLOAT}) \|$",
                      text, re.M)
    assert [r[0] for r in rows] == ["saliency", "guided-backprop", "grad-cam"]
    for _, spearman, ssim, deletion, insertion in rows:
        assert -1 <= float(spearman) <= 1 and -1 <= float(ssim) <= 1
        assert -1 <= float(deletion) <= 1 and -1 <= float(insertion) <= 1
    assert (tmp_path / "trust.md").read_text().splitlines() == text.splitlines()[:5]
    assert is_png(tmp_path / "sanity.png") and is_png(tmp_path / "faithfulness_grad-cam.png")


def test_study_8_math_as_a_script(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["study_8_math.py", "--data", DATA, "--width", "0.25",
                                      "--images", "60", "--out", str(tmp_path)])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(EXAMPLES / "study_8_math.py"), run_name="__main__")
    text = out.getvalue()
    assert "PCA eigenvalues by hand: 15.2974 11.6305 5.4720\n" in text  # the SPEC's answer
    assert "PCA eigenvalues by emotionkit: 15.2974 11.6305 5.4720\n" in text
    convs = re.findall(r"by hand: side (\d+), mults (\d+), adds (\d+) \(analyze: (\d+), (\d+), "
                       r"(\d+)\)$", text, re.M)
    assert len(convs) == 7 and all(c[:3] == c[3:] for c in convs)
    assert value(text, "analyze total params") == value(text, "trainable params")
    for label in ("BatchNorm dx", "BatchNorm dgamma", "softmax-CE gradient", "emotionkit gradient"):
        assert value(text, f"{label} max error") < 1e-10
    assert 0 < value(text, "variance explained by 10 eigenfaces") <= 1
    assert is_png(tmp_path / "eigenfaces.png")
