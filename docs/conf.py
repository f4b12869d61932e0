"""Sphinx configuration for emotionkit (built with warnings as errors: ``sphinx-build -W``)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath("../src"))
os.environ.setdefault("EMOTIONKIT_LOAD_PLUGINS", "")
os.environ.setdefault("MPLBACKEND", "Agg")

import emotionkit  # noqa: E402

project = "emotionkit"
author = "emotionkit developers"
copyright = "2026, emotionkit developers"
release = emotionkit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_click",
]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
nitpicky = False
templates_path: list[str] = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
suppress_warnings = ["ref.python"]


def _escape_globs(app, ctx, lines):
    """Click help is plain text; escape '*' (globs like hw1*) so reST does not read emphasis."""
    for i, line in enumerate(lines):
        if "*" in line and "``" not in line:
            lines[i] = line.replace("*", r"\*")


def setup(app):
    for event in ("options", "description", "epilog", "arguments"):
        app.connect(f"sphinx-click-process-{event}", _escape_globs)
