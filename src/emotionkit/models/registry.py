"""The model registry: ``@register_model`` builders and the :class:`ModelZoo` front door.

A builder is a plain function whose keyword arguments (all with defaults) are the model's
configuration; its name, with ``_`` turned into ``-``, is the model name::

    @register_model(ModelInfo(description="...", origin="..."))
    def compact(width: float = 1.0, dropout: float = 0.3) -> nn.Module: ...

    model = ModelZoo.create("compact", width=0.5)
    rebuilt = ModelZoo.create(model.emotionkit_name, **model.emotionkit_config)
"""

from __future__ import annotations

import builtins
import difflib
import fnmatch
import inspect
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from .._names import unknown_name_message
from ..errors import ConfigError, UnknownModelError


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about a model besides its builder.

    Args:
        description: One line saying what the model is.
        origin: Where the architecture comes from (report, paper, or "emotionkit").
        family: ``"seed"`` (a report architecture), ``"modern"`` or ``"dense"``.
        input_size: Input shape without the batch dimension.
        num_classes: Number of output logits.
        recipe: Default training recipe, keyed like the Trainer's arguments (``optimizer``,
            ``lr``, ``weight_decay``, ``batch_size``, ``epochs``, ``scheduler``, ``augment``
            (a preset name), ``label_smoothing``).
        tags: Free keywords, e.g. ``("cnn", "batchnorm")``.
        regularization: Weight penalties the model asks the trainer to apply, e.g.
            ``{"l1": 3e-5, "l2": 5e-5}``; ``None`` for none.
        reported_params: Parameter counts given by the source report, in Keras counting
            (``total``, ``trainable``, ``non_trainable``); empty when there is no report.
    """

    description: str
    origin: str = "emotionkit"
    family: str = "modern"
    input_size: tuple[int, int, int] = (1, 48, 48)
    num_classes: int = 7
    recipe: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    regularization: Mapping[str, float] | None = None
    reported_params: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # freeze the mappings too, so a caller cannot edit the registry through info objects
        object.__setattr__(self, "recipe", MappingProxyType(dict(self.recipe)))
        object.__setattr__(self, "reported_params", MappingProxyType(dict(self.reported_params)))
        if self.regularization is not None:
            object.__setattr__(self, "regularization", MappingProxyType(dict(self.regularization)))
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "input_size", tuple(self.input_size))

    def to_dict(self) -> dict[str, Any]:
        """Return the info as a JSON-ready dict."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__}
        return _json_ready(out, "info")


@dataclass(frozen=True)
class _Entry:
    name: str
    builder: Callable[..., nn.Module]
    info: ModelInfo
    defaults: Mapping[str, Any]


_REGISTRY: dict[str, _Entry] = {}
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_COUNT_CACHE: dict[str, dict[str, int]] = {}


def register_model(info: ModelInfo, name: str | None = None) -> Callable:
    """Decorator that adds a builder function to the zoo.

    Args:
        info: The model's :class:`ModelInfo`.
        name: Model name; defaults to the function name with ``_`` replaced by ``-``.

    Returns:
        The decorator, which returns the builder unchanged.

    Raises:
        ConfigError: If the name is invalid or already registered, or a builder argument has no
            default.
    """
    if not isinstance(info, ModelInfo):
        raise TypeError("register_model() takes a ModelInfo; use @register_model(ModelInfo(...))")

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        model_name = name or fn.__name__.replace("_", "-")
        if not _NAME_RE.fullmatch(model_name):
            raise ConfigError(
                f"invalid model name {model_name!r}: use lower-case letters, digits, '.', '-', '_'"
            )
        if model_name in _REGISTRY:
            raise ConfigError(f"model {model_name!r} is already registered")
        defaults = {}
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is p.empty:
                raise ConfigError(
                    f"builder {fn.__qualname__}: every argument needs a default value "
                    f"(it is the model's configuration), {p.name!r} has none"
                )
            defaults[p.name] = p.default
        _json_ready(defaults, f"default config of {model_name!r}")
        _REGISTRY[model_name] = _Entry(model_name, fn, info, MappingProxyType(defaults))
        return fn

    return decorator


