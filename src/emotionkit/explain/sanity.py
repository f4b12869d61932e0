"""Sanity checks for attribution maps (Adebayo et al., 2018, "Sanity Checks for Saliency Maps").

A map that explains a model must change when the model's learned weights are destroyed.
:func:`sanity_check` re-initializes the layers of a *copy* of the model, either one after another
from the output towards the input (``"cascading"``) or one at a time (``"independent"``), explains
the same images with the same targets after each step, and compares the raw maps with the
original ones (Spearman rank correlation and SSIM, on absolute and on signed maps). High
similarity after heavy randomization means the method does not depend on what the model learned.

Unlike tools that walk modules in the order they are *declared*, the order here is the order the
layers *run* in one traced forward pass (:func:`emotionkit.explain.trace.trace_forward`). Nothing
of the caller changes: the model is deep-copied, re-initialization draws from a local
``torch.Generator``, and the global random states (torch, NumPy, ``random``) are restored.

Re-initialization per layer type (each with its own generator, seeded from ``seed`` and the layer's
position in execution order, so a layer gets the same random weights in both modes):

- Conv (any dimension, transposed too) and Linear: PyTorch's default ``reset_parameters``
  distribution, i.e. weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
- BatchNorm / GroupNorm / LayerNorm / InstanceNorm: *random* affine parameters, weight ~
  U(0.5, 1.5) and bias ~ U(-0.5, 0.5); running statistics are kept (they describe the layer's
  input, not what it learned). Resetting to identity (weight 1, bias 0), as some tools do, leaves a
  normalization layer close to its trained state and hides whether a method depends on it.
- PReLU: slopes ~ U(0, 0.5) (around PyTorch's initial 0.25).
- Any other module with parameters: tensors with 2+ dimensions as Linear; 1-D tensors
  ~ U(-1/sqrt(numel), 1/sqrt(numel)).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._json import json_ready
from .._names import unknown_name_message
from .._random import seeded_generator
from ..errors import ConfigError, ExplainError, UnknownLayerError
from ..runtime import model_device
from ._results import CheckResult
from ._similarity import (
    as_image_batch,
    check_similarities,
    compare_maps,
    eval_mode,
    explain_raw,
    jsonable,
    preserved_global_rng,
    reduce_channels,
    resolve_method,
    save_figure,
)
from .trace import trace_forward

__all__ = [
    "SanityCheckResult",
    "sanity_check",
    "sanity_check_many",
    "label_randomization_check",
    "reinitialize",
    "plot_sanity",
    "sanity_markdown",
    "MODES",
]

MODES = ("cascading", "independent")


# --------------------------------------------------------------------------- result
@dataclass
class SanityCheckResult(CheckResult):
    """Similarity of a method's maps to the original ones as the model is randomized.

    Attributes:
        method: Name of the explainer.
        mode: ``"cascading"``, ``"independent"`` or ``"labels"`` (label randomization).
        seed: Seed of the re-initialization.
        layers: Layer randomized at each step, in the order of the steps (output first).
        n_randomized: Number of randomized layers at each step (1, 2, ... when cascading; all 1
            when independent).
        scores: ``{"<similarity>_<abs|signed>": array (steps, N)}`` per-image similarity.
        targets: The original model's class per image; every randomized model is explained for
            the same targets.
        options: Method options in effect, defaults included (as the explanation recorded them).
        examples: For plotting: ``"images"`` (k, H, W), ``"original"`` (k, H, W) absolute maps and
            ``"randomized"`` (steps, k, H, W) absolute maps of the first k images.
        seconds: Wall time of the whole check.
    """

    method: str
    mode: str
    seed: int
    layers: list[str]
    n_randomized: list[int]
    scores: dict[str, np.ndarray]
    targets: np.ndarray
    options: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, np.ndarray] | None = None
    seconds: float = 0.0

    @property
    def metrics(self) -> list[str]:
        """The similarity columns, e.g. ``["spearman_abs", "ssim_abs", ...]``."""
        return list(self.scores)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per step: layer, n_randomized and mean / std / n_undefined per metric.

        Returns:
            The table rows; means and stds ignore undefined (NaN) values, e.g. the Spearman
            correlation of two constant maps.
        """
        out = []
        for i, layer in enumerate(self.layers):
            row: dict[str, Any] = {"layer": layer, "n_randomized": self.n_randomized[i]}
            for name, values in self.scores.items():
                v = values[i]
                ok = v[np.isfinite(v)]
                row[f"{name}_mean"] = float(ok.mean()) if ok.size else float("nan")
                row[f"{name}_std"] = float(ok.std()) if ok.size else float("nan")
                row[f"{name}_undefined"] = int(v.size - ok.size)
            out.append(row)
        return out

    def final(self) -> dict[str, float]:
        """Mean similarities at the last step (full randomization when cascading).

        Returns:
            ``{metric: mean}``.
        """
        last = self.rows()[-1]
        return {m: last[f"{m}_mean"] for m in self.scores}

    def to_dict(self, per_image: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes ``null``).

        Args:
            per_image: Include the per-image similarities.

        Returns:
            The result as plain Python values.
        """
        out: dict[str, Any] = {
            "method": self.method,
            "mode": self.mode,
            "seed": self.seed,
            "n_images": int(self.targets.shape[0]),
            "options": jsonable(self.options),
            "seconds": self.seconds,
            "final": json_ready(self.final()),
            "rows": json_ready(self.rows()),
        }
        if per_image:
            out["targets"] = self.targets.tolist()
            out["scores"] = json_ready(self.scores, limit=2**62)  # every value, NaN as null
        return out

    def to_markdown(self) -> str:
        """The per-layer table in Markdown (mean ± std of each similarity).

        Returns:
            The table.
        """
        metrics = self.metrics
        head = "| step | layer | randomized | " + " | ".join(metrics) + " |"
        lines = [
            f"Sanity check of {self.method} ({self.mode}, seed {self.seed}, "
            f"{self.targets.shape[0]} images)",
            "",
            head,
            "|" + "---|" * (3 + len(metrics)),
        ]
        for i, row in enumerate(self.rows(), start=1):
            cells = [f"{row[f'{m}_mean']:.3f} ± {row[f'{m}_std']:.3f}" for m in metrics]
            layer = row["layer"] or "(root)"
            lines.append(f"| {i} | {layer} | {row['n_randomized']} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def plot(self, path: Any) -> None:
        """Similarity against the randomized layer, one line per metric, to a PNG.

        Args:
            path: Destination file (written atomically).
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(max(6.0, 0.45 * len(self.layers) + 3), 4), layout="constrained")
        ax = fig.subplots()
        x = np.arange(len(self.layers))
        for metric in self.metrics:
            mean = np.array([r[f"{metric}_mean"] for r in self.rows()])
            ax.plot(x, mean, marker="o", label=metric.replace("_", " "))
        _decorate(ax, self, f"{self.method}: {self.mode} randomization")
        ax.legend(fontsize=8)
        save_figure(fig, path)

    def plot_examples(self, path: Any, max_steps: int = 8) -> None:
        """Grid of example maps (absolute, each normalized for display) as layers are randomized.

        Rows are images; columns are the input, the original map, then the maps after a subset of
        the steps (at most ``max_steps``, always including the last).

        Args:
            path: Destination file (written atomically).
            max_steps: Largest number of randomized columns.
        """
        if not self.examples:
            raise ExplainError("this result holds no example maps (n_examples was 0)")
        from matplotlib.figure import Figure

        images = self.examples["images"]
        original = self.examples["original"]
        randomized = self.examples["randomized"]
        steps = np.unique(np.linspace(0, len(self.layers) - 1, min(max_steps, len(self.layers))))
        steps = steps.round().astype(int)
        k = images.shape[0]
        cols = 2 + len(steps)
        fig = Figure(figsize=(1.5 * cols, 1.6 * k + 0.4), layout="constrained")
        axes = np.atleast_2d(fig.subplots(k, cols))
        for r in range(k):
            panels = [(images[r], "input", "gray"), (original[r], "original", "magma")]
            panels += [(randomized[s][r], _short(self.layers[s]), "magma") for s in steps]
            for c, (img, title, cmap) in enumerate(panels):
                ax = axes[r, c]
                ax.imshow(_display(img) if c else img, cmap=cmap, vmin=0, vmax=1 if c else None)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(title, fontsize=8)
        fig.suptitle(f"{self.method}: maps as layers are randomized ({self.mode})", fontsize=10)
        save_figure(fig, path)


