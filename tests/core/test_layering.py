"""The layering rules of CONTRIBUTING.md, checked on what importing a package really loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded_after(statement: str) -> list[str]:
    code = (f"import sys, json\n{statement}\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('emotionkit'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("package", ["emotionkit.explain", "emotionkit.evaluation",
                                     "emotionkit.math", "emotionkit.runtime"])
def test_lower_layers_do_not_load_training(package):
    loaded = _loaded_after(f"import {package}")
    assert package in loaded
    assert [m for m in loaded if m.startswith("emotionkit.training")] == []


def test_every_explainer_runs_without_loading_training():
    loaded = _loaded_after(
        "import torch\n"
        "from emotionkit import explain\n"
        "from emotionkit.models import ModelZoo\n"
        "model = ModelZoo.create('compact', seed=0).eval()\n"
        "x = torch.rand(1, 1, 48, 48)\n"
        "for name in ('saliency', 'guided-backprop', 'grad-cam', 'activation-max'):\n"
        "    opts = {'steps': 2, 'channels': [0]} if name == 'activation-max' else {}\n"
        "    explain.run(name, model, x, **opts)")
    assert [m for m in loaded if m.startswith("emotionkit.training")] == []


def test_one_precision_rule():
    from emotionkit import runtime
    from emotionkit.training import precision

    assert precision.resolve_precision is runtime.resolve_precision
    assert precision.Precision is runtime.Precision


def test_no_public_name_shadows_a_submodule():
    """``emotionkit.explain.faithfulness`` once named both a module and a function."""
    import importlib
    import pkgutil
    import types

    import emotionkit

    clashes = []
    for info in pkgutil.walk_packages(emotionkit.__path__, "emotionkit."):
        parent_name, _, child = info.name.rpartition(".")
        if child.startswith("_"):
            continue
        parent = importlib.import_module(parent_name)
        importlib.import_module(info.name)
        value = getattr(parent, child, None)
        if not isinstance(value, types.ModuleType):
            clashes.append(f"{info.name} is a module, but {parent_name}.{child} is {value!r}")
    assert clashes == []
