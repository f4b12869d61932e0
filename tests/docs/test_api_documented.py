"""The API reference covers every public name, without building Sphinx.

Public names are those in ``emotionkit.__all__`` and in the ``__all__`` of every subpackage that
has one, plus every hook specification in ``emotionkit/explain/hookspecs.py``. The sources are read
with :mod:`ast` (nothing is imported, so the check takes a fraction of a second) and the docs with
a small reader of the ``.. auto*::`` and ``.. py:*::`` directives in ``docs/**/*.rst``.

A name counts as documented when the object it stands for is rendered somewhere: under any of its
names (``emotionkit.explain.Explainer`` is the same object as ``emotionkit.explain.base.Explainer``)
by an explicit directive (``autofunction``, ``autoclass``, ``autodata``, ``py:function``, ...), or
as a member of an ``automodule`` the way autodoc picks members: the names of the module's
``__all__`` when it has one (else what the module itself defines), or the ``:members:`` list, and
only members that autodoc renders (a docstring for functions and classes, a ``#:`` comment or a
string after the assignment for data; ``autodoc_default_options`` in ``docs/conf.py`` turns
``:members:`` on for every ``automodule``).
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DOCS = ROOT / "docs"
PACKAGE = "emotionkit"
HOOKSPECS = f"{PACKAGE}.explain.hookspecs"


# ---------------------------------------------------------------------- reading the sources
@dataclass
class Binding:
    """What one top-level name of a module is bound to."""

    kind: str  # "def" (function or class), "data", "import" or "lazy"
    documented: bool = False  # def: has a docstring; data: has a doc comment or docstring
    source: tuple[str, str] | None = None  # import: (module, name); lazy: (module, name)
    node: ast.AST | None = None


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    bindings: dict[str, Binding] = field(default_factory=dict)
    all: list[str] | None = None
    hookspecs: list[str] = field(default_factory=list)


_MODULES: dict[str, Module | None] = {}


def _module_path(name: str) -> tuple[Path, bool] | None:
    base = SRC.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py", True
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py"), False
    return None


def _absolute(module: Module, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    parts = module.name.split(".")
    if not module.is_package:
        parts = parts[:-1]
    parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join(parts + ([target] if target else []))


def _has_doc_comment(lines: list[str], node: ast.stmt, following: ast.stmt | None) -> bool:
    """Sphinx's rule for documented data: ``#:`` comments above, ``#:`` after it, or a string."""
    if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) \
            and isinstance(following.value.value, str):
        return True
    first = lines[node.lineno - 1]
    if "#:" in first[node.col_offset:]:
        return True
    above = node.lineno - 2
    return above >= 0 and lines[above].strip().startswith("#:")


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Top-level statements, looking into ``try`` blocks and ``if`` branches."""
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.Try):
            out += _top_level(stmt.body) + _top_level(stmt.orelse)
        elif isinstance(stmt, ast.If):
            out += _top_level(stmt.body) + _top_level(stmt.orelse)
        else:
            out.append(stmt)
    return out


def _literal_names(value: ast.expr, assigned: dict[str, ast.expr]) -> list[str]:
    """The names of an ``__all__`` value: a literal list, or ``[c.__name__ for c in TUPLE]``.

    Raises:
        ValueError: Any other expression (the test must then learn to read it).
    """
    if isinstance(value, ast.ListComp) and len(value.generators) == 1:
        gen = value.generators[0]
        source = assigned.get(gen.iter.id) if isinstance(gen.iter, ast.Name) else None
        if (isinstance(value.elt, ast.Attribute) and value.elt.attr == "__name__"
                and isinstance(value.elt.value, ast.Name) and isinstance(gen.target, ast.Name)
                and value.elt.value.id == gen.target.id and not gen.ifs
                and isinstance(source, (ast.Tuple, ast.List))
                and all(isinstance(e, ast.Name) for e in source.elts)):
            return [e.id for e in source.elts]
    names = ast.literal_eval(value)
    if not isinstance(names, (list, tuple)):
        raise ValueError(f"__all__ is not a list: {ast.dump(value)}")
    return [str(n) for n in names]


def load_module(name: str) -> Module | None:
    """Parse one emotionkit module (cached); ``None`` when there is no such file."""
    if name in _MODULES:
        return _MODULES[name]
    found = _module_path(name)
    if found is None:
        _MODULES[name] = None
        return None
    path, is_package = found
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, str(path))
    lines = text.splitlines()
    mod = Module(name, path, is_package)
    assigned: dict[str, ast.expr] = {}
    stmts = _top_level(tree.body)
    for i, stmt in enumerate(stmts):
        following = stmts[i + 1] if i + 1 < len(stmts) else None
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            mod.bindings[stmt.name] = Binding("def", bool(ast.get_docstring(stmt)), node=stmt)
            decorators = [d.id if isinstance(d, ast.Name) else getattr(d, "attr", "")
                          for d in stmt.decorator_list]
            if "hookspec" in decorators:
                mod.hookspecs.append(stmt.name)
        elif isinstance(stmt, ast.ImportFrom):
            origin = _absolute(mod, stmt.level, stmt.module)
            for alias in stmt.names:
                if alias.name != "*":
                    mod.bindings[alias.asname or alias.name] = Binding(
                        "import", source=(origin, alias.name))
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    mod.bindings[alias.asname] = Binding("import", source=(alias.name, ""))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                if target.id == "__all__" and stmt.value is not None:
                    try:
                        names = _literal_names(stmt.value, assigned)
                    except ValueError as exc:
                        raise ValueError(f"{path}:{stmt.lineno}: cannot read __all__ ({exc})") \
                            from None
                    if isinstance(stmt, ast.AugAssign):
                        if mod.all is None:
                            raise ValueError(f"{path}:{stmt.lineno}: __all__ += before __all__")
                        mod.all = mod.all + names
                    else:
                        mod.all = names
                    continue
                if stmt.value is not None:
                    assigned[target.id] = stmt.value
                if target.id == "_LAZY" and isinstance(stmt.value, ast.Dict):
                    # emotionkit/__init__.py: public name -> module that defines it, imported on
                    # first use; a module whose name ends in ".<name>" is the value itself
                    for key, value in zip(stmt.value.keys, stmt.value.values, strict=True):
                        lazy_name, lazy_module = ast.literal_eval(key), ast.literal_eval(value)
                        if lazy_module.endswith("." + lazy_name):
                            source = (lazy_module, "")
                        else:
                            source = (lazy_module, lazy_name)
                        mod.bindings.setdefault(lazy_name, Binding("lazy", source=source))
                    continue
                if isinstance(stmt, ast.AugAssign):
                    continue
                mod.bindings[target.id] = Binding(
                    "data", _has_doc_comment(lines, stmt, following), node=stmt)
    _MODULES[name] = mod
    return mod


Key = tuple[str, str]  # (defining module, name); ("module", dotted name) for a module


def resolve(module: str, name: str,
            seen: frozenset[Key] = frozenset()) -> tuple[Key, Binding | None]:
    """The definition a name of a module stands for: (key, its binding; None for a module).

    Raises:
        LookupError: The name is not bound in the module (and is not a submodule of it).
    """
    if not name:
        if load_module(module) is None:
            raise LookupError(f"no module {module}")
        return ("module", module), None
    if (module, name) in seen:
        raise LookupError(f"import cycle at {module}.{name}")
    mod = load_module(module)
    if mod is None:
        raise LookupError(f"no module {module}")
    binding = mod.bindings.get(name)
    if binding is None or binding.kind in ("import", "lazy"):
        sub = f"{module}.{name}"
        if (binding is None or binding.source == (module, name)) and load_module(sub) is not None:
            return ("module", sub), None
        if binding is None:
            raise LookupError(f"{module} has no top-level name {name!r}")
        origin, original = binding.source
        if not origin.startswith(PACKAGE):
            return (origin, original), None  # outside emotionkit (never documented here)
        return resolve(origin, original, seen | {(module, name)})
    return (module, name), binding


def public_names() -> dict[str, Key]:
    """``{"emotionkit.explain.run": key, ...}`` for every name of every ``__all__``."""
    out: dict[str, Key] = {}
    for init in sorted(SRC.joinpath(PACKAGE).rglob("__init__.py")):
        package = ".".join(init.parent.relative_to(SRC).parts)
        mod = load_module(package)
        if mod is None or mod.all is None:
            continue
        for name in mod.all:
            if name.startswith("__") and name.endswith("__"):
                key: Key = (package, name)  # __version__: a plain attribute
            else:
                key = resolve(package, name)[0]
            out[f"{package}.{name}"] = key
    return out


def hookspec_names() -> dict[str, Key]:
    mod = load_module(HOOKSPECS)
    assert mod is not None, HOOKSPECS
    return {f"{HOOKSPECS}.{n}": (HOOKSPECS, n) for n in mod.hookspecs}


# ---------------------------------------------------------------------- reading the docs
_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\.\s+(?P<name>[\w:-]+)::\s*(?P<arg>.*?)\s*$")
_OPTION = re.compile(r"^\s+:(?P<name>[\w-]+):\s*(?P<value>.*?)\s*$")
_EXPLICIT = {
    "autofunction", "autoclass", "autodata", "autoexception", "autodecorator", "automethod",
    "autoattribute", "autoproperty", "py:function", "py:class", "py:data", "py:exception",
    "py:decorator", "py:attribute", "py:method", "py:property", "function", "class", "data",
    "exception", "decorator",
}
_MODULE_DIRECTIVES = {"py:module", "module"}
_CURRENT = {"py:currentmodule", "currentmodule"}


@dataclass
class Directive:
    file: Path
    line: int
    name: str
    arg: str
    options: dict[str, str]
    module: str | None  # the current module (for relative names)


def read_directives(docs: Path) -> list[Directive]:
    """Every directive of the rst files under ``docs`` with its options (no Sphinx needed)."""
    out: list[Directive] = []
    for path in sorted(docs.rglob("*.rst")):
        if "_build" in path.parts:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        current: str | None = None
        i = 0
        while i < len(lines):
            m = _DIRECTIVE.match(lines[i])
            if not m:
                i += 1
                continue
            indent = len(m["indent"])
            options: dict[str, str] = {}
            last: str | None = None
            j = i + 1
            while j < len(lines):
                line = lines[j]
                if not line.strip() or len(line) - len(line.lstrip()) <= indent:
                    break
                opt = _OPTION.match(line)
                if opt:
                    last = opt["name"]
                    options[last] = opt["value"]
                elif last is not None:  # a value continued on the next lines
                    options[last] += " " + line.strip()
                else:
                    break
                j += 1
            name, arg = m["name"], m["arg"].split("(")[0].strip()
            if name in _CURRENT or name in _MODULE_DIRECTIVES or name == "automodule":
                current = None if arg == "None" else arg
            out.append(Directive(path, i + 1, name, arg, options, current))
            i = j
    return out


def _split_members(value: str) -> list[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def _full(arg: str, current: str | None) -> tuple[str, str]:
    """(module, name) of a directive's target, resolving names relative to the current module."""
    if not arg.startswith(PACKAGE) and current:
        arg = f"{current}.{arg}"
    module, _, name = arg.rpartition(".")
    while module and load_module(module) is None:  # Class.method -> the class
        module, _, name = module.rpartition(".")
    return module, name


