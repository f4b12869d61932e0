"""The explainer contract: :class:`Explainer` (one call, ``explain``) and its helpers.

Every explainer, built-in or from a plugin, is a subclass of :class:`Explainer` with

* ``name`` (class attribute): the name it is registered and called by, e.g. ``"saliency"``;
* ``description``: one line for ``emotionkit plugins`` and the docs;
* ``defaults``: every option it accepts, with its default value;
* ``explain(model, images, target=None, **options) -> Explanation``.

The contract of :meth:`Explainer.explain`:

* ``model`` is any ``torch.nn.Module`` mapping float images (N, C, H, W) in [0, 1] to logits
  (N, classes). It is used in eval mode with parameters frozen; afterwards its modes,
  ``requires_grad`` flags, hooks and modules are exactly as before, also when the call raises.
  Parameter ``.grad`` is never touched. Before any real work the model runs once on the first
  image (:func:`~emotionkit.explain.inputs.check_model_input`): images it cannot take, or an
  output that is not a logits tensor (a dict, a tuple), raise
  :class:`~emotionkit.errors.ExplainError` naming the shape.
* ``explain`` may be called inside :func:`torch.inference_mode`: it runs with inference mode
  off and returns ordinary tensors (a model whose tensors were made in inference mode is
  refused with :class:`~emotionkit.errors.ExplainError`).
* ``images``: a float tensor in [0, 1] (N, C, H, W), (N, H, W) or (H, W); a uint8 tensor or
  array on 0..255 of those shapes; a list of images; or an emotionkit ``Dataset`` (or a slice
  of one). The explainer works on its own detached copy on the model's device.
* ``target``: ``None`` or ``"predicted"`` (each image's top class), a class index or name for
  every image, or a sequence with one index or name per image. A target outside the model's
  classes raises :class:`~emotionkit.errors.ConfigError`; a requested target is never replaced.
* ``options``: keyword options listed in ``defaults``; an unknown option raises
  :class:`~emotionkit.errors.ConfigError` naming the valid ones, and so does a value out of its
  range (counts have a sane maximum; see :func:`check_int` and :func:`check_memory`).
* The result is an :class:`~emotionkit.explain.Explanation` whose ``options`` hold every option
  in effect. Results for a batch equal the results for each image alone.

Most methods produce one map per image for a target class; they subclass
:class:`AttributionExplainer` and implement only :meth:`AttributionExplainer.attribute`.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import nn

from .._names import unknown_name_message
from ..errors import ConfigError, ExplainError
from ._model_state import ModelState
from .explanation import Explanation
from .inputs import (
    as_batch,
    model_class_names,
    model_device,
    parse_target,
    probe_model_input,
)

__all__ = [
    "Explainer",
    "Setup",
    "AttributionExplainer",
    "Attribution",
    "Explanation",
    "check_model",
    "check_int",
    "check_float",
    "check_choice",
    "check_bool",
    "check_memory",
    "chunks",
    "resolve_max_batch",
    "target_scores",
]


def check_model(model: Any) -> nn.Module:
    """Return ``model`` if it is a ``torch.nn.Module``, else raise :class:`ConfigError`."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


#: The most working memory (bytes) that an option may make a method set aside in one piece
#: (occlusion's window masks, SmoothGrad's noisy copies of an image, ...). Options that would
#: need more are refused with a :class:`ConfigError` before anything is allocated.
MEMORY_BUDGET = 2 * 1024**3

#: Activation memory (bytes) of the images run through the model at once when ``max_batch`` is
#: left to the explainer, per device type: one image's activations are measured on the first
#: forward pass (:func:`~emotionkit.explain.inputs.probe_model_input`) and the chunk is this
#: budget divided by them, within :data:`CHUNK_LIMITS`.
CHUNK_BUDGET = {"cpu": 128 * 1024**2, "cuda": 4 * 1024**3}
#: The smallest and largest chunk chosen from :data:`CHUNK_BUDGET`.
CHUNK_LIMITS = {"cpu": (8, 1024), "cuda": (8, 4096)}


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e6:
        return f"{value:g}"
    return repr(value)


