"""``emotionkit math``: outputs, JSON and error lines through click's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from emotionkit.cli.main import cli
from emotionkit.errors import DataFormatError
from emotionkit.math.points import read_points

SPEC_POINTS = "1,2,3\n4,8,5\n3,12,9\n1,8,5\n5,14,2\n7,4,1\n9,8,9\n3,8,1\n11,5,6\n10,11,7\n"


def run(*args: str):
    return CliRunner().invoke(cli, ["math", *args])


def test_help_on_every_command():
    for cmd in ([], ["conv"], ["pool"], ["pca"], ["model"], ["complexity"]):
        result = run(*cmd, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_conv_text_and_json():
    result = run("conv", "--n", "48", "--k", "3", "--p", "same", "--c-in", "1", "--c-out", "32")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "output size: ceil(48 / 1) = 48  ('same': pad 1 before, 1 after)"
    assert "parameters: 32*1*3*3 + 32 = 320" in lines
    assert "multiplications: 73,728 outputs x 9 = 663,552" in lines
    assert "additions: 73,728 outputs x 9 (8 to sum + 1 bias) = 663,552" in lines
    assert "without bias: 288 parameters, 589,824 additions" in lines
    data = json.loads(run("conv", "--n", "48", "--k", "5", "--s", "2", "--c-in", "32",
                          "--c-out", "64", "--no-bias", "--json").output)
    assert data["output_size"] == 22 and data["params"] == 64 * 32 * 25
    assert data["multiplications"] == 22 * 22 * 64 * 800
    assert data["additions"] == 22 * 22 * 64 * 799
    assert data["with_bias"] == {"params": 64 * 32 * 25 + 64, "additions": 22 * 22 * 64 * 800}
    only_size = run("conv", "--n", "7", "--k", "3")
    assert only_size.output == "output size: floor((7 + 2*0 - 3) / 1) + 1 = 5\n"


@pytest.mark.parametrize(
    "args,line,code",
    [
        (["conv", "--n", "-1", "--k", "3"], "Error: n must be positive, got -1", 1),
        (["conv", "--n", "4", "--k", "7"], "Error: kernel larger than the padded input", 1),
        (["conv", "--n", "4", "--k", "3", "--p", "half"], "expected an integer, 'same' or", 2),
        (["conv", "--n", "4", "--k", "3", "--c-in", "2"], "give both --c-in and --c-out", 2),
        (["conv", "--n", "4.5", "--k", "3"], "'4.5' is not a valid integer", 2),
        (["pool", "--n", "8", "--k", "2", "--p", "2"], "Error: pooling padding p=2", 1),
        (["model", "no-such-model"], "Error: unknown model 'no-such-model'", 1),
        (["model", "compact", "--input-shape", "1,1,a"], "expected integers like", 2),
    ],
)
def test_errors(args, line, code):
    result = run(*args)
    assert result.exit_code == code
    assert line in result.output
    if code == 1:
        assert len(result.output.strip().splitlines()) == 1  # one Error: line, no traceback


def test_pool():
    assert run("pool", "--n", "3", "--k", "4", "--padding", "same").output == (
        "output size: ceil(3 / 4) = 1\n"
    )
    data = json.loads(run("pool", "--n", "5", "--k", "2", "--ceil-mode", "--json").output)
    assert data["output_size"] == 3 and data["s"] == 2


def test_pca_worked_example(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("x,y,z\n" + SPEC_POINTS)
    result = run("pca", str(path))
    assert result.exit_code == 0, result.output
    assert "eigenvalues (1/N):     [15.2974, 11.6305, 5.4720]" in result.output
    assert "  [12.0400, 0.5000, 3.2800]" in result.output
    data = json.loads(run("pca", str(path), "--ddof", "1", "--k", "2", "--json").output)
    assert np.allclose(data["eigenvalues_population"], [15.2974434, 11.6305237], atol=1e-6)
    assert np.allclose(data["eigenvalues"], data["eigenvalues_sample"])
    assert len(data["components"]) == 2 and data["n_samples"] == 10
    np.save(tmp_path / "points.npy", np.loadtxt(path, delimiter=",", skiprows=1))
    npy = json.loads(run("pca", str(tmp_path / "points.npy"), "--json").output)
    assert np.allclose(npy["eigenvalues"], [15.2974434, 11.6305237, 5.4720329])


def test_pca_malformed_file_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("# two columns\n1 2\n3 4\n5 x\n")
    result = run("pca", str(path))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {path}, line 4: 'x' is not a number"
    path.write_text("1,2\n3,4,5\n")
    assert f"{path}, line 2: 3 values, expected 2 (as on line 1)" in run("pca", str(path)).output
    missing = run("pca", str(tmp_path / "none.csv"))
    assert missing.exit_code == 1 and "no such file" in missing.output
    path.write_text("1,2\n")
    assert "at least 2 points" in run("pca", str(path)).output


def test_read_points_formats(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("a\tb\n\n1\t2\n 3;4 \n5 ,6\n")
    assert read_points(p).tolist() == [[1, 2], [3, 4], [5, 6]]
    (tmp_path / "one.npy").write_bytes(b"")
    with pytest.raises(DataFormatError, match="not a readable .npy"):
        read_points(tmp_path / "one.npy")
    np.save(tmp_path / "flat.npy", np.arange(3.0))
    with pytest.raises(DataFormatError, match="2-D array"):
        read_points(tmp_path / "flat.npy")
    p.write_text("# nothing\n")
    with pytest.raises(DataFormatError, match="no points"):
        read_points(p)
    p.write_text("1,nan\n2,3\n")
    with pytest.raises(DataFormatError, match="point 1 holds a NaN"):
        read_points(p)


def test_model_and_complexity_commands():
    pytest.importorskip("emotionkit.models")
    result = run("model", "hw19-cnn")
    assert result.exit_code == 0, result.output
    assert "features.conv1      Conv2d" in result.output
    assert "1,919,079" in result.output  # the report's trainable count
    data = json.loads(run("model", "compact", "--json").output)
    assert data["model"] == "compact" and data["totals"]["params"] > 0
    assert data["layers"][0]["name"] == "input_norm"
    comp = run("complexity", "hw19-cnn")
    assert "features.conv1: 48^2 * 5^2 * 1 * 32 = 1,843,200" in comp.output
    assert run("complexity", "--latex").output.startswith(r"\mathcal{O}")
    assert json.loads(run("complexity", "--json").output)["total"] is None
