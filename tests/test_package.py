import subprocess
import sys

from click.testing import CliRunner

import emotionkit
from emotionkit.cli.main import cli


def test_version_matches_metadata():
    from importlib.metadata import version

    assert emotionkit.__version__ == version("emotionkit")


def test_cli_version_and_help():
    runner = CliRunner()
    r = runner.invoke(cli, ["--version"])
    assert r.exit_code == 0 and emotionkit.__version__ in r.output
    r = runner.invoke(cli, ["--help"])
    assert r.exit_code == 0 and "data" in r.output


def test_console_script_error_is_one_line():
    r = subprocess.run(
        [sys.executable, "-m", "emotionkit", "data", "info", "/no/such/file.csv"],
        capture_output=True, text=True,
    )
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: /no/such/file.csv: no such file or directory"
    assert "Traceback" not in r.stderr


def test_lazy_public_api():
    assert emotionkit.Dataset is emotionkit.data.Dataset
    assert "ModelZoo" in dir(emotionkit)
