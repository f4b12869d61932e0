"""Loading explainer plugins: the built-ins and third-party entry points, through one hook.

Everything goes through :func:`~emotionkit.explain.hookspecs.register_explainers`: the built-in
methods are a plugin named ``emotionkit`` (module :mod:`emotionkit.explain.methods`), third-party
packages announce theirs under the entry-point group ``emotionkit``::

    [project.entry-points.emotionkit]
    my_plugin = "my_package.plugin_module"

Loading is lazy (the first :func:`get` or :func:`available` call) and happens once. Each entry
point loads on its own: one that fails to import, has no hook implementation, uses an unknown
hook name, raises while registering, or registers a name another third-party plugin already
has, is recorded with its error (see :func:`plugins_info` and ``emotionkit plugins``) and never
stops the others from loading. A plugin explainer with a built-in's name is *shadowed*: the
built-in keeps the name, the plugin's explainer is not used, and a :class:`PluginWarning` says so.

``EMOTIONKIT_LOAD_PLUGINS`` restricts the entry points that load: unset loads all, an empty
string loads none (third-party plugins are disabled; :func:`skipped_plugins` lists what was
left out), ``"a,b"`` loads the entry points (or distributions) named ``a`` and ``b``; names are
compared after PEP 503 normalization (``ek_rise`` matches ``ek-rise``). The built-ins always load.

An exception other than :class:`~emotionkit.errors.EmotionKitError` raised by a third-party
explainer's ``explain`` (or ``attribute``) reaches the caller as a
:class:`~emotionkit.errors.PluginError` of one line, ``explainer 'x' (plugin pkg 1.0) failed:
RuntimeError: ...``, with the original exception as its ``__cause__``.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import types
import warnings
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from .. import __version__
from .._names import unknown_name_message
from ..errors import EmotionKitError, PluginError, UnknownExplainerError
from . import hookspecs
from .base import Explainer

ENV_VAR = "EMOTIONKIT_LOAD_PLUGINS"
ENTRY_POINT_GROUP = "emotionkit"
BUILTIN_PLUGIN = "emotionkit"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

__all__ = [
    "ENV_VAR",
    "ENTRY_POINT_GROUP",
    "PluginRecord",
    "PluginWarning",
    "load_plugins",
    "get",
    "available",
    "plugins_info",
    "skipped_plugins",
    "loading_filter",
    "register_plugin",
    "unregister_plugin",
    "reset_plugins",
]


class PluginWarning(UserWarning):
    """A plugin problem that stops nothing, e.g. an explainer shadowed by a built-in's name."""


@dataclass
class PluginRecord:
    """What is known about one plugin.

    Attributes:
        name: The plugin's name (its entry-point name; ``"emotionkit"`` for the built-ins).
        package: The distribution that provides it, or ``None`` (registered at run time).
        version: That distribution's version, or ``None``.
        builtin: Whether this is emotionkit's own plugin.
        explainers: The explainer names it registered (empty when it failed).
        error: Why it failed, or ``None``.
        shadowed: Explainer names it registered that a built-in already has: the built-in
            keeps the name and these are not used.
    """

    name: str
    package: str | None = None
    version: str | None = None
    builtin: bool = False
    explainers: list[str] = field(default_factory=list)
    error: str | None = None
    shadowed: list[str] = field(default_factory=list)

    def label(self) -> str:
        """``"plugin ek-rise 0.1"`` (its distribution and version), or ``"plugin NAME"``."""
        if self.package:
            return f"plugin {self.package}{f' {self.version}' if self.version else ''}"
        return f"plugin {self.name}"

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        return asdict(self)


