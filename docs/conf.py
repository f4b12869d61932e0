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
# No default for "members": Sphinx replaces a directive's own ``:members: a, b`` list by a default
# of True, so every automodule says ``:members:`` (all of ``__all__``) or lists its members.
autodoc_default_options = {"show-inheritance": True}

# Every reference to an emotionkit name must resolve (-n -W keeps that at zero). A public name is
# linked to where its object is documented, under whichever name that is (see
# _resolve_public_alias). Only targets outside emotionkit are ignored, because their
# inventories cannot be fetched offline.
nitpicky = True
_EXTERNAL = (
    "torch", "nn", "F", "np", "numpy", "click", "PIL", "pathlib", "os", "io", "typing",
    "collections", "contextlib", "abc", "types", "dataclasses", "enum", "json", "warnings",
    "threading", "concurrent", "numbers", "builtins", "matplotlib", "mpl", "plt", "skimage",
    "scipy", "sklearn", "pluggy", "safetensors", "tqdm", "av",
)
nitpick_ignore_regex = [
    # other packages' objects (and the standard library's)
    (r"py:.*", rf"(?:{'|'.join(_EXTERNAL)})(?:\..+)?"),
    # their short names as they appear in type hints and inherited docstrings
    (r"py:.*", r"(?:Any|Callable|Iterable|Iterator|Sequence|Mapping|MutableMapping|Path|"
               r"PathLike|Module|Tensor|ndarray|Generator|Figure|Axes|Optional|Union|Literal|"
               r"optional|_F)"),
    # Google-style free-text types, which napoleon hands on as class names: "Boolean (N,)",
    # "(N, 7) float32", "Split names", "0..1", shape letters; they name no object
    (r"py:class", r".*\s.*|[-\d(].*|[A-Za-z]|Boolean|float32|float64|int64|uint8|bool|"
                  r"deletion|insertion"),
]
templates_path: list[str] = []
exclude_patterns = ["_build", "_generated"]
# furo: one column on a phone, light and dark themes that follow the system; alabaster when
# furo is not installed (the build then still passes, with a plainer page)
try:
    import furo  # noqa: F401

    html_theme = "furo"
except ImportError:  # pragma: no cover
    html_theme = "alabaster"
html_title = "emotionkit"
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


def _guide_figures(app):
    """Draw the guides' figures into _generated/figures with docs/figures.py (when out of date).

    A figure that cannot be drawn stops the build: the exception is re-raised as an error
    rather than leaving a guide with a missing image.
    """
    import importlib.util
    from pathlib import Path

    from sphinx.util import logging

    logger = logging.getLogger("emotionkit.figures")
    spec = importlib.util.spec_from_file_location("emotionkit_docs_figures",
                                                  Path(app.confdir) / "figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    try:
        drawn = figures.build(Path(app.srcdir) / "_generated" / "figures", log=logger.info)
    except Exception as exc:
        raise RuntimeError(f"docs/figures.py could not draw the guides' figures: "
                           f"{type(exc).__name__}: {exc}") from exc
    if drawn:
        logger.info(f"docs/figures.py drew {len(drawn)} figure(s) in "
                    f"{sum(drawn.values()):.1f} s")


def _import_path(dotted):
    """The object a dotted name stands for, or raise LookupError."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                raise LookupError(dotted) from None
        return getattr(obj, "__func__", obj)  # a classmethod: its function, stable
    raise LookupError(dotted)


_DOCUMENTED: dict = {}  # (id(object), last name) -> (docname, node id); built once per build
_ALIVE: list = []  # the objects themselves, so that no id is reused while the build runs


def _documented_objects(env):
    """{(id(object), last name): (docname, node id)} of every documented emotionkit object."""
    if not _DOCUMENTED:
        for name, entry in sorted(env.get_domain("py").objects.items()):
            if not name.startswith("emotionkit") or entry.aliased:
                continue
            try:
                obj = _import_path(name)
            except Exception:  # noqa: BLE001 (an attribute documented from a docstring)
                continue
            _ALIVE.append(obj)
            _DOCUMENTED.setdefault((id(obj), name.rpartition(".")[2]),
                                   (entry.docname, entry.node_id))
    return _DOCUMENTED


def _resolve_public_alias(app, env, node, contnode):
    """Link ``emotionkit.explain.Explainer`` to ``emotionkit.explain.base.Explainer``.

    emotionkit documents most objects in the module that defines them, while users (and the
    guides and docstrings) name them by their public path (``emotionkit.explain.Explainer``,
    ``emotionkit.Trainer``) or, inside a module, by the short name imported there
    (``Attribution``). Such a reference is resolved by importing the name it gives, relative to
    the module and class it appears in, and linking to the documented object that *is* that
    object, whatever it is documented as. Names that do not import stay unresolved (and warn).
    """
    from sphinx.util.nodes import make_refnode

    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    module, klass = node.get("py:module"), node.get("py:class")
    candidates = [target] if target.startswith("emotionkit") else []
    if module and module.startswith("emotionkit"):
        if klass:
            candidates.append(f"{module}.{klass}.{target}")
        candidates.append(f"{module}.{target}")
    # a docstring's short names are those of the module it was written in (a re-exported
    # function is documented under another module), then those of the enclosing packages
    source = str(getattr(node, "source", None) or "")
    if "docstring of emotionkit" in source:
        try:
            owner = _import_path(source.rpartition("docstring of ")[2].split(":")[0])
            home = getattr(owner, "__module__", None) or getattr(owner, "__name__", "")
            candidates.append(f"{home}.{target}")
        except Exception:  # noqa: BLE001
            pass
    parts = (module or "").split(".")
    candidates += [f"{'.'.join(parts[:i])}.{target}" for i in range(len(parts) - 1, 0, -1)
                   if parts[0] == "emotionkit"]
    objects = _documented_objects(env)
    for dotted in candidates:
        try:
            obj = _import_path(dotted)
        except Exception:  # noqa: BLE001 (a failed import is just "not this name")
            continue
        _ALIVE.append(obj)
        found = objects.get((id(obj), dotted.rpartition(".")[2]))
        if found is None and isinstance(getattr(obj, "__qualname__", None), str):
            found = objects.get((id(obj), obj.__qualname__.rpartition(".")[2]))  # renamed
        if found is not None:
            docname, node_id = found
            return make_refnode(app.builder, node["refdoc"], docname, node_id, contnode,
                                dotted)
    return None


def _drop_type_docstring(app, what, name, obj, options, lines):
    """A constant without a doc comment would show its type's docstring (dict's, tuple's)."""
    import inspect

    if what not in ("data", "attribute") or not lines:
        return
    own = getattr(type(obj), "__doc__", None)
    if not isinstance(own, str):
        return
    theirs = [line.strip() for line in inspect.cleandoc(own).splitlines() if line.strip()]
    if [line.strip() for line in lines if line.strip()] == theirs:
        lines[:] = []


def setup(app):
    app.connect("builder-inited", _shipped_models_table)
    app.connect("builder-inited", _guide_figures)
    # before napoleon (priority 500), which would otherwise parse dict's docstring as Google style
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=100)
    app.connect("missing-reference", _resolve_public_alias)
    for event in ("options", "description", "epilog", "arguments"):
        app.connect(f"sphinx-click-process-{event}", _escape_globs)