def _short(name: str, width: int = 14) -> str:
    name = name or "(root)"
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def _display(m: np.ndarray) -> np.ndarray:
    """Display-only normalization: clip at the 99th percentile, scale to [0, 1]."""
    hi = np.percentile(m, 99)
    return np.clip(m / hi, 0, 1) if hi > 0 else np.zeros_like(m)


def _decorate(ax: Any, result: SanityCheckResult, title: str) -> None:
    ax.set_xticks(np.arange(len(result.layers)))
    ax.set_xticklabels([_short(n) for n in result.layers], rotation=60, ha="right", fontsize=7)
    ax.set_xlabel(
        "randomized layers, output to input (cumulative)"
        if result.mode == "cascading"
        else "randomized layer (one at a time)"
    )
    ax.set_ylabel("similarity to original map")
    ax.set_ylim(-0.3, 1.05)
    ax.axhline(0.0, color="gray", lw=0.5)
    ax.set_title(title)


def plot_sanity(
    results: Mapping[str, SanityCheckResult] | Sequence[SanityCheckResult],
    path: Any,
    metrics: Sequence[str] = ("spearman_abs", "ssim_abs"),
) -> None:
    """Compare methods: one panel per metric, one line per method, similarity vs randomized layer.

    Args:
        results: Results of the same model and mode (e.g. from :func:`sanity_check_many`).
        path: Destination PNG (written atomically).
        metrics: Metric columns to plot (those missing from the results are skipped).
    """
    from matplotlib.figure import Figure

    items = list(results.values()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ConfigError("plot_sanity needs at least one result")
    metrics = [m for m in metrics if m in items[0].scores] or items[0].metrics[:1]
    n_layers = max(len(r.layers) for r in items)
    fig = Figure(figsize=(max(6.0, 0.45 * n_layers + 3) * len(metrics), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, metric in zip(axes, metrics, strict=True):
        for r in items:
            mean = [row[f"{metric}_mean"] for row in r.rows()]
            ax.plot(np.arange(len(mean)), mean, marker="o", label=r.method)
        longest = max(items, key=lambda r: len(r.layers))
        _decorate(ax, longest, metric.replace("_", " "))
        ax.legend(fontsize=8)
    save_figure(fig, path)


def sanity_markdown(results: Mapping[str, SanityCheckResult] | Sequence[SanityCheckResult]) -> str:
    """One row per method: the mean similarities at the last step (full randomization).

    Args:
        results: Sanity-check results.

    Returns:
        A Markdown table.
    """
    items = list(results.values()) if isinstance(results, Mapping) else list(results)
    metrics = items[0].metrics if items else []
    lines = [
        "| method | mode | layers | " + " | ".join(metrics) + " |",
        "|" + "---|" * (3 + len(metrics)),
    ]
    for r in items:
        final = r.final()
        cells = " | ".join(f"{final[m]:.3f}" for m in metrics)
        lines.append(f"| {r.method} | {r.mode} | {len(r.layers)} | {cells} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- re-initialization
def _layer_generator(seed: int, position: int) -> torch.Generator:
    return seeded_generator(seed, position)


def _fan_in(t: torch.Tensor) -> int:
    receptive = math.prod(t.shape[2:]) if t.ndim > 2 else 1
    return max(1, t.shape[1] * receptive)


_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


@torch.no_grad()
def reinitialize(module: nn.Module, generator: torch.Generator) -> list[str]:
    """Re-initialize the module's *own* parameters at random (see the module docstring).

    Values are drawn on the CPU from ``generator`` and copied into place, so the result does not
    depend on the device and the global RNG is not used.

    Args:
        module: The module; its children are not touched, nor its buffers.
        generator: A CPU generator.

    Returns:
        The names of the re-initialized parameters.
    """

    def draw(p: torch.Tensor, lo: float, hi: float) -> None:
        p.copy_(torch.empty(p.shape, dtype=torch.float32).uniform_(lo, hi, generator=generator))

    params = dict(module.named_parameters(recurse=False))
    if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
        bound = 1.0 / math.sqrt(_fan_in(module.weight))
        for p in params.values():
            draw(p, -bound, bound)
    elif isinstance(module, _NORMS):
        for name, p in params.items():
            draw(p, 0.5, 1.5) if name == "weight" else draw(p, -0.5, 0.5)
    elif isinstance(module, nn.PReLU):
        for p in params.values():
            draw(p, 0.0, 0.5)
    else:
        for p in params.values():
            bound = 1.0 / math.sqrt(_fan_in(p) if p.ndim >= 2 else max(1, p.numel()))
            draw(p, -bound, bound)
    return list(params)


# --------------------------------------------------------------------------- the check
def _reseeded(seed: int) -> None:
    import random

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _check_targets(expected: torch.Tensor, got: torch.Tensor, method: str, layer: str) -> None:
    if not torch.equal(expected, got):
        raise ExplainError(
            f"explainer {method!r} did not explain the requested classes after randomizing "
            f"{layer!r} (asked for {expected[:5].tolist()}..., got {got[:5].tolist()}...)"
        )


def sanity_check(
    model: nn.Module,
    method: Any,
    images: Any,
    *,
    target: Any = None,
    mode: str = "cascading",
    seed: int = 0,
    similarity: Sequence[str] | str = ("spearman", "ssim"),
    layers: Iterable[str] | None = None,
    n_examples: int = 4,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
    **method_options: Any,
) -> SanityCheckResult:
    """Model-parameter randomization test of an explainer.

    Args:
        model: The trained model. It is deep-copied; the caller's model, its weights and buffers,
            and the global random states are the same afterwards.
        method: A registered explainer name or an explainer object (plugin contract:
            ``explain(model, images, target=None, **options)`` returning ``.maps``/``.targets``).
        images: Batch (N, C, H, W) / (N, H, W), float in model units or uint8, or a Dataset.
        target: Class to explain for the *original* model (``None`` = predicted); the targets it
            yields are used unchanged for every randomized model.
        mode: ``"cascading"`` (randomize layers cumulatively from the output towards the input,
            in execution order) or ``"independent"`` (one layer at a time, others original).
        seed: Seed of the re-initialization; the global RNGs are also seeded with it before every
            ``explain`` call (for explainers that draw noise) and restored afterwards.
        similarity: ``"spearman"`` and/or ``"ssim"``; each on absolute and signed maps. Maps are
            the raw ones (no display normalization); SSIM divides each map by its maximum
            absolute value first (see :func:`emotionkit.explain._similarity.ssim_rows`).
        layers: Restrict randomization to these module names (default: every module with
            parameters of its own that runs in the forward pass).
        n_examples: Number of images whose maps are kept for
            :meth:`SanityCheckResult.plot_examples`.
        progress: Show a progress bar on stderr.
        options: Method options as a dict, merged under ``method_options``; the way to pass
            options whose names are also parameters here (``seed``, ``progress``, ...).
        **method_options: Passed to ``explain``.

    Returns:
        A :class:`SanityCheckResult`, one step per randomized layer (output layer first).

    Raises:
        ConfigError: Unknown mode or similarity.
        UnknownLayerError: A name in ``layers`` is not a module with parameters.
        ExplainError: The model has nothing to randomize, or the explainer misbehaves.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    method_options = {**dict(options or {}), **method_options}
    sims = check_similarities(similarity)
    name, explainer = resolve_method(method)
    device = model_device(model)[0]
    x = as_image_batch(images, device)
    start = time.perf_counter()

    with preserved_global_rng(seed):
        work = copy.deepcopy(model).eval()
        order = trace_forward(work, x[: min(2, x.shape[0])]).parametrized_in_execution_order()
        position = {layer: i for i, layer in enumerate(order)}
        if layers is not None:
            wanted = list(dict.fromkeys(layers))
            for layer in wanted:
                if layer not in position:
                    raise UnknownLayerError(
                        unknown_name_message("layer with parameters", layer, order)
                    )
            order = [layer for layer in order if layer in wanted]
        if not order:
            raise ExplainError(f"{type(model).__name__} has no parameters to randomize")
        steps = list(reversed(order))  # from the output towards the input

        used: dict[str, Any] = {}

        def explain(m: nn.Module, tgt: Any) -> tuple[torch.Tensor, torch.Tensor]:
            _reseeded(seed)
            with eval_mode(m):
                return explain_raw(explainer, m, x, tgt, method_options, used)

        original, targets = explain(work, target)
        k = min(n_examples, x.shape[0])
        scores: dict[str, list[np.ndarray]] = {}
        example_maps = []
        iterator: Iterable[str] = steps
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(steps, desc=f"sanity {name}", unit="layer", leave=False)
        for layer in iterator:
            module = work.get_submodule(layer)
            saved = {n: p.detach().clone() for n, p in module.named_parameters(recurse=False)}
            reinitialize(module, _layer_generator(seed, position[layer]))
            maps, got = explain(work, targets)
            _check_targets(targets, got, name, layer)
            for key, values in compare_maps(original, maps, sims).items():
                scores.setdefault(key, []).append(values)
            if k:
                example_maps.append(reduce_channels(maps[:k], absolute=True))
            if mode == "independent":
                with torch.no_grad():
                    for n, p in module.named_parameters(recurse=False):
                        p.copy_(saved[n])

    examples = None
    if k:
        examples = {
            "images": x[:k].detach().float().mean(1).cpu().numpy(),
            "original": reduce_channels(original[:k], absolute=True),
            "randomized": np.stack(example_maps),
        }
    return SanityCheckResult(
        method=name,
        mode=mode,
        seed=seed,
        layers=steps,
        n_randomized=list(range(1, len(steps) + 1)) if mode == "cascading" else [1] * len(steps),
        scores={key: np.stack(v) for key, v in scores.items()},
        targets=targets.numpy(),
        options=used or dict(method_options),
        examples=examples,
        seconds=time.perf_counter() - start,
    )


def sanity_check_many(
    model: nn.Module, methods: Iterable[Any], images: Any, **kwargs: Any
) -> dict[str, SanityCheckResult]:
    """Run :func:`sanity_check` for several methods on the same model, images and seed.

    Args:
        model: The trained model.
        methods: Explainer names or objects.
        images: The images.
        **kwargs: Passed to :func:`sanity_check` (mode, seed, target, similarity, options...).

    Returns:
        ``{method name: result}`` in the given order; compare with :func:`plot_sanity` and
        :func:`sanity_markdown`.
    """
    return {r.method: r for r in (sanity_check(model, m, images, **kwargs) for m in methods)}


# --------------------------------------------------------------------------- label randomization
def label_randomization_check(
    model_factory: Callable[[], nn.Module],
    train_dataset: Any,
    method: Any,
    images: Any,
    *,
    train: Callable[[nn.Module, Any], Any],
    reference_model: nn.Module | None = None,
    target: Any = None,
    seed: int = 0,
    similarity: Sequence[str] | str = ("spearman", "ssim"),
    **method_options: Any,
) -> SanityCheckResult:
    """Data randomization test: train the same architecture on shuffled labels and compare maps.

    A model trained on permuted labels can only memorize; maps that stay similar to those of the
    model trained on true labels do not reflect what the model learned from the data.

    Args:
        model_factory: Builds a fresh, untrained model of the architecture (e.g.
            ``lambda: ModelZoo.create("compact")``).
        train_dataset: A labeled :class:`emotionkit.data.Dataset`.
        method: Explainer name or object.
        images: Images to explain.
        train: ``train(model, dataset)`` trains ``model`` in place on a labeled dataset, e.g.
            :func:`emotionkit.training.train_function` ``(epochs=3, seed=0)`` for the
            :class:`~emotionkit.training.Trainer` with a small budget, or a loop of your own.
            It is called inside a seeded random state, so the check repeats exactly.
        reference_model: A model already trained on the true labels; trained here when ``None``.
        target: Class for the reference model (``None`` = predicted); reused for the other.
        seed: Seed of the label permutation, of training and of explainer noise.
        similarity: As in :func:`sanity_check`.
        **method_options: Passed to ``explain``.

    Returns:
        A :class:`SanityCheckResult` with mode ``"labels"`` and one step, ``"labels shuffled"``.
    """
    sims = check_similarities(similarity)
    name, explainer = resolve_method(method)
    labels = getattr(train_dataset, "labels", None)
    if labels is None:
        raise ConfigError("label randomization needs a labeled training set")
    start = time.perf_counter()

    if not callable(train):
        raise ConfigError(f"train must be a callable train(model, dataset), got "
                          f"{type(train).__name__}")

    def fit(model: nn.Module, dataset: Any) -> nn.Module:
        train(model, dataset)
        return model

    with preserved_global_rng(seed):
        shuffled = copy.copy(train_dataset)
        shuffled.labels = np.random.default_rng(seed).permutation(np.asarray(labels))
        reference = (
            reference_model if reference_model is not None else fit(model_factory(), train_dataset)
        )
        randomized = fit(model_factory(), shuffled)
        x = as_image_batch(images, model_device(reference)[0])

        used: dict[str, Any] = {}

        def explain(m: nn.Module, tgt: Any) -> tuple[torch.Tensor, torch.Tensor]:
            _reseeded(seed)
            with eval_mode(m):
                return explain_raw(explainer, m, x.to(model_device(m)[0]), tgt, method_options,
                                   used)

        original, targets = explain(reference, target)
        maps, got = explain(randomized, targets)
        _check_targets(targets, got, name, "labels shuffled")
        scores = {k: v[None] for k, v in compare_maps(original.cpu(), maps.cpu(), sims).items()}
    return SanityCheckResult(
        method=name,
        mode="labels",
        seed=seed,
        layers=["labels shuffled"],
        n_randomized=[1],
        scores=scores,
        targets=targets.numpy(),
        options=used or dict(method_options),
        examples={
            "images": x[:4].mean(1).cpu().numpy(),
            "original": reduce_channels(original[:4], absolute=True),
            "randomized": reduce_channels(maps[:4], absolute=True)[None],
        },
        seconds=time.perf_counter() - start,
    )