def _default_options(docs: Path) -> dict[str, object]:
    """``autodoc_default_options`` of ``docs/conf.py`` (a literal dict), else ``{}``."""
    conf = docs / "conf.py"
    if not conf.is_file():
        return {}
    for stmt in ast.parse(conf.read_text(encoding="utf-8")).body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(isinstance(t, ast.Name) and t.id == "autodoc_default_options"
                   for t in targets):
                return dict(ast.literal_eval(stmt.value))
    return {}


def _members_option(options: dict[str, str], defaults: dict[str, object]) -> list[str] | None:
    """The ``:members:`` autodoc uses: ``None`` for none, ``[]`` for all, else the listed names.

    Sphinx's own merge: a default of True (or None) *replaces* a directive's list; a string
    default is used only when the directive gives no ``:members:`` (``+a`` extends it).
    """
    if "no-members" in options:
        return None
    value: object = options.get("members")
    if "members" in defaults:
        default = defaults["members"]
        if "members" not in options or not isinstance(default, str):
            value = default
        elif isinstance(value, str) and value.startswith("+"):
            value = f"{default},{value[1:]}"
    if value is None and "members" not in options and "members" not in defaults:
        return None
    if value is None or value is True or value == "":
        return []
    if value is False:
        return None
    return _split_members(str(value))


