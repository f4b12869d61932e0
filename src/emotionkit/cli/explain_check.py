"""``emotionkit explain-check``: sanity checks and faithfulness of every explainer on one model."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import click

from ._common import load_model_arg, parse_key_values
from .options import model_option, precision_option

# Kept here (not imported) so `emotionkit --help` does not load the explain package;
# a test checks they equal emotionkit.explain.sanity.MODES / faithfulness.BASELINES.
MODES = ("cascading", "independent")
BASELINES = ("zeros", "mean", "blur")


def _parse_methods(value: str | None) -> list[str]:
    """Resolve ``--methods`` (default: every registered attribution method)."""
    from .. import explain

    if value:
        names = [m.strip() for m in value.split(",") if m.strip()]
        if not names:
            raise click.BadParameter("give at least one method name", param_hint="--methods")
        for name in names:
            explain.get(name)  # UnknownExplainerError lists the valid names
        return list(dict.fromkeys(names))
    from ..explain._similarity import is_attribution

    return [name for name in explain.available() if is_attribution(explain.get(name))]


def _method_options(names: list[str], settings: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Resolve ``-o KEY=VALUE`` / ``-o METHOD.KEY=VALUE`` into options per method.

    A plain ``KEY`` goes to every checked method that has that option; ``METHOD.KEY`` to that
    method only. Values are parsed as for ``emotionkit explain -o``.

    Raises:
        click.BadParameter: A key no checked method takes, or a method that is not checked.
        ConfigError: An option the named method does not have (lists the valid ones).
    """
    from .. import explain

    per: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, value in parse_key_values(settings, "--option", prefixed=True).items():
        method, dot, option = key.rpartition(".")
        if dot:
            if method not in per:
                raise click.BadParameter(
                    f"{key!r}: method {method!r} is not checked (checked: {', '.join(names)})",
                    param_hint="'--option'",
                )
            per[method][option] = value
            continue
        takers = [n for n in names if key in (getattr(explain.get(n), "defaults", None) or {})]
        if not takers:
            raise click.BadParameter(
                f"no checked method ({', '.join(names)}) has option {key!r}; use METHOD.{key} "
                "to pass it to one method", param_hint="'--option'",
            )
        for name in takers:
            per[name][key] = value
    for name, options in per.items():
        resolve = getattr(explain.get(name), "resolve_options", None)
        if options and callable(resolve):
            resolve(options)  # an unknown option: ConfigError naming the valid ones
    return per


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-") or "method"


