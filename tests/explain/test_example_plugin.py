"""The example plugin package: in-process, and pip-installed and run through the CLI."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from emotionkit.explain import plugins
from emotionkit.testing import TinyCNN, check_explainer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "emotionkit-plugin-example"


@pytest.fixture
def example_module(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    sys.modules.pop("emotionkit_plugin_example", None)
    import emotionkit_plugin_example

    plugins.reset_plugins()
    yield emotionkit_plugin_example
    plugins.reset_plugins()


def test_example_plugin_in_process(example_module):
    record = plugins.register_plugin(example_module, name="example")
    assert record.explainers == ["gradient-x-input"]
    model = TinyCNN()
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    result = check_explainer(plugins.get("gradient-x-input"), model, x, target=[0, 1])
    signed = plugins.get("saliency").explain(model, x, [0, 1], absolute=False)
    torch.testing.assert_close(result.maps, signed.maps * x)
    smooth = plugins.get("smoothgrad").explain(model, x, base="gradient-x-input", samples=2)
    assert smooth.maps.shape == x.shape


def _installed_here() -> bool:
    try:
        dist = importlib.metadata.distribution("emotionkit-plugin-example")
    except importlib.metadata.PackageNotFoundError:
        return False
    direct = dist.read_text("direct_url.json") or ""
    return str(EXAMPLE) in direct


def test_pip_installed_example_runs_through_the_cli(tmp_path):
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not available in this environment")
    if not _installed_here():
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
             "--no-build-isolation", "-e", str(EXAMPLE)],
            capture_output=True, text=True, timeout=300,
        )
        if proc.returncode != 0 and "Could not find a version" in proc.stderr:
            pytest.skip(f"offline and the build needs a download: {proc.stderr[-300:]}")
        assert proc.returncode == 0, proc.stderr
    env = {**os.environ, "EMOTIONKIT_LOAD_PLUGINS": "example"}
    listed = subprocess.run([sys.executable, "-m", "emotionkit", "plugins", "--json"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["name"], row["package"], row["version"], row["explainers"], row["error"]) == (
        "example", "emotionkit-plugin-example", "0.1.0", ["gradient-x-input"], None)

    out = tmp_path / "gxi"
    proc = subprocess.run(
        [sys.executable, "-m", "emotionkit", "explain", "--method", "gradient-x-input",
         "--model", "compact", "synthetic:1", "--n", "2", "--out", str(out), "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["method"] == "gradient-x-input" and len(data["items"]) == 2
    assert (out / "000-overlay.png").is_file() and (out / "001-masked.png").is_file()

    hidden = subprocess.run(
        [sys.executable, "-m", "emotionkit", "explain", "--method", "gradient-x-input",
         "--model", "compact", "synthetic:1"],
        capture_output=True, text=True, env={**env, "EMOTIONKIT_LOAD_PLUGINS": ""}, timeout=300,
    )
    assert hidden.returncode == 2
    assert "unknown explainer 'gradient-x-input'" in hidden.stderr