def _automodule_members(module: str, options: dict[str, str],
                        defaults: dict[str, object]) -> list[str]:
    """The member names autodoc renders for ``.. automodule:: module`` with these options."""
    listed = _members_option(options, defaults)
    mod = load_module(module)
    if listed is None or mod is None:
        return []
    excluded = set(_split_members(options.get("exclude-members", "")))
    undoc = "no-undoc-members" not in options and (
        "undoc-members" in options or defaults.get("undoc-members", False) is not False)
    if listed:
        names = listed
    elif mod.all is not None:
        names = list(mod.all)
    else:  # what the module defines itself, public only
        names = [n for n, b in mod.bindings.items()
                 if b.kind in ("def", "data") and not n.startswith("_")]
    out = []
    for name in names:
        if name in excluded:
            continue
        try:
            key, binding = resolve(module, name)
        except LookupError:
            continue
        if binding is None:  # a module is never rendered as a member
            continue
        if binding.kind == "data":
            # autodoc reads doc comments from the documented module's own source only
            own = mod.bindings.get(name)
            rendered = undoc or (own is not None and own.kind == "data" and own.documented)
        else:
            rendered = undoc or binding.documented
        if rendered:
            out.append(name)
    return out


def documented_keys(docs: Path = DOCS) -> dict[Key, str]:
    """``{key: "file:line"}`` of every object the docs render, by its definition."""
    found: dict[Key, str] = {}
    defaults = _default_options(docs)

    def add(module: str, name: str, where: str) -> None:
        try:
            key = resolve(module, name)[0] if name else ("module", module)
        except LookupError:
            key = (module, name)
        found.setdefault(key, where)

    for d in read_directives(docs):
        where = f"{d.file.relative_to(docs)}:{d.line}"
        if d.name == "automodule" or d.name in _MODULE_DIRECTIVES:
            add(d.arg, "", where)
            if d.name == "automodule":
                for member in _automodule_members(d.arg, d.options, defaults):
                    add(d.arg, member, where)
        elif d.name in _EXPLICIT:
            module, name = _full(d.arg, d.module)
            if module:
                add(module, name, where)
    return found