class _State:
    """All mutable plugin state, in one place guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.loaded = False
        self.pm: pluggy.PluginManager | None = None
        self.explainers: dict[str, tuple[str, Explainer]] = {}
        # explainer name -> every (plugin, explainer) claiming it, when more than one does
        self.conflicts: dict[str, list[tuple[str, Explainer]]] = {}
        self.plugins: dict[str, PluginRecord] = {}
        # entry points EMOTIONKIT_LOAD_PLUGINS kept from loading, and the names it gave
        self.skipped: list[PluginRecord] = []
        self.allowed: list[str] | None = None


_state = _State()


def _entry_points() -> list[metadata.EntryPoint]:
    """The installed entry points of group ``emotionkit``, sorted by name (tests replace this)."""
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _canonical(name: str) -> str:
    """PEP 503 normalization: ``Ek_Rise`` and ``ek.rise`` both become ``ek-rise``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _allowed_names() -> list[str] | None:
    """The names ``EMOTIONKIT_LOAD_PLUGINS`` allows, as given, or ``None`` when it is unset (all).

    An empty (or blank) value gives an empty list: no third-party plugin loads.
    """
    raw = os.environ.get(ENV_VAR)
    if raw is None:
        return None
    return list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins() -> None:
    """Load the built-in explainers and the allowed third-party plugins, once.

    Safe to call any number of times and from several threads; only the first call loads.
    Failures are recorded per plugin (see :func:`plugins_info`), never raised.
    """
    if _state.loaded:
        return
    with _state.lock:
        if _state.loaded:
            return
        _state.pm = _new_manager()
        from . import methods

        _add_plugin(methods, BUILTIN_PLUGIN, package="emotionkit", version=__version__,
                    builtin=True)
        given = _allowed_names()
        _state.allowed = given
        allowed = None if given is None else {_canonical(n) for n in given}
        seen: set[str] = set()
        for ep in _entry_points():
            dist = getattr(ep, "dist", None)
            package = getattr(dist, "name", None) if dist is not None else None
            version = getattr(dist, "version", None) if dist is not None else None
            keys = {_canonical(ep.name)} | ({_canonical(package)} if package else set())
            if allowed is not None and not keys & allowed:
                _state.skipped.append(PluginRecord(ep.name, package, version))
                continue
            seen |= keys
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must not break the others
                _state.plugins[ep.name] = PluginRecord(
                    ep.name, package, version, error=f"import failed: {_describe(exc)}"
                )
                continue
            _add_plugin(obj, ep.name, package=package, version=version)
        for name in given or []:
            if _canonical(name) in seen or _canonical(name) == BUILTIN_PLUGIN:
                continue
            _state.plugins[name] = PluginRecord(
                name, error=f"listed in {ENV_VAR} but no installed entry point of group "
                f"{ENTRY_POINT_GROUP!r} has this name"
            )
        _state.loaded = True


def _add_plugin(
    obj: Any,
    name: str,
    *,
    package: str | None = None,
    version: str | None = None,
    builtin: bool = False,
) -> PluginRecord:
    """Register one plugin object and collect its explainers; failures go into its record."""
    pm = _state.pm
    assert pm is not None
    record = PluginRecord(name, package, version, builtin)
    if pm.has_plugin(name):
        record.error = f"a plugin named {name!r} is already registered"
        key, n = f"{name} ({package or 'no package'})", 2
        while key in _state.plugins:  # keep the record of the plugin that has the name
            key, n = f"{name} ({package or 'no package'}, {n})", n + 1
        _state.plugins[key] = record
        return record
    _state.plugins[name] = record
    hooks = _hook_names(pm, obj)
    if not hooks:
        what = f"module {obj.__name__!r}" if isinstance(obj, types.ModuleType) else (
            f"{type(obj).__name__} object")
        record.error = (f"invalid plugin: {what} has no hook implementations (functions "
                        "decorated with emotionkit.explain.hookimpl, e.g. register_explainers)")
        return record
    try:
        hash(obj)
    except TypeError:  # e.g. a SimpleNamespace: pluggy keys plugins by the object
        proxy = types.ModuleType(name)
        for hook in hooks:
            setattr(proxy, hook, getattr(obj, hook))
        obj = proxy
    try:
        pm.register(obj, name=name)
    except Exception as exc:
        record.error = f"invalid plugin: {_describe(exc)}"
        return record
    try:
        pm.check_pending()  # an unknown hook name (a typo) in this plugin
    except Exception as exc:
        pm.unregister(name=name)
        record.error = f"invalid plugin: {_describe(exc)}"
        return record

    collected: list[Explainer] = []

    def register(explainer: Any) -> None:
        collected.append(_instantiate(explainer, record))

    others = [p for p in pm.get_plugins() if p is not obj]
    try:
        pm.subset_hook_caller("register_explainers", remove_plugins=others)(register=register)
    except Exception as exc:
        pm.unregister(name=name)
        record.error = f"register_explainers failed: {_describe(exc)}"
        return record

    names = [e.name for e in collected]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        pm.unregister(name=name)
        record.error = f"registered explainer {twice[0]!r} twice"
        return record
    errors = []
    for explainer in collected:
        current = _state.explainers.get(explainer.name)
        if not builtin and current is not None and current[0] == BUILTIN_PLUGIN:
            record.shadowed.append(explainer.name)  # the built-in keeps its name
            continue
        owner = _state.explainers.pop(explainer.name, None)
        if owner is not None or explainer.name in _state.conflicts:
            owners = _state.conflicts.setdefault(explainer.name, [owner] if owner else [])
            owners.append((name, explainer))
            errors.append(
                f"explainer {explainer.name!r} is registered by both plugin {owners[0][0]!r} "
                f"and plugin {name!r}"
            )
            continue
        _state.explainers[explainer.name] = (name, explainer)
        record.explainers.append(explainer.name)
    if errors:
        record.error = "; ".join(errors)
    if record.shadowed:
        which = ", ".join(map(repr, record.shadowed))
        warnings.warn(
            PluginWarning(
                f"{record.label()} registers explainer {which}, a built-in's name: the built-in "
                f"is used and the plugin's explainer is ignored (shadowed); rename it in the "
                "plugin to use it"
            ),
            stacklevel=3,
        )
    return record