def summary_markdown(summary: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The main table: one row per method, sanity (full randomization) and faithfulness AUCs.

    Args:
        summary: Rows as written to ``results.json`` under ``"summary"``.
        meta: Run settings (model, data, split, n, mode, steps, baseline, seed).

    Returns:
        Markdown text.
    """

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    lines = [
        f"# Explanation quality: {meta['model']}",
        "",
        f"{meta['n']} images of {meta['data']} ({meta['split']}); sanity check: {meta['mode']} "
        f"randomization, seed {meta['seed']}; faithfulness: {meta['steps']} steps, "
        f"{meta['baseline']} baseline, random order with the same seed.",
        "",
        "| method | Spearman abs (full rand.) | SSIM abs (full rand.) | deletion AUC ↓ "
        "| random deletion | insertion AUC ↑ | random insertion | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        if r.get("error"):
            lines.append(f"| {r['method']} | failed | | | | | | {r['seconds']:.1f} |")
            continue
        lines.append(
            f"| {r['method']} | {f(r['spearman_abs_final'])} | {f(r['ssim_abs_final'])} "
            f"| {f(r['deletion_auc'])} | {f(r['random_deletion_auc'])} "
            f"| {f(r['insertion_auc'])} | {f(r['random_insertion_auc'])} "
            f"| {r['seconds']:.1f} |"
        )
    lines += [
        "",
        "Spearman/SSIM: similarity of the maps of the fully randomized model to the original maps "
        "(near 0 is what a method that depends on the weights should give). Deletion: lower than "
        "random is better; insertion: higher than random is better.",
        "",
    ]
    failed = [r for r in summary if r.get("error")]
    if failed:
        lines += ["## Failed methods", ""]
        lines += [f"- {r['method']}: {r['error']}" for r in failed]
        lines.append("")
    return "\n".join(lines)


@click.command("explain-check")
@model_option(" A zoo name without weights gives an untrained model (demos only).")
@click.option("--data", "data_path", required=True, help="Dataset file, folder or synthetic[:N].")
@click.option("--split", default="PublicTest", show_default=True, help="Split to take images from.")
@click.option(
    "--methods",
    default=None,
    help="Comma-separated explainer names (default: every registered attribution method).",
)
@click.option("--n", "n", type=int, default=200, show_default=True, help="First N images.")
@click.option("--mode", type=click.Choice(MODES), default="cascading", show_default=True)
@click.option("--steps", type=int, default=50, show_default=True, help="Deletion/insertion steps.")
@click.option("--baseline", type=click.Choice(BASELINES), default="zeros", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--option", "-o", "settings", multiple=True, metavar="[METHOD.]KEY=VALUE",
              help="Method option as in 'emotionkit explain -o', e.g. -o max_batch=16 (every "
              "checked method with that option) or -o integrated-gradients.steps=16 (one "
              "method). Repeatable.")
@click.option("--max-batch", type=int, default=None,
              help="Forward batch cap [default: 128 on CPU, 1024 on GPU].")
@precision_option(
    "fp32",
    "Precision of the deletion/insertion forward passes (auto: bf16 where the hardware "
    "runs it natively; fp16 needs CUDA). Maps and sanity checks always use fp32.",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def explain_check(
    model_spec: str | None,
    data_path: str,
    split: str,
    methods: str | None,
    n: int,
    mode: str,
    steps: int,
    baseline: str,
    seed: int,
    settings: tuple[str, ...],
    max_batch: int | None,
    precision: str,
    out_dir: str,
    as_json: bool,
    device: str,
) -> None:
    """Can the explanations of a model be trusted? Sanity checks and faithfulness per method.

    For each method: model-parameter randomization (maps of randomized copies compared with the
    original maps: Spearman and SSIM) and deletion/insertion curves against a random pixel order.
    Writes table.md, results.json and figures (sanity.png, sanity_<method>.png,
    faithfulness_<method>.png) into OUT. A method that fails is recorded in the table and
    results.json with its error and the others go on; the exit status is then 1.
    """
    from tqdm.auto import tqdm

    from .. import explain
    from .._io import atomic_write_json, atomic_write_text
    from ..data import Dataset
    from ..errors import EmotionKitError
    from ..explain._similarity import jsonable, options_in_effect
    from ..explain.sanity import plot_sanity, sanity_check
    from ..runtime import describe_machine, resolve_device, resolve_precision
    from .main import DEBUG_ENV, _one_line
    from .plugins import load_plugins_showing_warnings

    if n < 1:
        raise click.BadParameter(f"must be at least 1, got {n}", param_hint="--n")
    if steps < 1:
        raise click.BadParameter(f"must be at least 1, got {steps}", param_hint="--steps")
    if max_batch is not None and max_batch < 1:
        raise click.BadParameter(f"must be at least 1, got {max_batch}", param_hint="--max-batch")
    load_plugins_showing_warnings()
    names = _parse_methods(methods)
    if not names:
        raise click.UsageError("no attribution explainers are registered")
    method_options = _method_options(names, settings)
    dev = resolve_device(device)
    resolve_precision(precision, dev)  # refuse e.g. fp16 on a CPU before any work
    model, model_name = load_model_arg(model_spec, dev)
    part = Dataset.load(data_path).split(split)
    if len(part) < n:
        click.echo(f"Warning: split {split!r} has only {len(part)} images; using all.", err=True)
    images = part.subset(slice(0, n)).to_tensor(dev)[0]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    meta = {
        "model": model_name,
        "data": data_path,
        "split": split,
        "n": int(images.shape[0]),
        "mode": mode,
        "steps": steps,
        "baseline": baseline,
        "seed": seed,
        "precision": precision,
        "device": str(dev),
        "machine": describe_machine(),
    }
    sanity_results = {}
    random_cache: dict[str, Any] = {}
    per_method: dict[str, Any] = {}
    summary = []
    bar = tqdm(
        total=2 * len(names), desc="explain-check", unit="check", file=sys.stderr, disable=None
    )
    failed: list[str] = []
    try:
        for name in names:
            opts = method_options[name]
            t0 = time.perf_counter()
            sanity_done = False
            try:
                bar.set_postfix_str(f"{name}: sanity")
                san = sanity_check(model, name, images, mode=mode, seed=seed, options=opts)
                t_san = time.perf_counter() - t0
                bar.update()
                sanity_done = True
                bar.set_postfix_str(f"{name}: faithfulness")
                t1 = time.perf_counter()
                fai = _faithfulness_sharing_random(
                    random_cache, model, name, images, steps=steps, baseline=baseline,
                    seed=seed, max_batch=max_batch, precision=precision, options=opts,
                )
                t_fai = time.perf_counter() - t1
            except EmotionKitError as exc:  # record it and go on with the other methods
                if os.environ.get(DEBUG_ENV):
                    traceback.print_exception(exc, file=sys.stderr)
                error = _one_line(exc)
                click.echo(f"Warning: {name} recorded as failed: {error}", err=True)
                failed.append(name)
                bar.update(1 if sanity_done else 2)
                used = jsonable(options_in_effect(explain.get(name), opts))
                summary.append({"method": name, "error": error,
                                "seconds": time.perf_counter() - t0, "options": used})
                per_method[name] = {"error": error, "options": used}
                continue
            bar.update()
            slug = _slug(name)
            san.plot(out / f"sanity_{slug}.png")
            san.plot_examples(out / f"sanity_{slug}_examples.png")
            fai.plot(out / f"faithfulness_{slug}.png")
            sanity_results[name] = san
            final, s = san.final(), fai.summary()
            summary.append(
                {
                    "method": name,
                    "error": None,
                    "spearman_abs_final": final.get("spearman_abs"),
                    "ssim_abs_final": final.get("ssim_abs"),
                    "spearman_signed_final": final.get("spearman_signed"),
                    "ssim_signed_final": final.get("ssim_signed"),
                    **{k: s[k] for k in s},
                    "seconds": t_san + t_fai,
                    "seconds_sanity": t_san,
                    "seconds_faithfulness": t_fai,
                    "options": jsonable(san.options),
                }
            )
            per_method[name] = {
                "error": None,
                "options": jsonable(san.options),
                "sanity": san.to_dict(),
                "faithfulness": fai.to_dict(per_image=False),
            }
    finally:
        bar.close()
    if sanity_results:
        plot_sanity(sanity_results, out / "sanity.png")
    table = summary_markdown(summary, meta)
    details = "\n".join(r.to_markdown() for r in sanity_results.values())
    atomic_write_text(out / "table.md", table + "\n## Per layer\n\n" + details)
    results = {**meta, "summary": summary, "methods": per_method, "failed": failed}
    atomic_write_json(out / "results.json", _finite(results))
    if as_json:
        click.echo(json.dumps(_finite(results), indent=2))
    else:
        click.echo(table)
        click.echo(f"Wrote table.md, results.json and figures to {out}")
    if failed:
        raise click.ClickException(
            f"{len(failed)} of {len(names)} methods failed: {', '.join(failed)} "
            f"(see {out / 'table.md'})"
        )


def _finite(value: Any) -> Any:
    """Replace NaN/inf floats by None so the JSON is standard."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


_RANDOM_CURVES = ("random_deletion", "random_insertion")


def _faithfulness_sharing_random(cache: dict[str, Any], model, name: str, images, **kwargs):
    """Faithfulness of one method, computing the random-order curves only once per run.

    The random-order curves depend on the images, targets, seed, steps and baseline, not on the
    method, so after the first method only the method's own deletion/insertion curves are
    computed; the random ones are reused when the targets are the same (else recomputed).

    Args:
        cache: Holds the first complete result (filled on the first call).
        model: The model.
        name: Explainer name.
        images: Image batch.
        **kwargs: Options for :func:`emotionkit.explain.faithfulness`.

    Returns:
        The method's :class:`~emotionkit.explain.FaithfulnessResult` with all
        four curves.
    """
    import numpy as np

    from ..explain.faithfulness_curves import faithfulness

    first = cache.get("result")
    if first is None:
        cache["result"] = result = faithfulness(model, name, images, **kwargs)
        return result
    result = faithfulness(model, name, images, curves=("deletion", "insertion"), **kwargs)
    if np.array_equal(result.targets, first.targets):
        for curve in _RANDOM_CURVES:
            result.curves[curve] = first.curves[curve]
            result.aucs[curve] = first.aucs[curve]
        result.n_forward *= 2  # what the curves cost, had they been computed again
        return result
    return faithfulness(model, name, images, **kwargs)
