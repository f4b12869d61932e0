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
exclude_patterns = ["_build", "_generated"]
html_theme = "alabaster"
html_static_path: list[str] = []
suppress_warnings = ["ref.python"]


def _escape_globs(app, ctx, lines):
    """Click help is plain text; escape '*' (globs like hw1*) so reST does not read emphasis."""
    for i, line in enumerate(lines):
        if "*" in line and "``" not in line:
            lines[i] = line.replace("*", r"\*")


def _shipped_models_table(app):
    """Write _generated/pretrained_models.rst from the shipped weights' own metadata."""
    from pathlib import Path

    from emotionkit.models import pretrained

    lines = []
    for name in pretrained.available():
        meta = pretrained.metadata(name)
        acc, tr = meta["accuracy"], meta["training"]
        steps = [*tr.get("started_from", []), {**tr, "command": tr["command"]}]
        lines += [
            name, "-" * len(name), "",
            f"- PublicTest accuracy: **{acc['publictest']:.4f}** without TTA, "
            f"**{acc['publictest_flip']:.4f}** with flip, **{acc['publictest_tencrop']:.4f}** "
            "with ten-crop TTA",
            f"- parameters: {meta['params']:,}; file {meta['file']} ({meta['file_bytes']:,} "
            f"bytes, {meta['dtype']}), sha256 ``{meta['sha256']}``",
            f"- trained on FER2013 {meta['dataset']['train_split']} "
            f"({meta['dataset']['n_train']} images), epoch selected on "
            f"{meta['dataset']['selected_on']}: {tr['epochs_run']} epochs, best epoch "
            f"{tr['best_epoch']}, seed {tr['seed']}",
            f"- wall time {tr.get('total_wall_seconds', tr['wall_seconds']) / 60:.1f} min "
            f"on ``{tr['hardware']}``",
            f"- emotionkit {meta['emotionkit']}; {tr.get('notes') or ''}", "",
        ]
        for i, step in enumerate(steps, 1):
            head = f"Step {i} ({step['wall_seconds'] / 60:.1f} min)" if len(steps) > 1 \
                else "Command"
            lines += [f"{head}::", "", f"    {step['command']}", ""]
            post = step.get("post_processing")
            if post:
                lines += [f"Then: {post['method']}::", "", f"    {post['command']}", ""]
    out = Path(app.srcdir) / "_generated"
    out.mkdir(exist_ok=True)
    text = "\n".join(lines) if lines else "No weights are shipped in this build.\n"
    target = out / "pretrained_models.rst"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def setup(app):
    app.connect("builder-inited", _shipped_models_table)
    for event in ("options", "description", "epilog", "arguments"):
        app.connect(f"sphinx-click-process-{event}", _escape_globs)