def rendered_names(docs: Path = DOCS) -> dict[str, list[str]]:
    """``{full name: ["file:line", ...]}`` of every object description the docs create."""
    out: dict[str, list[str]] = {}
    defaults = _default_options(docs)
    for d in read_directives(docs):
        if "no-index" in d.options or "noindex" in d.options:
            continue
        where = f"{d.file.relative_to(docs)}:{d.line}"
        if d.name == "automodule" or d.name in _MODULE_DIRECTIVES:
            out.setdefault(d.arg, []).append(where)
            if d.name == "automodule":
                for member in _automodule_members(d.arg, d.options, defaults):
                    out.setdefault(f"{d.arg}.{member}", []).append(where)
        elif d.name in _EXPLICIT:
            full = d.arg if d.arg.startswith(PACKAGE) or not d.module else f"{d.module}.{d.arg}"
            out.setdefault(full, []).append(where)
    return out


def undocumented(names: dict[str, Key], docs: Path = DOCS) -> list[str]:
    keys = documented_keys(docs)
    return sorted(public for public, key in names.items() if key not in keys)


# ---------------------------------------------------------------------- the tests
def test_every_public_name_is_documented():
    names = public_names()
    assert len(names) > 150, f"only {len(names)} public names found: is the parser broken?"
    missing = undocumented(names)
    assert not missing, (
        "public names missing from the API reference (docs/api/*.rst or docs/math/*.rst); add "
        "an autofunction/autoclass/autodata entry, or a docstring (a '#:' comment for data) "
        "where an automodule lists the member:\n  " + "\n  ".join(missing))


def test_every_hookspec_is_documented():
    specs = hookspec_names()
    assert f"{HOOKSPECS}.register_explainers" in specs
    missing = undocumented(specs)
    assert not missing, f"hook specifications missing from the docs: {missing}"


def test_no_object_is_described_twice_under_one_name():
    """Sphinx warns (and ``-W`` fails) on a second description of the same name."""
    twice = {name: where for name, where in rendered_names().items() if len(where) > 1}
    assert not twice, f"documented more than once (add :no-index: to one): {twice}"


def test_top_level_all_is_read_correctly():
    """The static reading of ``emotionkit.__all__`` agrees with the package (a light import)."""
    import emotionkit

    static = {n.removeprefix(f"{PACKAGE}.") for n in public_names() if n.count(".") == 1}
    assert static == set(emotionkit.__all__)


@pytest.mark.parametrize("public", ["emotionkit.explain.run", "emotionkit.explain.ModelState",
                                    "emotionkit.training.Trainer", "emotionkit.CLASS_NAMES"])
def test_removing_an_entry_is_caught(tmp_path, public):
    """The check can fail: drop the directives that document one name, and it is reported."""
    names = public_names()
    key = names[public]
    where = documented_keys()[key]
    copy = tmp_path / "docs"
    shutil.copytree(DOCS, copy, ignore=shutil.ignore_patterns("_build", "_generated"))
    # remove what documents the object in that file: its own directive, or the automodule
    # member (by removing the automodule and any explicit entry of the name in the file)
    file, line = where.rsplit(":", 1)
    lines = (copy / file).read_text(encoding="utf-8").splitlines()
    del lines[int(line) - 1]
    (copy / file).write_text("\n".join(lines) + "\n", encoding="utf-8")
    while True:  # the object may be rendered by several directives: remove them all
        keys = documented_keys(copy)
        if key not in keys:
            break
        file, line = keys[key].rsplit(":", 1)
        lines = (copy / file).read_text(encoding="utf-8").splitlines()
        del lines[int(line) - 1]
        (copy / file).write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert public in undocumented(names, copy)
    assert public not in undocumented(names)
