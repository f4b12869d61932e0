"""``emotionkit evaluate`` and ``emotionkit compare``: outputs, JSON, exact error lines."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from emotionkit.cli.main import cli
from emotionkit.data import CLASS_NAMES, synthetic

training = pytest.importorskip("emotionkit.training")  # checkpoints are the Trainer's format


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "faces.npz"
    synthetic(3, seed=0).save(path)  # 14 Training + 7 PublicTest
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from emotionkit.models import ModelZoo

    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    training.save(ModelZoo.create("compact", width=0.125, seed=0), path)
    return path


def test_evaluate_writes_metrics_and_figures(checkpoint, data_path, tmp_path):
    from emotionkit.data import Dataset
    from emotionkit.evaluation import EvaluationResult, Evaluator

    out = tmp_path / "eval"
    res = run("evaluate", "--model", checkpoint, "--data", data_path, "--out", out,
              "--tta", "flip", "--train-data", data_path, "--batch-size", "4", "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "confusion_matrix.png", "contact_sheet.png", "metrics.json", "mistakes.png",
        "per_class.png"]
    for name in ("confusion_matrix.png", "contact_sheet.png", "mistakes.png", "per_class.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG" and (out / name).stat().st_size > 5000
    saved = EvaluationResult.from_json(out / "metrics.json")
    assert saved.split == "PublicTest" and saved.n == 7 and saved.tta == "flip"
    assert saved.leakage["train_images"] == 14
    # the same numbers as the library gives
    ds = Dataset.load(data_path)
    direct = Evaluator(training.load(checkpoint), device="cpu").evaluate(
        ds, split="PublicTest", tta="flip")
    np.testing.assert_allclose(saved.probabilities, direct.probabilities, rtol=1e-5, atol=1e-6)
    assert f"accuracy {direct.accuracy:.4f}" in res.stdout
    assert "Wrote metrics.json" in res.stdout


def test_evaluate_json_and_run_directory(checkpoint, data_path):
    res = run("evaluate", "--model", checkpoint.parent, "--data", data_path, "--split", "all",
              "--json", "--device", "cpu")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["images"] == 21 and data["split"] is None and data["files"] == []
    assert "samples" not in data and data["metrics"]["per_class"]["happy"]["support"] == 3
    assert data["checkpoint"] == str(checkpoint)


def test_evaluate_ensemble_checkpoint(data_path, tmp_path):
    from emotionkit.models import ModelZoo

    members = [ModelZoo.create("compact", width=0.125, seed=s) for s in (0, 1)]
    path = tmp_path / "ens.safetensors"
    training.save(training.Ensemble(members), path)
    res = run("evaluate", "--model", path, "--data", data_path, "--json", "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model"] == "ensemble"


def test_unlabeled_data_gives_predictions_and_a_contact_sheet(checkpoint, tmp_path):
    from emotionkit.data import Dataset

    path = tmp_path / "test.npz"
    Dataset(synthetic(1).images, None, "Test").save(path)
    out = tmp_path / "out"
    res = run("evaluate", "--model", checkpoint, "--data", path, "--out", out, "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert "no labels" in res.stdout
    assert sorted(p.name for p in out.iterdir()) == ["contact_sheet.png", "metrics.json"]


def test_missing_checkpoint(data_path, tmp_path):
    missing = tmp_path / "nope.safetensors"
    res = run("evaluate", "--model", missing, "--data", data_path)
    assert res.exit_code == 1
    assert res.output == f"Error: checkpoint not found: {missing}\n"


def test_not_a_checkpoint(data_path, tmp_path):
    bogus = tmp_path / "notes.safetensors"
    bogus.write_text("these are not weights\n" * 3)
    res = run("evaluate", "--model", bogus, "--data", data_path)
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {bogus}: not a safetensors file")
    pickle = tmp_path / "model.pt"
    import torch

    torch.save({"w": torch.zeros(2)}, pickle)
    res = run("evaluate", "--model", pickle, "--data", data_path)
    assert res.exit_code == 1 and len(res.output.splitlines()) == 1
    assert res.output.startswith(f"Error: {pickle}: not an emotionkit checkpoint")


def test_checkpoint_with_other_classes(data_path, tmp_path):
    from emotionkit.models import ModelZoo

    path = tmp_path / "five.safetensors"
    names = ["angry", "happy", "sad", "surprise", "neutral"]
    training.save(ModelZoo.create("compact", width=0.125), path, class_names=names)
    res = run("evaluate", "--model", path, "--data", data_path)
    assert res.exit_code == 1
    assert res.output == (
        f"Error: {path}: incompatible checkpoint: the model has 5 classes "
        f"(angry, happy, sad, surprise, neutral); emotionkit evaluates the 7 FER2013 classes "
        f"({', '.join(CLASS_NAMES)})\n")


def test_checkpoint_with_other_output_size(classes_model_registered, data_path, tmp_path):
    from emotionkit.models import ModelZoo

    path = tmp_path / "five_out.safetensors"
    training.save(ModelZoo.create(classes_model_registered.CLASSES_NAME, num_classes=5), path)
    res = run("evaluate", "--model", path, "--data", data_path)
    assert res.exit_code == 1
    assert res.output == (f"Error: {path}: incompatible checkpoint: the model returns (2, 5) "
                          "for 2 images, expected (2, 7) logits\n")


def test_missing_data_and_unknown_split(checkpoint, tmp_path):
    missing = tmp_path / "nope.csv"
    res = run("evaluate", "--model", checkpoint, "--data", missing)
    assert res.exit_code == 1
    assert len(res.output.splitlines()) == 1
    assert res.output.startswith(f"Error: {missing}: ")
    res = run("evaluate", "--model", checkpoint, "--data", "synthetic:1", "--split", "Nope")
    assert res.exit_code == 1
    assert res.output.startswith("Error: unknown split 'Nope'") and res.output.count("\n") == 1
    res = run("evaluate", "--model", checkpoint, "--data", "synthetic:1", "--tta", "mirror")
    assert res.exit_code == 2 and "'mirror' is not one of" in res.output


def _run_dir(path, name, n, slope, wall=None):
    path.mkdir(parents=True)
    epochs = [{"epoch": i + 1, "train_loss": 2 - slope * i, "train_acc": 0.2 + slope * i,
               "val_loss": 2.1 - slope * i, "val_acc": 0.3 + slope * i - (0.05 if i == n - 1
                                                                          else 0),
               "lr": 1e-3, "seconds": 2.0} for i in range(n)]
    hist = {"model_name": name, "epochs": epochs, "best_epoch": n - 1, "monitor": "val_acc"}
    (path / "history.json").write_text(json.dumps(hist))
    if wall is not None:
        (path / "run.json").write_text(json.dumps({"model": name,
                                                   "result": {"wall_seconds": wall}}))
    return hist


def test_compare_tabulates_and_overlays(tmp_path, checkpoint):
    import shutil

    _run_dir(tmp_path / "cnn", "compact", 5, 0.04, wall=33.5)
    _run_dir(tmp_path / "dnn", "dnn", 3, 0.02)
    shutil.copy(checkpoint, tmp_path / "cnn" / "model.safetensors")
    out = tmp_path / "cmp"
    res = run("compare", tmp_path / "cnn", tmp_path / "dnn", "--labels", "CNN,DNN", "--out", out,
              "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    cnn, dnn = data["runs"]
    assert cnn["label"] == "CNN" and cnn["epochs"] == 5 and cnn["best_epoch"] == 4
    assert cnn["best_val_acc"] == pytest.approx(0.3 + 0.04 * 3) and cnn["best_val_acc_epoch"] == 4
    assert cnn["final_val_acc"] == pytest.approx(0.3 + 0.04 * 4 - 0.05)
    assert cnn["wall_seconds"] == 33.5 and dnn["wall_seconds"] == 6.0  # run.json, else sum
    model = training.load(checkpoint)
    assert cnn["params"] == sum(p.numel() for p in model.parameters()) and dnn["params"] is None
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert len(json.loads((out / "comparison.json").read_text())["runs"]) == 2
    text = run("compare", tmp_path / "cnn", tmp_path / "dnn").stdout
    header, rule, row1, row2 = text.splitlines()
    assert header.split()[:3] == ["run", "model", "epochs"]
    assert row1.split()[:4] == ["cnn", "compact", "5", "0.4200"] and "33.5s" in row1
    assert row2.split()[:3] == ["dnn", "dnn", "3"] and "6.0s" in row2


def test_compare_errors(tmp_path):
    missing = tmp_path / "nope"
    res = run("compare", missing)
    assert res.exit_code == 1
    assert res.output == (f"Error: {missing}: not a training run directory or history file "
                          "(no history.json)\n")
    _run_dir(tmp_path / "a", "compact", 2, 0.1)
    res = run("compare", tmp_path / "a", "--labels", "x,y")
    assert res.exit_code == 2 and "2 labels for 1 runs" in res.output


def test_help():
    for cmd in ("evaluate", "compare"):
        res = run(cmd, "--help")
        assert res.exit_code == 0 and "--json" in res.output and "--out" in res.output
