"""``emotionkit train``: run directory contents, JSON output, resume, errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from emotionkit.cli.main import cli
from emotionkit.training import History, load


@pytest.fixture
def run_cli(tiny_registered):
    def run(*args):
        return CliRunner().invoke(cli, ["train", *args], catch_exceptions=False)

    return run


BASE = ["--data", "synthetic:4", "--model", "test-tiny", "--batch-size", "8", "--precision",
        "fp32", "--quiet"]


def test_train_writes_run_directory(run_cli, tmp_path):
    out = tmp_path / "run"
    res = run_cli(*BASE, "--epochs", "2", "--out", str(out), "--json", "--set", "width=2",
                  "--lr", "0.01", "--optimizer", "sgd", "--scheduler", "cosine")
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["epochs"] == 2 and result["run_dir"] == str(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "curves.png", "history.json", "last.safetensors", "model.safetensors", "run.json"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hist = History.load(out / "history.json")
    assert len(hist) == 2 and hist.monitor == "val_acc" and hist.best_epoch in (1, 2)
    assert result["best_val_acc"] == hist.best["val_acc"]
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == "test-tiny" and run["model_config"] == {"width": 2, "dropout": 0.2}
    assert run["options"]["optimizer"] == "sgd" and run["options"]["lr"] == 0.01
    assert run["options"]["scheduler"] == "cosine"
    # synthetic:4 has PublicTest: the default validation split is it (1 per class)
    assert run["n_val"] == 7 and run["n_train"] == 21 and run["result"]["epochs"] == 2
    model = load(out / "model.safetensors")
    assert model.conv.out_channels == 2
    assert model.emotionkit_meta["history"] == hist.to_dict()


def test_val_split_fraction_none_and_resume(run_cli, tmp_path):
    out = tmp_path / "r"
    res = run_cli(*BASE, "--epochs", "1", "--out", str(out), "--val-split", "none")
    assert res.exit_code == 0, res.output
    assert "Trained test-tiny for 1 epochs" in res.stdout and "best epoch" not in res.stdout
    assert History.load(out / "history.json")[0]["val_acc"] is None
    res = run_cli(*BASE, "--epochs", "1", "--out", str(out))
    assert res.exit_code == 2 and "already holds a training run; continue it with --resume" \
        in res.output
    res = run_cli(*BASE, "--epochs", "2", "--out", str(out), "--val-split", "none", "--resume")
    assert res.exit_code == 0, res.output
    assert History.load(out / "history.json")["epoch"] == [1, 2]
    res = run_cli(*BASE, "--epochs", "1", "--out", str(tmp_path / "f"), "--val-split", "0.3")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "f" / "run.json").read_text())["n_val"] == 7  # 1 of 3 / class


@pytest.mark.parametrize("args,code,message", [
    (["--model", "nonet"], 1, "Error: unknown model 'nonet'"),
    (["--set", "width"], 2, "Invalid value for '--set': expected KEY=VALUE, got 'width'"),
    (["--set", "colour=1"], 1, "Error: unknown option 'colour' for model 'test-tiny'"),
    (["--val-split", "Nope"], 2, "Invalid value for '--val-split': unknown split 'Nope'"),
    (["--val-split", "1.5"], 2, "Invalid value for '--val-split': a fraction must be in (0, 1)"),
    (["--optimizer", "adagrad"], 2, "Invalid value for '--optimizer'"),
    (["--resume"], 2, "--resume needs --out DIR"),
    (["--device", "tpu"], 2, "Invalid value for '--device': invalid device 'tpu'"),
    (["--data", "missing.csv"], 1, "Error: "),
])
def test_errors(run_cli, args, code, message):
    base = ["--data", "synthetic:2", "--model", "test-tiny", "--epochs", "1", "--quiet"]
    res = run_cli(*base, *args)
    assert res.exit_code == code, res.output
    assert message in res.output
    if code == 1:  # library errors are one line
        assert res.output.strip().count("\n") == 0


def test_ctrl_c_exits_130_with_resume_hint(run_cli, tmp_path, monkeypatch):
    from emotionkit.training import Trainer, TrainingInterrupted

    def interrupted_fit(self, train, val=None):
        raise TrainingInterrupted(f"training interrupted at epoch 1, batch 2/3; resume state "
                                  f"saved to {self.last_path}", self.last_path)

    monkeypatch.setattr(Trainer, "fit", interrupted_fit)
    out = tmp_path / "x"
    res = run_cli(*BASE, "--out", str(out), "--set", "width=2")
    assert res.exit_code == 130
    assert (f"Interrupted: training interrupted at epoch 1, batch 2/3; resume state saved to "
            f"{out / 'last.safetensors'}. Continue with the same options plus --resume, e.g. "
            f"emotionkit train --data synthetic:4 --model test-tiny --set width=2 --out {out} "
            f"--resume") in res.stderr


def test_help_lists_options():
    res = CliRunner().invoke(cli, ["train", "--help"])
    assert res.exit_code == 0
    for opt in ("--data", "--model", "--epochs", "--batch-size", "--lr", "--optimizer",
                "--scheduler", "--weight-decay", "--label-smoothing", "--device", "--precision",
                "--val-split", "--augment", "--seed", "--resume", "--out", "--quiet", "--json",
                "--set"):
        assert opt in res.output