def check_int(
    method: str, key: str, value: Any, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Check an integer option.

    Args:
        method: Explainer name, for the message.
        key: Option name.
        value: The value given.
        minimum: Smallest allowed value.
        maximum: Largest allowed value (a sane bound on work or memory).

    Returns:
        The value as ``int``.
    """
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        isinstance(value, float) and value.is_integer()
    ):
        raise ConfigError(f"{method}: option {key!r} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{method}: option {key!r} must be >= {minimum}, "
                          f"got {_number_text(value)}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{method}: option {key!r} must be <= {maximum}, "
                          f"got {_number_text(value)}")
    return int(value)


def check_float(
    method: str, key: str, value: Any, minimum: float | None = None, strict: bool = False,
    maximum: float | None = None,
) -> float:
    """Check a finite float option (``minimum`` inclusive, or exclusive when ``strict``).

    Args:
        method: Explainer name, for the message.
        key: Option name.
        value: The value given.
        minimum: Lower bound.
        strict: Whether the lower bound is exclusive.
        maximum: Upper bound (inclusive).

    Returns:
        The value as ``float``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{method}: option {key!r} must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ConfigError(f"{method}: option {key!r} must be {relation} {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{method}: option {key!r} must be <= {maximum:g}, "
                          f"got {_number_text(value)}")
    return float(value)


def _size_text(nbytes: float) -> str:
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{nbytes:.0f} bytes"


def check_memory(method: str, what: str, nbytes: float, hint: str) -> None:
    """Refuse options that would make a method allocate more than :data:`MEMORY_BUDGET`.

    Args:
        method: Explainer name, for the message.
        what: What needs the memory, e.g. ``"the window masks"``.
        nbytes: The bytes it needs.
        hint: Which option to change, e.g. ``"use a larger stride"``.

    Raises:
        ConfigError: ``nbytes`` is over the budget.
    """
    if nbytes > MEMORY_BUDGET:
        raise ConfigError(f"{method}: {what} would need {_size_text(nbytes)} of memory (the "
                          f"limit is {_size_text(MEMORY_BUDGET)}); {hint}")


def check_choice(method: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    """Check an option that takes one of a few words."""
    if value not in choices:
        raise ConfigError(
            f"{method}: option {key!r} must be one of {', '.join(map(repr, choices))}, "
            f"got {value!r}"
        )
    return value


def check_bool(method: str, key: str, value: Any) -> bool:
    """Check a boolean option."""
    if not isinstance(value, bool):
        raise ConfigError(f"{method}: option {key!r} must be true or false, got {value!r}")
    return value


def resolve_max_batch(method: str, value: Any, device: torch.device,
                      per_image_bytes: int | None = None) -> int:
    """Resolve the ``max_batch`` option: ``None`` picks a size from a memory budget.

    With the activation memory of one image known (``per_image_bytes``), the chunk holds
    :data:`CHUNK_BUDGET` bytes of activations for the device type (128 MiB on CPUs, where
    larger chunks measured slower, 4 GiB on GPUs), within :data:`CHUNK_LIMITS`: about 50
    images for the compact model on a CPU, 31 for ``hw17-cnn``, 8 for ResNet-18, the limit for
    small dense nets. Without it, 32 on CPUs and 256 on GPUs. Results
    never depend on the value.

    Args:
        method: Explainer name, for messages.
        value: The option's value (``None`` or an int >= 1).
        device: The model's device.
        per_image_bytes: Activation bytes of one image's forward pass, when measured.

    Returns:
        The chunk size.
    """
    if value is None:
        kind = "cuda" if device.type == "cuda" else "cpu"
        if not per_image_bytes:
            return 32 if kind == "cpu" else 256
        low, high = CHUNK_LIMITS[kind]
        return int(min(high, max(low, CHUNK_BUDGET[kind] // int(per_image_bytes))))
    return check_int(method, "max_batch", value, 1)


def chunks(n: int, max_batch: int) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` pairs covering ``range(n)`` in pieces of at most ``max_batch``.

    The pieces are as equal as possible (65 rows with ``max_batch=64`` are 33 + 32, not
    64 + 1), so no pass runs a nearly empty batch.
    """
    if n <= 0:
        return
    pieces = -(-n // max_batch)
    size, extra = divmod(n, pieces)
    start = 0
    for i in range(pieces):
        stop = start + size + (1 if i < extra else 0)
        yield start, stop
        start = stop


def target_scores(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """The target's logit and softmax probability for each image, on the CPU.

    Args:
        logits: (N, classes).
        targets: (N,) class indices.

    Returns:
        ``{"logit": (N,), "probability": (N,)}``.
    """
    logits = logits.detach().float()
    idx = targets.to(logits.device)[:, None]
    return {
        "logit": logits.gather(1, idx)[:, 0].cpu(),
        "probability": torch.softmax(logits, dim=1).gather(1, idx)[:, 0].cpu(),
    }


def _outside_inference_mode(explain: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an ``explain`` method so that it runs with :func:`torch.inference_mode` off."""

    @functools.wraps(explain)
    def wrapper(self: Explainer, *args: Any, **kwargs: Any) -> Any:
        if not torch.is_inference_mode_enabled():
            return explain(self, *args, **kwargs)
        with torch.inference_mode(False):
            return explain(self, *args, **kwargs)

    wrapper._emotionkit_outside_inference_mode = True  # type: ignore[attr-defined]
    return wrapper


@dataclass
class Setup:
    """What :meth:`Explainer.prepare` resolved for one call: the shared first steps of every method.

    Attributes:
        options: Every option in effect (the caller's over ``defaults``; ``max_batch`` resolved
            when the method has it).
        device: The model's device, where ``images`` live.
        dtype: The model's floating dtype, that of ``images``.
        images: The caller's images as a detached (N, C, H, W) batch, or ``None`` when the
            method was called without images.
        class_names: The classes the model predicts (``None`` when unknown).
        target: The parsed target: ``None`` (each image's predicted class) or one class index
            per image.
    """

    options: dict[str, Any]
    device: torch.device
    dtype: torch.dtype
    images: torch.Tensor | None
    class_names: tuple[str, ...] | None
    target: torch.Tensor | None

    def settle_max_batch(self, method: str, per_image_bytes: int | None = None) -> int:
        """Choose ``options["max_batch"]`` when the caller left it to the method.

        Args:
            method: Explainer name, for messages.
            per_image_bytes: One image's activation bytes
                (:func:`~emotionkit.explain.inputs.probe_model_input`), when measured.

        Returns:
            The chunk size, also stored in ``options``.
        """
        value = resolve_max_batch(method, self.options.get("max_batch"), self.device,
                                  per_image_bytes)
        self.options["max_batch"] = value
        return value

    def output_names(self, logits: torch.Tensor) -> tuple[str, ...] | None:
        """The class names when they match the model's ``logits`` columns, else ``None``."""
        names = self.class_names
        return names if names and len(names) == logits.shape[1] else None


class Explainer(ABC):
    """Base class of every explainer (see the module docstring for the full contract).

    Subclasses set ``name``, ``description`` and ``defaults`` and implement :meth:`explain`.
    An explainer keeps no state between calls: one instance may serve any number of calls.
    Every subclass's :meth:`explain` runs with :func:`torch.inference_mode` switched off, so
    explanations (which need autograd) also work when called inside an inference-mode block,
    and the result holds ordinary tensors.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        method = cls.__dict__.get("explain")
        if (callable(method) and not getattr(method, "__isabstractmethod__", False)
                and not getattr(method, "_emotionkit_outside_inference_mode", False)):
            cls.explain = _outside_inference_mode(method)  # type: ignore[method-assign]

    #: The registered name (lower-case letters, digits and dashes).
    name: ClassVar[str] = ""
    #: One line saying what the method shows.
    description: ClassVar[str] = ""
    #: Every option the method accepts, with its default.
    defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    #: What the method makes, the ``kind`` of its :class:`Explanation`: ``"attribution"`` (one
    #: map per image for a target class; what sanity checks and faithfulness score),
    #: ``"synthesis"`` (images made from scratch) or ``"layers"`` (feature maps); ``"other"``
    #: for a subclass that does not say.
    kind: ClassVar[str] = "other"

    @abstractmethod
    def explain(
        self, model: nn.Module, images: Any, target: Any = None, **options: Any
    ) -> Explanation:
        """Explain ``model``'s output for ``images``.

        Args:
            model: The model (any module returning logits (N, classes)).
            images: Float tensor in [0, 1] (N, C, H, W), uint8 array/tensor, list of images,
                or an emotionkit ``Dataset``.
            target: ``None``/``"predicted"``, a class index or name, or one per image.
            **options: Method options (see ``defaults``).

        Returns:
            The :class:`Explanation`.
        """

    def resolve_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``options`` over ``defaults``; unknown names raise :class:`ConfigError`.

        Args:
            options: The options the caller gave.

        Returns:
            A new dict with every option.
        """
        for key in options:
            if key not in self.defaults:
                raise ConfigError(
                    f"{self.name}: " + unknown_name_message("option", key, self.defaults)
                )
        return {**self.defaults, **options}

    def prepare(self, model: nn.Module, images: Any, target: Any, options: Mapping[str, Any], *,
                images_required: bool = True) -> Setup:
        """Do the first steps every method shares; a subclass's ``explain`` starts here.

        Checks the model, merges and checks the options (:meth:`resolve_options`; ``max_batch``
        is resolved when the method has that option), moves a copy of the images to the model's
        device and dtype, and parses the target against the model's classes.

        Args:
            model: The model.
            images: The images in any accepted form, or ``None``.
            target: The caller's target (``None``/``"predicted"``, an index or name, or one per
                image).
            options: The caller's options.
            images_required: Whether ``images=None`` is an error.

        Returns:
            The :class:`Setup`.

        Raises:
            ConfigError: An unknown option, a malformed target, missing or malformed images.
        """
        check_model(model)
        opts = self.resolve_options(options)
        device, dtype = model_device(model)
        if opts.get("max_batch") is not None:  # None is settled by settle_max_batch
            opts["max_batch"] = resolve_max_batch(self.name, opts["max_batch"], device)
        if images is None and images_required:
            raise ConfigError(f"{self.name} needs images to explain")
        x = None if images is None else as_batch(images, device, dtype)
        class_names = model_class_names(model)
        spec = None if x is None else parse_target(target, len(x), class_names)
        return Setup(opts, device, dtype, x, class_names, spec)

    def describe(self) -> dict[str, Any]:
        """Name, description, options with defaults and implementing class, JSON-ready."""
        from .explanation import _json_value

        cls = type(self)
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "options": _json_value(dict(self.defaults)),
            "class": f"{cls.__module__}.{cls.__qualname__}",
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


@dataclass
class Attribution:
    """What :meth:`AttributionExplainer.attribute` returns.

    Attributes:
        maps: Raw maps (N, C, H, W) (any device; moved to the CPU by the caller).
        targets: The class explained per image, int64 (N,).
        logits: The model's logits for the *unperturbed* images (N, classes).
        extras: Method-specific results.
    """

    maps: torch.Tensor
    targets: torch.Tensor
    logits: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)


class AttributionExplainer(Explainer):
    """An explainer that gives one map per image for a target class.

    :meth:`explain` does the shared work (options, input coercion, target parsing, the
    :class:`~emotionkit.explain._model_state.ModelState`, scores); subclasses implement
    :meth:`attribute`. A subclass with ``smoothable = True`` computes a gradient-like map that
    SmoothGrad may average over noisy copies.
    """

    defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({"max_batch": None})
    kind: ClassVar[str] = "attribution"
    #: Whether SmoothGrad can use this method as its base.
    smoothable: ClassVar[bool] = False

    def explain(
        self, model: nn.Module, images: Any, target: Any = None, **options: Any
    ) -> Explanation:
        """Explain ``model``'s output for ``images`` (see :class:`Explainer`).

        Args:
            model: The model.
            images: The images (tensor, uint8 array, list, or Dataset).
            target: ``None``/``"predicted"``, a class index or name, or one per image.
            **options: Method options (see ``defaults``).

        Returns:
            An :class:`Explanation` of kind ``"attribution"``.
        """
        setup = self.prepare(model, images, target, options)
        opts, x, spec = setup.options, setup.images, setup.target
        with ModelState(model) as state:
            setup.settle_max_batch(self.name, probe_model_input(state.model, x, self.name)[1])
            result = self.attribute(state, x, spec, opts)
        if result.maps.shape[0] != x.shape[0]:
            raise ExplainError(
                f"{self.name} returned {result.maps.shape[0]} maps for {x.shape[0]} images"
            )
        names = setup.output_names(result.logits)
        return Explanation(
            maps=result.maps.detach().float().cpu().clone(),
            images=x.detach().cpu(),
            targets=result.targets.detach().cpu(),
            scores=target_scores(result.logits, result.targets),
            method=self.name,
            options=opts,
            extras={k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                    for k, v in result.extras.items()},
            kind=self.kind,
            class_names=names,
        )

    @abstractmethod
    def attribute(
        self,
        state: ModelState,
        x: torch.Tensor,
        target: torch.Tensor | None,
        options: dict[str, Any],
    ) -> Attribution:
        """Compute the maps for a prepared batch.

        Args:
            state: The active model state (``state.model`` is the model; register hooks via
                ``state.hooks()`` so they are always removed).
            x: The explainer's own copy of the images (N, C, H, W) on the model's device.
            target: ``None`` (each image's predicted class) or int64 class indices (N,); check
                them against the logits with :func:`emotionkit.explain.inputs.resolve_targets`.
            options: Every option, validated.

        Returns:
            The :class:`Attribution`.
        """
