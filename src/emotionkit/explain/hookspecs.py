"""The hooks an emotionkit plugin can implement (pluggy project name ``emotionkit``).

A plugin is a module (or any object) with functions decorated with :data:`hookimpl`, announced
under the entry-point group ``emotionkit``. The docstring of each hook below is its contract.
The built-in explainers are registered through these same hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT_NAME = "emotionkit"

#: Marks a hook *specification* (used only here).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marks a hook *implementation* in a plugin: ``@hookimpl def register_explainers(register): ...``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_explainers(register: Callable[[Any], None]) -> None:
    """Register the explainers this plugin provides.

    Call ``register(cls)`` once per explainer, where ``cls`` is a subclass of
    :class:`emotionkit.explain.Explainer` (an instance is accepted too) with a class attribute
    ``name``: lower-case letters, digits and dashes, e.g. ``"gradient-x-input"``. The class is
    instantiated without arguments. The host collects what is registered; a plugin never edits
    emotionkit's own tables. If this function raises, nothing the plugin registered is kept and
    the error is shown by ``emotionkit plugins``. A built-in's name is shadowed: the built-in
    keeps it and the plugin's explainer is not used (with a warning); a name another
    third-party plugin registered is an error that names both plugins.

    An explainer should raise :class:`~emotionkit.errors.EmotionKitError` subclasses
    (``ConfigError``, ``UnknownLayerError``, ``ExplainError``) for problems it can explain;
    anything else it raises reaches the caller as a one-line
    :class:`~emotionkit.errors.PluginError` naming the explainer and the plugin.

    Args:
        register: The callback that records one explainer class (or instance).
    """
