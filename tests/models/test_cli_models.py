"""``emotionkit models``: list, info, summary."""

from __future__ import annotations

import json

from click.testing import CliRunner

from emotionkit.cli.main import cli
from emotionkit.models import ModelZoo


def _run(*args):
    return CliRunner().invoke(cli, ["models", *args])


def test_list_table_and_json():
    r = _run("list")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].split()[:4] == ["NAME", "PARAMS", "WEIGHTS", "ORIGIN"]
    assert len(lines) == 1 + len(ModelZoo.list())
    assert any(line.startswith("hw17-cnn") and "10,607,815" in line for line in lines)
    r = _run("list", "--json", "--pattern", "hw19*")
    rows = json.loads(r.output)
    assert [row["name"] for row in rows] == ["hw19-cnn", "hw19-dnn"]
    assert rows[0]["params"] == 1_919_975 and rows[0]["trainable_params"] == 1_919_079
    assert {"origin", "description"} <= set(rows[0])


def test_list_with_no_match():
    r = _run("list", "--pattern", "zzz*")
    assert r.exit_code == 0 and "No model matches 'zzz*'" in r.output


def test_info_text_and_json():
    r = _run("info", "hw18-cnn")
    assert r.exit_code == 0
    assert "6,040,327 (6,036,871 trainable, 3,456 non-trainable)" in r.output
    data = json.loads(_run("info", "hw19-cnn", "--json").output)
    assert data["regularization"] == {"l1": 3e-5, "l2": 5e-5}
    assert data["config"]["dropout"] == 0.5


def test_summary_text_json_and_settings():
    r = _run("summary", "hw19-cnn")
    assert r.exit_code == 0
    assert "Total params: 1,919,975" in r.output
    assert "Trainable params: 1,919,079" in r.output
    assert "features.pool3 (MaxPool2dSame)" in r.output
    r = _run("summary", "compact", "--json", "--set", "width=0.5", "--set", "depth=[1,1,1,1]",
             "--set", "activation=prelu")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["config"]["depth"] == [1, 1, 1, 1] and data["config"]["activation"] == "prelu"
    model = ModelZoo.create("compact", width=0.5, depth=[1, 1, 1, 1], activation="prelu")
    assert data["total_params"] == sum(p.numel() for p in model.parameters()) + sum(
        m.running_mean.numel() * 2 for m in model.modules() if hasattr(m, "running_mean"))


def test_errors_are_one_line():
    r = _run("summary", "compakt")
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [
        "Error: unknown model 'compakt'; did you mean 'compact'? Valid models: "
        + ", ".join(ModelZoo.list())
    ]
    r = _run("summary", "compact", "--set", "widht=2")
    assert r.exit_code == 1 and r.output.startswith("Error: unknown option 'widht'")
    r = _run("summary", "compact", "--set", "width")
    assert r.exit_code == 2 and "expected KEY=VALUE, got 'width'" in r.output


def test_help():
    for args in (["--help"], ["list", "--help"], ["info", "--help"], ["summary", "--help"]):
        r = _run(*args)
        assert r.exit_code == 0 and "Usage:" in r.output
