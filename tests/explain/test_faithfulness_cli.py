"""Tests of the ``emotionkit explain-check`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import emotionkit.explain as explain_pkg
from emotionkit.cli import explain_check as cmd
from emotionkit.cli.main import cli
from emotionkit.errors import UnknownExplainerError
from emotionkit.explain.faithfulness_curves import BASELINES
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
    from emotionkit.explain.faithfulness_curves import faithfulness
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


# --------------------------------------------------------------------------- failures, options
class FailingPlugin:
    """A third-party attribution explainer whose maps raise a plain RuntimeError."""

    @staticmethod
    def module():
        import types

        from emotionkit.explain import hookimpl
        from emotionkit.explain.methods.saliency import Saliency

        class Rise(Saliency):
            name = "rise"

            def attribute(self, state, x, target, options):
                raise RuntimeError("out of\nluck")

        module = types.ModuleType("ek_rise")
        module.register_explainers = hookimpl(lambda register: register(Rise))
        return module


@pytest.fixture()
def real_plugins(monkeypatch):
    """The real registry with the built-ins and a failing plugin from distribution ek-rise 0.1."""
    from emotionkit.explain import plugins

    class Dist:
        name, version = "ek-rise", "0.1"

    class EntryPoint:
        name, dist = "rise", Dist()

        def load(self):
            return FailingPlugin.module()

    monkeypatch.setattr(plugins, "_entry_points", lambda: [EntryPoint()])
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)
    plugins.reset_plugins()
    yield plugins
    plugins.reset_plugins()


def _check(checkpoint, out, *extra, env=None):
    args = ["explain-check", "--model", str(checkpoint), "--data", "synthetic:3", "--n", "3",
            "--steps", "2", "--out", str(out), *extra]  # fmt: skip
    return CliRunner().invoke(cli, args, env=env)


@pytest.fixture()
def no_figures(monkeypatch):
    """Record the figure paths instead of drawing them (drawing is tested above, and slow)."""
    from emotionkit.explain.faithfulness_curves import FaithfulnessResult
    from emotionkit.explain.sanity import SanityCheckResult

    drawn: list[str] = []

    def fake(*args, **kwargs):
        drawn.append(Path(args[-1]).name)

    for cls, attrs in ((SanityCheckResult, ("plot", "plot_examples")),
                       (FaithfulnessResult, ("plot",))):
        for attr in attrs:
            monkeypatch.setattr(cls, attr, fake)
    monkeypatch.setattr("emotionkit.explain.sanity.plot_sanity", fake)
    return drawn


def test_a_failing_method_is_recorded_and_the_others_go_on(real_plugins, checkpoint, tmp_path,
                                                           no_figures):
    result = _check(checkpoint, tmp_path, "--methods", "rise,saliency")
    assert result.exit_code == 1
    line = "explainer 'rise' (plugin ek-rise 0.1) failed: RuntimeError: out of luck"
    assert result.stderr.splitlines()[-1] == (
        f"Error: 1 of 2 methods failed: rise (see {tmp_path / 'table.md'})")
    assert f"Warning: rise recorded as failed: {line}" in result.stderr
    assert "Traceback" not in result.output
    table = (tmp_path / "table.md").read_text()
    assert "| rise | failed | | | | | | " in table and f"- rise: {line}" in table
    assert "| saliency | " in table and "| saliency | failed" not in table
    data = json.loads((tmp_path / "results.json").read_text())
    rise, sal = data["summary"]
    assert (rise["method"], rise["error"], data["failed"]) == ("rise", line, ["rise"])
    assert data["methods"]["rise"]["error"] == line
    assert sal["error"] is None and 0.0 <= sal["deletion_auc"] <= 1.0
    assert no_figures == ["sanity_saliency.png", "sanity_saliency_examples.png",
                          "faithfulness_saliency.png", "sanity.png"]  # only the method that ran
    # EMOTIONKIT_DEBUG=1: the traceback is printed, the run still completes
    result = _check(checkpoint, tmp_path / "debug", "--methods", "rise",
                    env={"EMOTIONKIT_DEBUG": "1"})
    assert result.exit_code == 1 and "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: out of\nluck" in result.stderr
    assert json.loads((tmp_path / "debug" / "results.json").read_text())["failed"] == ["rise"]


def test_method_options_are_passed_and_recorded_with_defaults(real_plugins, checkpoint,
                                                              tmp_path, no_figures):
    result = _check(checkpoint, tmp_path / "a", "--methods", "saliency,integrated-gradients",
                    "-o", "max_batch=2", "-o", "integrated-gradients.steps=3",
                    "-o", "saliency.absolute=false", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    sal, ig = data["methods"]["saliency"], data["methods"]["integrated-gradients"]
    assert sal["options"] == {"absolute": False, "max_batch": 2}
    assert sal["sanity"]["options"] == sal["faithfulness"]["options"] == sal["options"]
    assert ig["options"]["steps"] == 3 and ig["options"]["max_batch"] == 2
    assert set(ig["options"]) == set(real_plugins.get("integrated-gradients").defaults)
    assert data["summary"][0]["options"] == sal["options"]
    # without -o: the defaults in effect, not {}
    result = _check(checkpoint, tmp_path / "b", "--methods", "saliency", "--json")
    saliency = json.loads(result.stdout)["methods"]["saliency"]
    # the chunk the run chose from its memory budget, recorded the same way everywhere
    assert set(saliency["options"]) == {"absolute", "max_batch"}
    assert saliency["options"]["absolute"] is True
    assert isinstance(saliency["options"]["max_batch"], int)
    assert saliency["sanity"]["options"] == saliency["faithfulness"]["options"] == saliency[
        "options"]


@pytest.mark.parametrize("option, code, message", [
    ("nosuch=1", 2, "no checked method (saliency) has option 'nosuch'"),
    ("grad-cam.layer=x", 2, "'grad-cam.layer': method 'grad-cam' is not checked"),
    ("saliency.nosuch=1", 1, "Error: saliency: unknown option 'nosuch'"),
    ("novalue", 2, "expected KEY=VALUE, got 'novalue'"),
])
def test_bad_method_options(real_plugins, checkpoint, tmp_path, option, code, message):
    result = _check(checkpoint, tmp_path, "--methods", "saliency", "-o", option)
    assert result.exit_code == code and message in result.output, result.output
    assert not (tmp_path / "results.json").exists()
