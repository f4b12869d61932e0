"""The plugin guide documents every hook with its exact name and signature."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from emotionkit.explain import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.rst"


def hook_functions():
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return [fn for _, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, marker)]


def test_there_are_hooks():
    assert [fn.__name__ for fn in hook_functions()] == ["register_explainers"]


@pytest.mark.parametrize("fn", hook_functions(), ids=lambda f: f.__name__)
def test_hook_name_and_signature_are_documented(fn):
    text = DOC.read_text(encoding="utf-8")
    sig = inspect.signature(fn)
    plain = f"{fn.__name__}({', '.join(sig.parameters)})"
    typed = (f"{fn.__name__}("
             + ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
             + f") -> {sig.return_annotation}")
    assert f"``{plain}``" in text
    assert typed in text, f"{typed!r} missing from {DOC.name}"
