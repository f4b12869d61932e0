"""Tests of the ``emotionkit explain-check`` command."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

import emotionkit.explain as explain_pkg
from emotionkit.cli import explain_check as cmd
from emotionkit.cli.main import cli
from emotionkit.errors import UnknownExplainerError
from emotionkit.explain.faithfulness import BASELINES
from emotionkit.explain.sanity import MODES
from emotionkit.testing import InputGradientStub


def Grad():
    """Vanilla gradient, following the explainer contract."""
    return InputGradientStub("stub-grad")


class Layers:
    """Not an attribution method: left out of the default method list."""

    name = "stub-layers"
    kind = "layers"



@pytest.fixture()
def registry(monkeypatch):
    """Explainer lookup through emotionkit.explain.get/available, with two stub explainers."""
    stubs = {"stub-grad": Grad(), "stub-layers": Layers()}

    def get(name):
        if name not in stubs:
            raise UnknownExplainerError(f"unknown explainer {name!r}. Valid explainers: stub-grad")
        return stubs[name]

    monkeypatch.setattr(explain_pkg, "get", get, raising=False)
    monkeypatch.setattr(explain_pkg, "available", lambda: sorted(stubs), raising=False)
    return stubs


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny zoo model saved as an emotionkit checkpoint (skip if training is not there)."""
    training = pytest.importorskip("emotionkit.training")
    from emotionkit.models import ModelZoo

    model = ModelZoo.create("dnn", seed=0, hidden=[16])
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    training.save(model, path)
    return path


def test_choices_match_library():
    assert cmd.MODES == MODES and cmd.BASELINES == BASELINES


def test_synthetic_run_writes_table_json_and_figures(registry, checkpoint, tmp_path):
    out = tmp_path / "out"
    args = ["explain-check", "--model", str(checkpoint), "--data", "synthetic:3", "--n", "5",
            "--steps", "4", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "| stub-grad |" in result.output and "stub-layers" not in result.output
    table = (out / "table.md").read_text()
    assert "| method | Spearman abs (full rand.)" in table and "## Per layer" in table
    data = json.loads((out / "results.json").read_text())
    assert data["n"] == 5 and data["split"] == "PublicTest" and data["steps"] == 4
    row = data["summary"][0]
    assert row["method"] == "stub-grad" and 0.0 <= row["deletion_auc"] <= 1.0
    assert data["methods"]["stub-grad"]["sanity"]["mode"] == "cascading"
    for name in ("sanity.png", "sanity_stub-grad.png", "sanity_stub-grad_examples.png",
                 "faithfulness_stub-grad.png"):  # fmt: skip
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    # --json prints the same results
    result = CliRunner().invoke(cli, [*args, "--json", "--methods", "stub-grad"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["summary"][0]["deletion_auc"] == pytest.approx(row["deletion_auc"])


def test_zoo_name_is_accepted_with_a_warning(registry, tmp_path):
    result = CliRunner().invoke(
        cli,
        ["explain-check", "--model", "dnn", "--data", "synthetic:3", "--n", "3", "--steps", "2",
         "--mode", "independent", "--out", str(tmp_path), "--methods", "stub-grad"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "'dnn' is an untrained zoo model" in result.output


def test_errors(registry, tmp_path):
    base = ["explain-check", "--model", "dnn", "--data", "synthetic:3", "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, [*base, "--methods", "salency"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: unknown explainer 'salency'")
    for bad in ("0", "-3"):
        result = CliRunner().invoke(cli, [*base, "--n", bad])
        assert result.exit_code == 2
        assert f"Invalid value for --n: must be at least 1, got {bad}" in result.output
    result = CliRunner().invoke(cli, [*base, "--n", "abc"])
    assert result.exit_code == 2 and "'abc' is not a valid integer" in result.output
    result = CliRunner().invoke(cli, [*base, "--steps", "0"])
    assert result.exit_code == 2 and "Invalid value for --steps" in result.output
    result = CliRunner().invoke(cli, [*base, "--mode", "random"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, [*base, "--split", "Nope", "--methods", "stub-grad"])
    assert result.exit_code == 1 and "Error: unknown split 'Nope'" in result.output
    result = CliRunner().invoke(cli, [*base, "--precision", "fp16", "--device", "cpu",
                                      "--methods", "stub-grad"])
    assert result.exit_code == 1
    assert "Error: precision 'fp16' is not supported on CPU" in result.output


def test_help():
    result = CliRunner().invoke(cli, ["explain-check", "--help"])
    assert result.exit_code == 0 and "--methods" in result.output and "--json" in result.output


def test_random_curves_computed_once_and_equal_a_full_run():
    """explain-check reuses the first method's random-order curves for the next methods."""
    from emotionkit.explain.faithfulness import faithfulness
    from emotionkit.testing import TinyCNN

    torch.manual_seed(0)
    model = TinyCNN()
    images = torch.rand(3, 1, 48, 48)
    cache: dict = {}
    kwargs = {"steps": 8, "baseline": "zeros", "seed": 3, "max_batch": 64}
    first = cmd._faithfulness_sharing_random(cache, model, "saliency", images, **kwargs)
    second = cmd._faithfulness_sharing_random(cache, model, "guided-backprop", images, **kwargs)
    full = faithfulness(model, "guided-backprop", images, **kwargs)
    assert second.curves["random_deletion"] is first.curves["random_deletion"]
    for curve, aucs in full.aucs.items():
        assert torch.allclose(torch.as_tensor(second.aucs[curve]), torch.as_tensor(aucs))