def _json_ready(value: Any, where: str) -> Any:
    """Convert tuples to lists and mappings to dicts; refuse what JSON cannot hold."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v, where) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: value {value!r} is not finite")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise ConfigError(f"{where}: value {value!r} of type {type(value).__name__} is not JSON data")


def _entry(name: str) -> _Entry:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise UnknownModelError(unknown_name_message("model", str(name), _REGISTRY))
    return _REGISTRY[name]


class ModelZoo:
    """The registered models: list them, build them, describe them.

    Every model maps float32 ``(N, 1, 48, 48)`` images in [0, 1] to ``(N, 7)`` logits, and its
    first child is ``input_norm`` (:class:`~emotionkit.models.layers.Normalize`).
    """

    @classmethod
    def list(cls, pattern: str | None = None) -> builtins.list[str]:
        """Names of the registered models, sorted.

        Args:
            pattern: Optional shell-style pattern (``"hw1*"``, ``"*-cnn"``), case-insensitive.

        Returns:
            The matching model names.
        """
        names = sorted(_REGISTRY)
        if pattern:
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern.lower())]
        return names

    @classmethod
    def resolve_config(cls, name: str, **config: Any) -> dict[str, Any]:
        """The full configuration :meth:`create` would use, as a JSON-ready dict.

        Args:
            name: A registered model name.
            **config: Options to override; ``None`` values are dropped (use the default).

        Returns:
            The model's default configuration updated with ``config``.

        Raises:
            UnknownModelError: If ``name`` is not registered (the message lists close matches).
            ConfigError: If an option is not one of the model's options.
        """
        entry = _entry(name)
        given = {k: v for k, v in config.items() if v is not None}
        unknown = sorted(set(given) - set(entry.defaults))
        if unknown:
            valid = ", ".join(entry.defaults) or "(none)"
            hints = [m for u in unknown for m in difflib.get_close_matches(u, entry.defaults, 1)]
            hint = f"; did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
            raise ConfigError(
                f"unknown option{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(u) for u in unknown)} for model {name!r}{hint} "
                f"Valid options: {valid}"
            )
        resolved = {**entry.defaults, **given}
        return _json_ready(resolved, f"config of model {name!r}")

    @classmethod
    def create(cls, name: str, *, seed: int | None = None, pretrained: bool = False,
               **config: Any) -> nn.Module:
        """Build a model by name.

        Args:
            name: A registered model name (see :meth:`list`).
            seed: If given, the weights are initialised from this seed without touching the
                global random state.
            pretrained: Load the FER2013 weights shipped with emotionkit (verified by sha256,
                never downloaded); the model comes back in eval mode. ``emotionkit models list``
                marks the models that have them.
            **config: The builder's options; ``None`` values are dropped so an unset CLI option
                never overrides a default.

        Returns:
            The model, with ``emotionkit_name`` and ``emotionkit_config`` set so that
            ``ModelZoo.create(model.emotionkit_name, **model.emotionkit_config)`` rebuilds it.

        Raises:
            UnknownModelError: If ``name`` is not registered, or has no shipped weights when
                ``pretrained=True`` (the message lists the models that have them).
            ConfigError: If an option is unknown or has an invalid value.
        """
        if pretrained:
            from . import pretrained as shipped

            if seed is not None:
                raise ConfigError("seed= has no effect with pretrained=True (the weights are "
                                  "the shipped ones); leave it out")
            return shipped.load(name, **config)
        resolved = cls.resolve_config(name, **config)
        entry = _REGISTRY[name]
        if seed is None:
            model = entry.builder(**resolved)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                model = entry.builder(**resolved)
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"builder of {name!r} returned {type(model).__name__}, not a torch.nn.Module"
            )
        model.emotionkit_name = name
        model.emotionkit_config = json.loads(json.dumps(resolved))
        return model

    @classmethod
    def get_info(cls, name: str) -> ModelInfo:
        """The :class:`ModelInfo` a model was registered with.

        Args:
            name: A registered model name.

        Returns:
            Its frozen :class:`ModelInfo`.
        """
        return _entry(name).info

    @classmethod
    def info(cls, name: str) -> dict[str, Any]:
        """Everything known about a model, JSON-ready, including its parameter counts.

        The counts come from building the default configuration (on PyTorch's ``meta`` device,
        so no memory is allocated) and are cached.

        Args:
            name: A registered model name.

        Returns:
            A dict with ``name``, the :class:`ModelInfo` fields, ``config`` (the defaults) and
            ``params`` / ``trainable_params`` / ``non_trainable_params`` (Keras counting: BatchNorm
            running statistics are non-trainable parameters).
        """
        entry = _entry(name)
        if name not in _COUNT_CACHE:
            from .summaries import count_params

            try:
                with torch.device("meta"):
                    model = entry.builder(**entry.defaults)
            except (NotImplementedError, RuntimeError):  # a builder that needs real tensors
                model = entry.builder(**entry.defaults)
            _COUNT_CACHE[name] = count_params(model)
        counts = _COUNT_CACHE[name]
        from . import pretrained as shipped

        return {
            "name": name,
            **entry.info.to_dict(),
            "pretrained": name in shipped.available(),
            "config": _json_ready(entry.defaults, name),
            "params": counts["total"],
            "trainable_params": counts["trainable"],
            "non_trainable_params": counts["non_trainable"],
        }


__all__ = ["ModelInfo", "ModelZoo", "register_model"]
