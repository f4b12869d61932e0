"""``emotionkit predict``: the emotion of every face in photos, folders and videos."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import OutDir, detector_option, device_option, model_option


def _unique_png(out_dir: Path, source: str, taken: set[str]) -> Path:
    stem = Path(source).stem if not source.startswith("<") else "image"
    name, k = f"{stem}.png", 1
    while name in taken:
        k += 1
        name = f"{stem}-{k}.png"
    taken.add(name)
    return out_dir / name


@click.command("predict")
@click.argument("inputs", nargs=-1, metavar="[IMAGE|VIDEO|FOLDER]...")
@model_option()
@detector_option()
@click.option("--no-detect", is_flag=True,
              help="Classify each whole image as one face (automatic for 48x48 images).")
@click.option("--tta", type=click.Choice(["none", "flip", "tencrop"]), default="flip",
              show_default=True, help="Test-time augmentation of the classifier.")
@click.option("--min-face", type=click.FloatRange(min=12), default=20.0, show_default=True,
              help="Smallest face side, in pixels, the detector looks for.")
@click.option("--per-second", type=click.FloatRange(min=0, min_open=True), default=2.0,
              show_default=True, help="Video frames analysed per second of video.")
@click.option("--out", "out_dir", type=OutDir(), default=None,
              help="Write annotated PNGs (boxes and labels) and predictions.json here; videos "
              "get per-frame CSV/JSON and a plot of the emotions over time.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@device_option()
@click.pass_context
def predict(ctx: click.Context, inputs: tuple[str, ...], model_spec: str | None, detector: str,
            no_detect: bool, tta: str, min_face: float, per_second: float,
            out_dir: str | None, as_json: bool, device: str) -> None:
    """Recognise the emotion of every face in IMAGE, VIDEO or FOLDER arguments.

    Images may be any common format, colour or gray, any size (large photos are downscaled for
    detection; boxes are in the original's pixels). A folder means every image in it. With no
    argument, scikit-image's bundled astronaut photo is used. The model defaults to the best
    one shipped with emotionkit; faces are found by MTCNN (weights in the package), cut out with
    FER2013's framing and classified with flip test-time augmentation.

    Exit status: 0 when every input was read (finding no face is not an error), 1 when any
    input failed (each failure is one line naming the file; the other inputs are still
    predicted), 2 on a usage error.
    """
    from ..inference import Predictor, annotate, describe_model, save_png
    from ..inference.video import is_video, predict_video, write_video_outputs

    if out_dir is not None:
        try:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(f"cannot create folder {out_dir}: "
                                     f"{exc.strerror or exc}", param_hint="--out") from None
    if not inputs:
        from skimage import data_dir

        inputs = (str(Path(data_dir) / "astronaut.png"),)
    predictor = Predictor(model_spec, detector=detector, detect=False if no_detect else "auto",
                          tta=tta, device=device, min_face=min_face)
    videos = [s for s in inputs if is_video(s)]
    images = [s for s in inputs if not is_video(s)]
    results = predictor.predict(images, progress=not as_json) if images else []
    video_results = [predict_video(predictor, v, per_second=per_second) for v in videos]

    written: list[Path] = []
    if out_dir is not None:
        out = Path(out_dir)
        taken: set[str] = set()
        for r in results:
            if r.photo is None:
                continue
            photo = r.photo
            written.append(save_png(_unique_png(out, r.path, taken),
                                    annotate(photo.rgb, r.faces, scale=photo.scale)))
        for v in video_results:
            if v["frames"]:
                written += write_video_outputs(v, out, predictor.class_names)
        from .._io import atomic_write_json

        atomic_write_json(out / "predictions.json",
                          [r.to_dict() for r in results] + video_results)
        written.append(out / "predictions.json")

    failed = [r.error for r in results if r.error] + [v["error"] for v in video_results
                                                       if v.get("error")]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results] + video_results, indent=2))
    else:
        click.echo(f"model: {describe_model(predictor.model)}; detector: "
                   f"{'none' if no_detect else detector}; tta: {tta}")
        for r in results:
            if r.error:
                continue
            if not r.faces:
                click.echo(f"{r.path}: {'; '.join(r.notes) or 'no face found'}")
            for k, face in enumerate(r.faces, 1):
                ranked = sorted(face.probabilities.items(), key=lambda kv: -kv[1])
                others = ", ".join(f"{n} {p:.2f}" for n, p in ranked[1:3])
                x, y, w, h = (round(v) for v in face.box)
                click.echo(f"{r.path}: face {k} at x={x} y={y} w={w} h={h}: "
                           f"{face.emotion} {ranked[0][1]:.2f} ({others})")
        for v in video_results:
            n_faces = sum(bool(fr["faces"]) for fr in v["frames"])
            click.echo(f"{v['path']}: {len(v['frames'])} frames analysed, a face in {n_faces}")
        if written:
            click.echo(f"Wrote {len(written)} files to {out_dir}")
    for line in failed:
        click.echo(f"Error: {line}", err=True)
    if failed:
        ctx.exit(1)
