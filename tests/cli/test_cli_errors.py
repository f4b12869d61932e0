"""The CLI's error contract (issue 16): every error is one ``Error: ...`` line; usage errors
exit 2, library and file errors exit 1; ``--out`` paths and ``--model`` paths are checked."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from emotionkit.cli.main import cli


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def one_error_line(result) -> str:
    """The only line of stderr; stdout is empty."""
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# ---------------------------------------------------------------- usage errors: one line
@pytest.mark.parametrize("args, line", [
    (["explain"], "Error: Missing option '--method' / '-m'."),
    (["explain", "-m", "saliency", "--n", "0"],
     "Error: Invalid value for '--n': 0 is not in the range x>=1."),
    (["nope"], "Error: No such command 'nope'."),
    (["--bogus"], "Error: No such option '--bogus'."),
    (["models", "info"], "Error: Missing argument 'NAME'."),
    (["models", "nope"], "Error: No such command 'nope'."),
    (["train", "--model", "compact"], "Error: Missing option '--data'."),
    (["predict", "--tta", "mirror"],
     "Error: Invalid value for '--tta': 'mirror' is not one of 'none', 'flip', 'tencrop'."),
])
def test_usage_errors_are_one_error_line_with_exit_2(args, line):
    result = run(*args)
    assert result.exit_code == 2
    assert one_error_line(result) == line


def test_usage_errors_stay_one_line_in_debug_mode():
    result = run("explain", env={"EMOTIONKIT_DEBUG": "1"})
    assert result.exit_code == 2
    assert one_error_line(result) == "Error: Missing option '--method' / '-m'."


def test_help_is_unchanged():
    result = run("explain", "--help")
    assert result.exit_code == 0 and result.stdout.startswith("Usage: ")
    assert "--method" in result.stdout and result.stderr == ""


# ---------------------------------------------------------------- --out beneath a file
@pytest.fixture
def blocker(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{}")
    return path


@pytest.mark.parametrize("args", [
    ["explain", "-m", "saliency", "--model", "compact", "synthetic:1"],
    ["predict", "--model", "compact"],
    ["train", "--model", "compact", "--data", "synthetic:1"],
    ["evaluate", "--model", "compact", "--data", "synthetic:1"],
    ["compare", "."],
])
def test_out_beneath_a_file_is_a_usage_error_naming_the_path(args, blocker):
    target = blocker / "plots"
    result = run(*args, "--out", target)
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: Invalid value for '--out': cannot create folder "
                                      f"{target}: {blocker} is a file, not a folder")
    result = run(*args, "--out", blocker / "a" / "b")
    assert result.exit_code == 2 and f"{blocker} is a file, not a folder" in result.stderr
    result = run(*args, "--out", blocker)
    assert result.exit_code == 2
    assert one_error_line(result) == f"Error: Invalid value for '--out': Directory '{blocker}' " \
                                     "is a file."


def test_explain_check_out_beneath_a_file_is_one_line(blocker):
    target = blocker / "plots"
    result = run("explain-check", "--model", "dnn", "--data", "synthetic:3", "--methods",
                 "saliency", "--n", 2, "--steps", 2, "--out", target)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (f"Error: cannot create {target}: {blocker} is a "
                                              "file, not a folder")
    assert "Traceback" not in result.output


def test_out_dir_problem(tmp_path, blocker):
    from emotionkit.cli.options import out_dir_problem

    assert out_dir_problem(tmp_path) is None
    assert out_dir_problem(tmp_path / "new" / "deeper") is None
    assert out_dir_problem(blocker) == f"{blocker} is a file, not a folder"
    assert out_dir_problem(blocker / "x" / "y") == (f"cannot create folder {blocker / 'x' / 'y'}:"
                                                    f" {blocker} is a file, not a folder")


# ---------------------------------------------------------------- option ranges
def test_integrated_gradients_huge_steps_is_one_error_line(tmp_path):
    result = run("explain", "-m", "integrated-gradients", "--model", "compact", "synthetic:1",
                 "--n", 1, "-o", "steps=1e12", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == ("Error: integrated-gradients: option 'steps' must "
                                              "be <= 1024, got 1e+12")
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- --model paths
@pytest.mark.parametrize("spec", ["runs/nope/model.safetensors", "NOPE.SAFETENSORS",
                                  "last.PT", "~/emotionkit-no-such-run"])
def test_missing_checkpoint_path_is_not_an_unknown_model(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("explain", "-m", "saliency", "--model", spec, "synthetic:1", "--n", 1,
                 "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert one_error_line(result) == f"Error: checkpoint not found: {spec}"


def test_unknown_model_name_still_lists_the_names():
    result = run("evaluate", "--model", "compactt", "--data", "synthetic:1")
    assert result.exit_code == 1
    assert one_error_line(result).startswith("Error: unknown model 'compactt'; did you mean "
                                             "'compact'?")
