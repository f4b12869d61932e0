"""``emotionkit explain``: run any registered explainer on images or a dataset and write PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _parse_options(settings: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> dict; values are read as JSON when they parse, else text."""
    options: dict[str, Any] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--option")
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return options


def _read_image(path: Path):
    """Read an image file as a uint8 48x48 gray face."""
    import numpy as np
    from skimage import io, transform, util

    from ..errors import DataFormatError

    try:
        img = io.imread(path)
    except Exception as exc:
        raise DataFormatError(f"{path}: cannot read the image ({exc})") from None
    img = util.img_as_float(img)
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[..., :3]
        img = img.mean(axis=2) if img.shape[2] != 3 else img @ np.array([0.2125, 0.7154, 0.0721])
    if img.ndim != 2:
        raise DataFormatError(f"{path}: expected a gray or colour image, got shape {img.shape}")
    if img.shape != (48, 48):
        img = transform.resize(img, (48, 48), anti_aliasing=True)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def load_inputs(inputs: tuple[str, ...], n: int, split: str | None):
    """Turn IMAGE_OR_DATASET arguments into one uint8 batch (M, 48, 48) and source labels."""
    import numpy as np

    from ..data import Dataset

    images, sources = [], []
    for spec in inputs:
        path = Path(spec)
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            images.append(_read_image(path)[None])
            sources.append(str(path))
            continue
        data = Dataset.load(spec)
        if split:
            data = data.split(split)
        part = data[:n]
        images.append(part.images)
        sources += [f"{spec}[{int(i)}]" for i in part.ids]
    return np.concatenate(images), sources


def load_model(spec: str, device: str):
    """A checkpoint path (``emotionkit.training.load``) or a zoo name (untrained, warned)."""
    from .._runtime import resolve_device

    dev = resolve_device(device)
    path = Path(spec)
    if path.exists():
        from ..training import load

        return load(path, device=dev)
    import torch

    from .._names import unknown_name_message
    from ..models import ModelZoo

    names = ModelZoo.list()
    if spec not in names:
        raise click.BadParameter(
            f"{unknown_name_message('model', spec, names)} (and no checkpoint file {spec!r})",
            param_hint="--model",
        )
    click.echo(
        f"Warning: {spec!r} is an untrained zoo model (random weights, seed 0); the maps show "
        "nothing learned. Pass a checkpoint for real explanations.",
        err=True,
    )
    torch.manual_seed(0)
    return ModelZoo.create(spec).to(dev).eval()


@click.command("explain")
@click.argument("inputs", nargs=-1, metavar="IMAGE_OR_DATASET...")
@click.option("--method", "-m", required=True,
              help="Explainer name (see 'emotionkit plugins --all'), e.g. saliency, "
              "guided-backprop, grad-cam, activation-max.")
@click.option("--model", "model_spec", required=True, metavar="CKPT",
              help="A checkpoint written by 'emotionkit train', or a zoo model name for a "
              "quick (untrained) demo.")
@click.option("--target", default="predicted", show_default=True,
              help="Class to explain: 'predicted', a class name (happy) or an index (3).")
@click.option("--layer", default=None,
              help="Layer name for grad-cam, guided-grad-cam, activation-max, layer-outputs "
              "('emotionkit models summary' lists them).")
@click.option("--channels", default=None, help="activation-max channels, e.g. 0-63 or 0,5,7-9.")
@click.option("--n", "n_images", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images taken from each dataset argument.")
@click.option("--split", default=None, help="Only use this split of dataset arguments.")
@click.option("--option", "-o", "settings", multiple=True, metavar="KEY=VALUE",
              help="Method option, e.g. -o steps=64 -o 'baseline=\"mean\"'. Repeatable.")
@click.option("--top-k", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.1,
              show_default=True, help="Share of pixels the masked image keeps.")
@click.option("--normalize", type=click.Choice(["percentile", "minmax", "abs-max"]),
              default="percentile", show_default=True, help="Display normalization.")
@click.option("--per", type=click.Choice(["image", "batch"]), default="image", show_default=True,
              help="Display scale: each map on its own, or one scale for all images.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="explanations",
              show_default=True, help="Folder for the PNGs, maps.npz and explanation.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def explain(
    inputs: tuple[str, ...], method: str, model_spec: str, target: str, layer: str | None,
    channels: str | None, n_images: int, split: str | None, settings: tuple[str, ...],
    top_k: float, normalize: str, per: str, out_dir: str, as_json: bool, device: str,
) -> None:
    """Explain a model's predictions for IMAGE_OR_DATASET... with one method.

    Arguments are image files (png/jpg, converted to 48x48 gray) or datasets (a FER2013 CSV,
    an .npz, an image folder, or 'synthetic'). Writes, per image, original, heatmap, overlay
    and masked PNGs to --out (activation-max: one image per channel; layer-outputs: a channel
    grid per layer), plus maps.npz (raw maps) and explanation.json.
    """
    from ..errors import UnknownExplainerError, UnknownLayerError
    from ..explain import get

    try:
        explainer = get(method)
    except UnknownExplainerError as exc:
        raise click.BadParameter(str(exc), param_hint="--method") from None
    options = _parse_options(settings)
    for flag, key, value in (("--layer", "layer", layer), ("--channels", "channels", channels)):
        if value is not None:
            if key not in explainer.defaults:
                raise click.UsageError(f"{flag} does not apply to method {method!r}")
            options[key] = value
    if "progress" in explainer.defaults:
        options.setdefault("progress", True)
    synthesizes = "channels" in explainer.defaults
    if synthesizes and inputs:
        raise click.UsageError(f"{method} synthesizes its images; it takes no IMAGE_OR_DATASET")
    if not synthesizes and not inputs:
        raise click.UsageError("give at least one IMAGE_OR_DATASET")

    model = load_model(model_spec, device)
    images, sources = (None, []) if synthesizes else load_inputs(inputs, n_images, split)
    call_target = None if synthesizes else target
    try:
        result = explainer.explain(model, images, call_target, **options)
    except UnknownLayerError as exc:
        if layer is None:
            raise
        raise click.BadParameter(str(exc), param_hint="--layer") from None
    files = result.save(out_dir, top_k=top_k, normalize=normalize, per=per)

    if as_json:
        out = {"model": model_spec, "inputs": sources, "out": str(out_dir),
               "files": [str(f) for f in files], **result.to_dict()}
        click.echo(json.dumps(out, indent=2))
        return
    if result.kind == "synthesis":
        for ch, act in zip(result.options["channels"], result.scores["activation"].tolist(),
                           strict=True):
            click.echo(f"channel {ch:4d}  mean activation {act:.4f}")
    else:
        names = result.target_names or []
        for i, source in enumerate(sources):
            line = f"{i:3d}  {source}"
            if names:
                line += f"  target={names[i]}"
            if "probability" in result.scores:
                line += (f"  p={float(result.scores['probability'][i]):.3f}"
                         f"  logit={float(result.scores['logit'][i]):.3f}")
            click.echo(line)
        error = result.extras.get("completeness_error")
        if error is not None:
            click.echo(f"completeness error (max over images): {float(error.max()):.3g}")
    click.echo(f"Wrote {len(files)} files to {out_dir}")