def _hook_names(pm: pluggy.PluginManager, obj: Any) -> list[str]:
    """The names of ``obj``'s attributes that are hook implementations (``@hookimpl``)."""
    names = []
    for attr in dir(obj):
        try:
            if pm.parse_hookimpl_opts(obj, attr) is not None:
                names.append(attr)
        except Exception:  # a property that raises, an odd attribute: not a hook
            continue
    return names


def _guarded(method: Any, explainer: str, record: PluginRecord) -> Any:
    """Wrap a plugin explainer's ``explain``/``attribute``: foreign exceptions become one line."""
    if getattr(method, "_emotionkit_guard", False):  # an instance registered again
        method = method.__wrapped__

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except EmotionKitError:
            raise
        except Exception as exc:
            raise PluginError(
                f"explainer {explainer!r} ({record.label()}) failed: {_describe(exc)}"
            ) from exc

    call._emotionkit_guard = True  # type: ignore[attr-defined]
    return call


def _instantiate(explainer: Any, record: PluginRecord) -> Explainer:
    """Turn what a plugin passed to ``register`` into a checked :class:`Explainer` instance.

    A third-party explainer's ``explain`` and ``attribute`` are wrapped (on the instance) so
    that an exception other than :class:`EmotionKitError` becomes a one-line
    :class:`PluginError` naming the explainer and the plugin.
    """
    plugin = record.name
    if isinstance(explainer, type) and issubclass(explainer, Explainer):
        try:
            explainer = explainer()
        except TypeError as exc:
            raise PluginError(
                f"plugin {plugin!r}: explainer class {explainer.__name__} cannot be created "
                f"without arguments ({exc})"
            ) from exc
    if not isinstance(explainer, Explainer):
        raise PluginError(
            f"plugin {plugin!r} registered {explainer!r}, which is not an "
            "emotionkit.explain.Explainer subclass or instance"
        )
    if not isinstance(explainer.name, str) or not _NAME_RE.match(explainer.name):
        raise PluginError(
            f"plugin {plugin!r}: explainer {type(explainer).__name__} has invalid name "
            f"{explainer.name!r} (use lower-case letters, digits and dashes)"
        )
    if not record.builtin:
        for attr in ("explain", "attribute"):
            method = getattr(explainer, attr, None)
            if callable(method):
                try:
                    setattr(explainer, attr, _guarded(method, explainer.name, record))
                except AttributeError:  # __slots__ without __dict__: left as it is
                    pass
    return explainer


def get(name: str) -> Explainer:
    """Return the explainer registered under ``name``.

    Args:
        name: An explainer name, e.g. ``"saliency"`` (see :func:`available`).

    Returns:
        The explainer (explainers keep no per-call state, so one instance serves every call).

    Raises:
        UnknownExplainerError: No loaded plugin registers ``name``; lists close matches.
        PluginError: Two plugins register ``name``; the message names both.
    """
    load_plugins()
    with _state.lock:
        if name in _state.conflicts:
            owners = [owner for owner, _ in _state.conflicts[name]]
            raise PluginError(
                f"explainer {name!r} is registered by both plugin {owners[0]!r} and plugin "
                f"{owners[1]!r}; uninstall one or leave it out of {ENV_VAR}"
            )
        entry = _state.explainers.get(name)
    if entry is None:
        raise UnknownExplainerError(unknown_name_message("explainer", str(name), available()))
    return entry[1]


