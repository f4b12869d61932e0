"""Shared helpers of the explanation-quality checks (sanity checks and faithfulness).

Map similarity (Spearman rank correlation with SciPy, SSIM with scikit-image) on raw maps, plus the
small pieces both checks need: resolving an explainer through the plugin contract, turning user
input into an image batch, and keeping the caller's global random state untouched.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._json import json_ready
from ..errors import ConfigError, ExplainError

SIMILARITIES = ("spearman", "ssim")


# --------------------------------------------------------------------------- explainers
def resolve_method(method: Any) -> tuple[str, Any]:
    """Turn a registered explainer name or an explainer object into ``(name, explainer)``.

    Args:
        method: A name known to :func:`emotionkit.explain.get`, or any object with an
            ``explain(model, images, target=None, **options)`` method (e.g. a third-party
            explainer instance).

    Returns:
        The display name and the object whose ``explain`` is called.

    Raises:
        UnknownExplainerError: The name is not registered (raised by ``emotionkit.explain.get``).
        ConfigError: ``method`` is neither a name nor an explainer.
    """
    if isinstance(method, str):
        from . import get  # lazy: the package __init__ may import this module

        name, explainer = method, get(method)
    elif callable(getattr(method, "explain", None)):
        name, explainer = str(getattr(method, "name", None) or type(method).__name__), method
    else:
        raise ConfigError(
            f"method must be an explainer name or an object with an explain() method, "
            f"got {type(method).__name__}"
        )
    if not is_attribution(explainer):
        raise ExplainError(
            f"explainer {name!r} does not make per-pixel attribution maps; sanity checks and "
            "faithfulness need an attribution method"
        )
    return name, explainer


def is_attribution(explainer: Any) -> bool:
    """Whether an explainer makes per-pixel maps (``activation-max``, ``layer-outputs`` do not).

    Args:
        explainer: An explainer object.

    Returns:
        Whether its :attr:`~emotionkit.explain.Explainer.kind` is ``"attribution"``; a
        duck-typed plugin object without a ``kind`` attribute counts as one.
    """
    return getattr(explainer, "kind", "attribution") == "attribution"


def explain_raw(
    explainer: Any,
    model: nn.Module,
    images: torch.Tensor,
    target: Any,
    options: dict,
    used_options: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Call an explainer through the plugin contract and return raw maps and targets.

    Args:
        explainer: Object with ``explain(model, images, target=None, **options)``.
        model: The model to explain.
        images: Float batch (N, C, H, W).
        target: Passed through (``None`` = predicted class, an index, or one per image).
        options: Method options.
        used_options: When given, filled with the options in effect (see
            :func:`options_in_effect`).

    Returns:
        ``(maps, targets)``: float32 maps (N, C', H', W') as returned (not display-normalised),
        detached, on their own device; int64 targets (N,) on the CPU.

    Raises:
        ExplainError: The explanation does not have maps/targets of the expected batch size.
    """
    explanation = explainer.explain(model, images, target=target, **options)
    if used_options is not None:
        used_options.update(options_in_effect(explainer, options, explanation))
    maps = getattr(explanation, "maps", None)
    targets = getattr(explanation, "targets", None)
    kind = getattr(explanation, "kind", "attribution")
    if kind != "attribution" or isinstance(maps, dict):
        raise ExplainError(
            f"explainer {getattr(explainer, 'name', type(explainer).__name__)!r} returns "
            f"{kind if kind != 'attribution' else 'per-layer'} results, not per-pixel attribution "
            "maps; sanity checks and faithfulness need an attribution method"
        )
    if maps is None or targets is None:
        raise ExplainError(
            f"{type(explainer).__name__}.explain returned {type(explanation).__name__} "
            "without .maps and .targets"
        )
    maps = torch.as_tensor(maps).detach().float()
    if maps.ndim == 3:
        maps = maps.unsqueeze(1)
    targets = torch.as_tensor(targets).detach().reshape(-1).long().cpu()
    n = images.shape[0]
    if maps.ndim != 4 or maps.shape[0] != n or targets.shape[0] != n:
        raise ExplainError(
            f"{type(explainer).__name__}.explain returned maps of shape {tuple(maps.shape)} and "
            f"{targets.shape[0]} targets for {n} images; expected (N, C, H, W) maps and N targets"
        )
    return maps, targets


