"""``emotionkit explain``: run any registered explainer on images or a dataset and write PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ._common import load_model_arg, parse_key_values
from .options import OutDir, detector_option, device_option, model_option


def read_face_image(path: str | Path) -> Any:
    """An image file as one uint8 48x48 gray face, read exactly as the data package reads the
    images of an image-folder dataset (``skimage.io.imread`` and
    :func:`emotionkit.data.folder_reader.to_gray48`), so a file gives the same pixels here as
    in ``Dataset.load(folder)``.

    Raises:
        DataFormatError: The file cannot be decoded, naming it.
    """
    import warnings

    from skimage import io as skio

    from ..data.folder_reader import to_gray48
    from ..errors import DataFormatError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = skio.imread(path)
        return to_gray48(raw)[0]
    except Exception as exc:  # any decoder failure is the file's fault, as in read_folder
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataFormatError(f"{path}: unreadable image ({reason[:120]})") from None


def load_inputs(inputs: tuple[str, ...], n: int, split: str | None, detector: str = "mtcnn",
                device: Any = "cpu"):
    """Turn IMAGE_OR_DATASET arguments into one uint8 batch (M, 48, 48), labels and placements.

    An image file of 48x48 is one face; a larger photo goes through face detection and each
    face is cut out with FER2013's framing (a photo without a detected face is used whole, with
    a warning). An image used whole is read as image-folder datasets read it
    (:func:`read_face_image`). ``placements[i] = (photo_rgb, transform)`` for images cut out of
    photos, so the map can be drawn back over the photo.
    """
    import numpy as np

    from ..data import Dataset
    from ..faces import align_face, face_transform, get_detector
    from ..inference.images import IMAGE_SUFFIXES, InputError, read_photo

    images, sources, placements = [], [], {}
    for spec in inputs:
        path = Path(spec)
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            try:
                photo = read_photo(path)
            except InputError as exc:
                from ..errors import DataFormatError

                raise DataFormatError(str(exc)) from None
            h, w = photo.rgb.shape[:2]
            faces = [] if (w, h) == (48, 48) else get_detector(detector, device).detect(photo.rgb)
            if not faces:
                if (w, h) != (48, 48):
                    click.echo(f"Warning: {path}: no face found; using the whole image", err=True)
                images.append(read_face_image(path)[None])
                sources.append(str(path))
                continue
            for k, face in enumerate(sorted(faces, key=lambda d: -d.box[2] * d.box[3])):
                placements[len(sources)] = (photo.rgb, face_transform(face.box, face.landmarks,
                                                                      detector))
                images.append(align_face(photo.rgb, face.box, face.landmarks, detector)[None])
                sources.append(f"{path}#face{k + 1}" if len(faces) > 1 else str(path))
            continue
        data = Dataset.load(spec)
        if split:
            data = data.split(split)
        part = data[:n]
        images.append(part.images)
        sources += [f"{spec}[{int(i)}]" for i in part.ids]
    return np.concatenate(images), sources, placements


def _photo_overlays(result: Any, placements: dict, out_dir: str, normalize: str,
                    per: str) -> list[Path]:
    """Write ``{i:03d}-photo.png``: the map drawn over the face in the original photo."""
    from ..explain import display
    from ..inference.drawing import overlay_on_photo, save_png

    if not placements or result.kind not in ("attribution",):
        return []
    signed = result.is_signed()
    maps = display.to_image_size(result.maps.float(), tuple(result.images.shape[-2:]))
    norm = display.normalize_maps(maps.sum(dim=1, keepdim=True), normalize, per, signed=signed)
    written = []
    for i, (rgb, tform) in placements.items():
        path = Path(out_dir) / f"{i:03d}-photo.png"
        written.append(save_png(path, overlay_on_photo(rgb, norm[i, 0].numpy(), tform, signed)))
    return written


@click.command("explain")
@click.argument("inputs", nargs=-1, metavar="IMAGE_OR_DATASET...")
@click.option("--method", "-m", required=True,
              help="Explainer name (see 'emotionkit plugins --all'), e.g. saliency, "
              "guided-backprop, grad-cam, activation-max.")
@model_option(" A zoo name without weights gives an untrained model (demos only).")
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
              help="Method option, e.g. -o steps=64 -o 'baseline=\"mean\"' (values are JSON "
              "when they parse, else text; METHOD.KEY=VALUE as in explain-check also works). "
              "Repeatable.")
@click.option("--top-k", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.1,
              show_default=True, help="Share of pixels the masked image keeps.")
@click.option("--normalize", type=click.Choice(["percentile", "minmax", "abs-max"]),
              default="percentile", show_default=True, help="Display normalization.")
@click.option("--per", type=click.Choice(["image", "batch"]), default="image", show_default=True,
              help="Display scale: each map on its own, or one scale for all images.")
@click.option("--out", "out_dir", type=OutDir(), default="explanations",
              show_default=True, help="Folder for the PNGs, maps.npz and explanation.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@detector_option()
@device_option()
def explain(
    inputs: tuple[str, ...], method: str, model_spec: str | None, target: str,
    layer: str | None, channels: str | None, n_images: int, split: str | None,
    settings: tuple[str, ...], top_k: float, normalize: str, per: str, out_dir: str,
    as_json: bool, detector: str, device: str,
) -> None:
    """Explain a model's predictions for IMAGE_OR_DATASET... with one method.

    Arguments are image files or datasets (a FER2013 CSV, an .npz, an image folder, or
    'synthetic'). A 48x48 image is taken as a face; in a larger photo the faces are detected
    and cut out with FER2013's framing, and each map is also drawn over the face in the photo
    ({i}-photo.png). With no argument, scikit-image's bundled astronaut photo is used. Without
    --model, the best model shipped with emotionkit is explained. Writes, per image, original,
    heatmap, overlay and masked PNGs to --out (activation-max: one image per channel;
    layer-outputs: a channel grid per layer), plus maps.npz (raw maps) and explanation.json.

    Example: emotionkit explain --method guided-backprop
    """
    from ..errors import UnknownExplainerError, UnknownLayerError
    from ..explain import get
    from .plugins import load_plugins_showing_warnings

    load_plugins_showing_warnings()
    try:
        explainer = get(method)
    except UnknownExplainerError as exc:
        raise click.BadParameter(str(exc), param_hint="--method") from None
    options = {}
    for key, value in parse_key_values(settings, "--option", prefixed=True).items():
        prefix, dot, name = key.rpartition(".")
        if dot and prefix not in (method, getattr(explainer, "name", method)):
            raise click.BadParameter(f"{key!r}: this command explains with method {method!r} "
                                     "only", param_hint="'--option'")
        options[name] = value
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
        from skimage import data_dir

        inputs = (str(Path(data_dir) / "astronaut.png"),)

    model, model_label = load_model_arg(model_spec, device)
    images, sources, placements = ((None, [], {}) if synthesizes else
                                   load_inputs(inputs, n_images, split, detector, device))
    call_target = None if synthesizes else target
    try:
        result = explainer.explain(model, images, call_target, **options)
    except UnknownLayerError as exc:
        if layer is None:
            raise
        raise click.BadParameter(str(exc), param_hint="--layer") from None
    files = result.save(out_dir, top_k=top_k, normalize=normalize, per=per)
    files += _photo_overlays(result, placements, out_dir, normalize, per)

    if as_json:
        out = {"model": model_label, "inputs": sources, "out": str(out_dir),
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
    if not as_json and model_spec is None:
        click.echo(f"model: {model_label}", err=True)
    click.echo(f"Wrote {len(files)} files to {out_dir}")
