"""emotionkit report: the study on a small synthetic set with a tiny budget, end to end."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from emotionkit.cli.main import cli
from emotionkit.data import Dataset
from emotionkit.evaluation import EvaluationResult
from emotionkit.report import BUDGETS, build_report, confusion_sentences
from emotionkit.report import study as study_mod

TINY = dataclasses.replace(BUDGETS["quick"], name="quick", cnn_epochs=1, dnn_epochs=1,
                           ablation_epochs=1, ablation_images=120, activation_steps=3, filters=2,
                           trust_images=2, faithfulness_steps=3, mistakes=4)
CNN = {"width": 0.125}


@pytest.fixture(scope="module")
def data():
    return Dataset.load("synthetic:210")


@pytest.fixture(scope="module")
def report(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, build_report(data, out, budget=TINY, cnn_config=CNN, device="cpu", seed=3)


def test_every_stage_runs_and_the_page_embeds_every_figure(report):
    out, rep = report
    print({k: round(s["stage_seconds"], 1) for k, s in rep["sections"].items()})
    assert rep["failed"] == [], {k: s.get("error") for k, s in rep["sections"].items()}
    assert list(rep["sections"]) == [key for key, _, _ in study_mod.STAGES]
    page = (out / "report.html").read_text()
    figures = sorted((out / "figures").glob("*.png"))
    assert len(figures) >= 12
    assert page.count("data:image/png;base64,") == len(figures)
    assert "<img" in page and 'src="figures/' not in page  # self-contained
    assert "name='viewport'" in page and "prefers-color-scheme: dark" in page
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["sections"]["cnn"]["accuracy"] == rep["sections"]["cnn"]["accuracy"]


def test_numbers_are_consistent_with_the_public_api(report, data):
    from emotionkit.models import ModelZoo, dnn_matching

    _, rep = report
    cnn = rep["sections"]["cnn"]
    assert set(cnn["accuracy"]) == {"none", "flip", "tencrop"}
    assert all(0.0 <= a <= 1.0 for a in cnn["accuracy"].values())
    model = ModelZoo.create("compact", **CNN)
    assert cnn["params"] == sum(p.numel() for p in model.parameters())
    assert cnn["summary"]["total_params"] == cnn["params"] + sum(
        2 * m.num_features for m in model.modules() if hasattr(m, "running_var"))
    dnn = rep["sections"]["dnn"]
    matched = dnn_matching(model, depth=len(dnn["hidden"]), tolerance=dnn["tolerance"])
    assert dnn["hidden"] == list(matched.emotionkit_config["hidden"])
    assert abs(dnn["param_ratio"] - 1.0) <= dnn["tolerance"]
    rows = rep["sections"]["ablation"]["rows"]
    assert [r["run"] for r in rows] == ["none", "normalize", "normalize + augment"]
    assert [r["augment"] for r in rows] == [False, False, True]
    assert rep["sections"]["ablation"]["images"] <= TINY.ablation_images + 7
    conf = rep["sections"]["confusion"]
    m = np.asarray(conf["matrix"])
    assert m.shape == (7, 7) and np.allclose(m.sum(1)[m.sum(1) > 0], 1.0, atol=1e-3)
    maps = rep["sections"]["maps"]
    assert len(maps["examples"]) == len(set(np.asarray(data.split("PublicTest").labels)))
    math_section = rep["sections"]["math"]
    assert math_section["totals"]["params"] == cnn["params"]
    assert "O(" in math_section["big_o"]
    trust = rep["sections"]["trust"]["rows"]
    assert [r["method"] for r in trust] == list(study_mod.TRUST_METHODS)
    assert all("error" not in r for r in trust), trust


def test_same_seed_same_numbers(report, data, tmp_path, monkeypatch):
    _, first = report
    keep = {"cnn", "confusion"}
    monkeypatch.setattr(study_mod, "STAGES", [s for s in study_mod.STAGES if s[0] in keep])
    again = build_report(data, tmp_path, budget=TINY, cnn_config=CNN, device="cpu", seed=3)
    assert again["sections"]["cnn"]["accuracy"] == first["sections"]["cnn"]["accuracy"]
    assert again["sections"]["cnn"]["history"]["epochs"][0]["train_loss"] == \
        first["sections"]["cnn"]["history"]["epochs"][0]["train_loss"]
    assert again["sections"]["confusion"]["matrix"] == first["sections"]["confusion"]["matrix"]


def test_a_failing_stage_is_reported_and_the_page_still_renders(data, tmp_path, monkeypatch):
    def broken(study):
        raise RuntimeError("the CNN exploded")

    stages = [(k, t, broken if k == "cnn" else f) for k, t, f in study_mod.STAGES
              if k in ("cnn", "confusion", "math")]
    monkeypatch.setattr(study_mod, "STAGES", stages)
    rep = build_report(data, tmp_path, budget=TINY, cnn_config=CNN, device="cpu")
    assert rep["failed"] == ["cnn", "confusion", "math"]
    assert rep["sections"]["cnn"]["error"] == "RuntimeError: the CNN exploded"
    assert rep["sections"]["math"]["error"] == \
        "RuntimeError: needs the CNN, which stage 1 did not produce"
    page = (tmp_path / "report.html").read_text()
    assert "This stage failed: RuntimeError: the CNN exploded" in page
    assert (tmp_path / "report.json").exists()


def test_confusion_sentences_from_the_numbers():
    labels = np.array([0, 0, 0, 0, 3, 3, 3, 3])
    preds = np.array([0, 2, 2, 0, 3, 3, 3, 0])
    probs = np.full((8, 7), 0.01)
    probs[np.arange(8), preds] = 0.94
    result = EvaluationResult(probabilities=probs, labels=labels)
    sentences = confusion_sentences(result, k=2)
    assert sentences[0] == "50% of the Angry faces are predicted as Fear."
    assert sentences[1] == "25% of the Happy faces are predicted as Angry."
    assert sentences[-1] == "Happy is recognized best (75% correct), Angry worst (50%)."


def test_cli_help_json_and_errors(tmp_path):
    runner = CliRunner()
    assert "--budget" in runner.invoke(cli, ["report", "--help"]).output
    bad = runner.invoke(cli, ["report", "--budget", "huge", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "huge" in bad.output
    bad = runner.invoke(cli, ["report", "--cnn", "nope", "--out", str(tmp_path)])
    assert bad.exit_code == 1 and re.search(r"unknown model 'nope'", bad.output)