def options_in_effect(explainer: Any, options: dict, explanation: Any = None) -> dict:
    """The options an explainer ran with, its defaults included.

    Args:
        explainer: The explainer.
        options: The options the caller gave.
        explanation: What ``explain`` returned, if available.

    Returns:
        The explanation's ``options`` when it has a dict of them (emotionkit explainers record
        every option in effect there, e.g. ``max_batch`` resolved for the device); else the
        explainer's ``resolve_options(options)`` (defaults merged in); else ``options``.
    """
    recorded = getattr(explanation, "options", None)
    if isinstance(recorded, Mapping):
        return dict(recorded)
    resolve = getattr(explainer, "resolve_options", None)
    if callable(resolve):
        try:
            return dict(resolve(options))
        except Exception:  # a duck-typed plugin's own resolve_options: keep what was given
            pass
    return dict(options)


# --------------------------------------------------------------------------- inputs


def as_image_batch(images: Any, device: torch.device | None = None) -> torch.Tensor:
    """Turn images into a float32 batch (N, C, H, W) in the model's own units.

    :func:`emotionkit.explain.inputs.as_batch` without its [0, 1] range check, for the checks
    that also accept models taking other units.

    Args:
        images: A float tensor/array (N, C, H, W) or (N, H, W) in model units ([0, 1] for
            emotionkit models), a uint8 tensor/array (scaled by 1/255), or an
            :class:`emotionkit.data.Dataset`.
        device: Where to put the batch (default: where a tensor is, else the CPU).

    Returns:
        A detached float32 tensor (never the caller's tensor itself).

    Raises:
        ConfigError: The input is empty, has the wrong number of dimensions or non-finite
            values.
    """
    from .inputs import as_batch

    if device is None:
        device = images.device if isinstance(images, torch.Tensor) else torch.device("cpu")
    return as_batch(images, device, torch.float32, check_range=False)


@contextlib.contextmanager
def preserved_global_rng(seed: int | None = None) -> Iterator[None]:
    """Run a block with the global RNGs seeded by ``seed``; restore the caller's states after.

    Explainers that draw noise from the global torch RNG (e.g. SmoothGrad without a seed) then
    give the same result for the same ``seed``, and the caller's own random streams (torch CPU and
    CUDA, NumPy, Python ``random``) continue exactly as if the block had not run.

    Args:
        seed: Seed for the block; ``None`` leaves the states as they are inside the block.

    Yields:
        Nothing.
    """
    torch_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        if seed is not None:
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            random.seed(seed)
        yield
    finally:
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        np.random.set_state(np_state)
        random.setstate(py_state)