def available() -> list[str]:
    """Return the sorted names of every usable explainer (built-in and from plugins).

    Returns:
        Explainer names; names claimed by two plugins are left out (see :func:`get`).
    """
    load_plugins()
    with _state.lock:
        return sorted(_state.explainers)


def explainer_plugin(name: str) -> str:
    """Return the name of the plugin that registered explainer ``name``.

    Args:
        name: An explainer name.

    Returns:
        The plugin name (``"emotionkit"`` for built-ins).
    """
    get(name)
    return _state.explainers[name][0]


def plugins_info(include_builtin: bool = False) -> list[dict[str, Any]]:
    """Describe the loaded (or failed) plugins.

    Args:
        include_builtin: Also list emotionkit's own plugin of built-in explainers.

    Returns:
        One dict per plugin: ``name``, ``package``, ``version``, ``builtin``, ``explainers``,
        ``error`` (``None`` when it loaded cleanly), ``shadowed`` (its explainer names that a
        built-in already has; those are not used).
    """
    load_plugins()
    with _state.lock:
        records = list(_state.plugins.values())
    return [r.to_dict() for r in records if include_builtin or not r.builtin]


def skipped_plugins() -> list[dict[str, Any]]:
    """Describe the installed entry points that ``EMOTIONKIT_LOAD_PLUGINS`` kept from loading.

    Returns:
        One dict per entry point (``name``, ``package``, ``version``, ...), as in
        :func:`plugins_info`; empty when the variable is unset.
    """
    load_plugins()
    with _state.lock:
        return [r.to_dict() for r in _state.skipped]


def loading_filter() -> list[str] | None:
    """The plugin names ``EMOTIONKIT_LOAD_PLUGINS`` gave when the plugins loaded.

    Returns:
        ``None`` when the variable was unset (every installed plugin loads), else the names
        (an empty list: third-party plugins are disabled).
    """
    load_plugins()
    with _state.lock:
        return None if _state.allowed is None else list(_state.allowed)


def register_plugin(obj: Any, name: str | None = None) -> PluginRecord:
    """Register a plugin object at run time (e.g. in a notebook or a test).

    Args:
        obj: A module or object with ``@hookimpl`` functions (a ``SimpleNamespace`` works too).
        name: Its plugin name; defaults to the module's or object's ``__name__``.

    Returns:
        The plugin's record (``shadowed`` lists explainers a built-in keeps the name of).

    Raises:
        PluginError: The plugin failed to register (no hook implementations, a hook raised, an
            invalid explainer, a name another third-party plugin has); the registry is left
            exactly as it was.
    """
    load_plugins()
    plugin_name = name or getattr(obj, "__name__", None) or type(obj).__name__
    with _state.lock:
        if plugin_name in _state.plugins:
            raise PluginError(f"a plugin named {plugin_name!r} is already registered")
        pm = _state.pm
        assert pm is not None
        saved = (dict(_state.explainers), {k: list(v) for k, v in _state.conflicts.items()},
                 dict(_state.plugins))
        record = _add_plugin(obj, plugin_name)
        if record.error:
            if pm.has_plugin(plugin_name):
                pm.unregister(name=plugin_name)
            _state.explainers, _state.conflicts, _state.plugins = saved
            raise PluginError(f"plugin {plugin_name!r}: {record.error}")
    return record


def unregister_plugin(name: str) -> None:
    """Remove a plugin and the explainers it registered.

    Args:
        name: The plugin name given to :func:`register_plugin` (or an entry-point name).
    """
    load_plugins()
    with _state.lock:
        _state.plugins.pop(name, None)
        if _state.pm is not None and _state.pm.has_plugin(name):
            _state.pm.unregister(name=name)
        for key in [k for k, (owner, _) in _state.explainers.items() if owner == name]:
            del _state.explainers[key]
        for key, owners in list(_state.conflicts.items()):
            owners[:] = [(owner, exp) for owner, exp in owners if owner != name]
            if len(owners) < 2:
                del _state.conflicts[key]
                if owners:  # the one remaining claim becomes usable again
                    _state.explainers[key] = owners[0]


def reset_plugins() -> None:
    """Forget every loaded plugin; the next call to :func:`get` loads them again."""
    global _state
    with _state.lock:
        _state = _State()