class eval_mode:
    """Put every submodule in eval mode; restore each module's own flag afterwards."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.flags: list[tuple[nn.Module, bool]] = []

    def __enter__(self) -> nn.Module:
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        return self.model

    def __exit__(self, *exc: Any) -> None:
        for module, flag in self.flags:
            module.training = flag


def jsonable(value: Any) -> Any:
    """Turn option values into JSON-ready values (large tensors/arrays become a shape note)."""
    return json_ready(value, large="shape")


# --------------------------------------------------------------------------- similarity
def reduce_channels(maps: torch.Tensor, absolute: bool) -> np.ndarray:
    """Collapse a map batch (N, C, H, W) to (N, H, W) float64 for comparison.

    Args:
        maps: Raw maps.
        absolute: Sum of absolute values over channels (``True``) or the signed sum.

    Returns:
        A NumPy array (N, H, W).
    """
    m = maps.detach().double().cpu()
    m = m.abs().sum(1) if absolute else m.sum(1)
    return m.numpy()


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each pair of maps.

    Ranks come from :func:`scipy.stats.rankdata` (ties get their average rank, as in
    :func:`scipy.stats.spearmanr`); the correlation is Pearson's on the ranks, for all rows at once.
    A map that is constant has no ranking: the correlation is 0 when exactly one of the two maps is
    constant and NaN when both are (left out of means, counted separately).

    Args:
        a: Maps (N, ...).
        b: Maps (N, ...), same shape.

    Returns:
        Correlations (N,).
    """
    from scipy.stats import rankdata

    a = a.reshape(a.shape[0], -1)
    b = b.reshape(b.shape[0], -1)
    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    na = np.sqrt((ra * ra).sum(axis=1))
    nb = np.sqrt((rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(axis=1) / (na * nb)
    const_a, const_b = na == 0, nb == 0
    rho = np.where(const_a ^ const_b, 0.0, rho)
    rho = np.where(const_a & const_b, np.nan, rho)
    return np.clip(rho, -1.0, 1.0)


def ssim_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Structural similarity (scikit-image) of each pair of 2-D maps, compared by their structure.

    Each map is first divided by its own maximum absolute value: a pure rescaling (no clipping,
    no shift, signs kept), unlike display normalization. Without it SSIM mostly measures the
    maps' scale, which changes by orders of magnitude when weights are randomized, so every
    method would look sane. ``data_range`` is then the joint value range of the pair. Two
    identical maps (e.g. both all-zero) give 1; the window is 7 pixels or the largest odd size
    that fits small maps.

    Args:
        a: Maps (N, H, W).
        b: Maps (N, H, W).

    Returns:
        SSIM values (N,).
    """
    from skimage.metrics import structural_similarity

    a, b = _unit_scale(a), _unit_scale(b)
    out = np.empty(a.shape[0])
    side = min(a.shape[-2:])
    win = min(7, side if side % 2 else side - 1)
    for i in range(a.shape[0]):
        lo = min(a[i].min(), b[i].min())
        hi = max(a[i].max(), b[i].max())
        if not np.isfinite(hi - lo):
            out[i] = np.nan
        elif hi == lo or win < 3:
            out[i] = 1.0 if np.array_equal(a[i], b[i]) else 0.0
        else:
            out[i] = structural_similarity(a[i], b[i], data_range=hi - lo, win_size=win)
    return out


def _unit_scale(maps: np.ndarray) -> np.ndarray:
    """Divide each map by its maximum absolute value (all-zero maps stay zero)."""
    peak = np.abs(maps).reshape(maps.shape[0], -1).max(axis=1)
    peak = np.where(peak > 0, peak, 1.0).reshape((-1,) + (1,) * (maps.ndim - 1))
    return maps / peak


def check_similarities(similarity: Sequence[str] | str) -> tuple[str, ...]:
    """Validate the similarity names.

    Args:
        similarity: One name or several of ``"spearman"``, ``"ssim"``.

    Returns:
        The names as a tuple, without repeats.

    Raises:
        ConfigError: Unknown or no names.
    """
    names = (similarity,) if isinstance(similarity, str) else tuple(similarity)
    bad = [s for s in names if s not in SIMILARITIES]
    if bad or not names:
        raise ConfigError(
            f"unknown similarity {bad[0]!r}; valid: {', '.join(SIMILARITIES)}"
            if bad
            else "at least one similarity is needed (spearman, ssim)"
        )
    return tuple(dict.fromkeys(names))


def compare_maps(
    original: torch.Tensor, other: torch.Tensor, similarity: Sequence[str]
) -> dict[str, np.ndarray]:
    """Compare two batches of raw maps image by image.

    Args:
        original: Maps (N, C, H, W).
        other: Maps of the same shape.
        similarity: Names from :data:`SIMILARITIES`.

    Returns:
        ``{"<similarity>_abs": (N,), "<similarity>_signed": (N,)}`` for each similarity.
    """
    if original.shape != other.shape:
        raise ExplainError(
            f"maps changed shape from {tuple(original.shape)} to {tuple(other.shape)}"
        )
    out: dict[str, np.ndarray] = {}
    for kind, absolute in (("abs", True), ("signed", False)):
        a = reduce_channels(original, absolute)
        b = reduce_channels(other, absolute)
        for name in similarity:
            fn = spearman_rows if name == "spearman" else ssim_rows
            out[f"{name}_{kind}"] = fn(a, b)
    return out


# --------------------------------------------------------------------------- figures
def save_figure(fig: Any, path: Any, dpi: int = 120) -> None:
    """Write a matplotlib figure as PNG atomically (temp file in the target dir, then rename).

    Args:
        fig: A :class:`matplotlib.figure.Figure` (built without pyplot, so no GUI backend).
        path: Destination ``.png`` file; parent directories are created.
        dpi: Resolution.
    """
    from .._io import atomic_write_with

    atomic_write_with(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi))
