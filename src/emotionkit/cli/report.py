"""``emotionkit report``: the whole FER study in one command, as one HTML page."""

from __future__ import annotations

import json

import click

from ._common import parse_key_values
from .options import device_option


@click.command()
@click.option("--data", "data_path", default="synthetic", show_default=True,
              help="Dataset: a FER2013 CSV, folder, .npz or synthetic[:N].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="report",
              show_default=True, help="Output folder (report.html, report.json, figures/).")
@click.option("--cnn", default="compact", show_default=True,
              help="Zoo model to train as the CNN (see `emotionkit models list`).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Option of the CNN, repeatable (e.g. --set width=0.5).")
@click.option("--model", "model_spec", default=None, metavar="CKPT|NAME",
              help="Report on this model instead of training the CNN (a checkpoint, or a "
              "shipped model's name).")
@click.option("--budget", type=click.Choice(["quick", "standard", "full"]), default="quick",
              show_default=True, help="How much training and explaining: quick takes minutes "
              "on 2 CPU cores on the synthetic set; full trains the CNN's whole recipe.")
@device_option()
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of everything random (same seed, same numbers on the CPU).")
@click.option("--progress/--no-progress", default=None,
              help="Force the progress bar on/off [on when stderr is a terminal].")
@click.option("--json", "as_json", is_flag=True, help="Print report.json's summary as JSON.")
def report(data_path: str, out_dir: str, cnn: str, settings: tuple[str, ...],
           model_spec: str | None, budget: str,
           device: str, seed: int, progress: bool | None, as_json: bool) -> None:
    """Run the FER study and write one self-contained HTML page (figures embedded).

    Stages: the CNN (summary, curves, accuracy with and without TTA), a parameter-matched
    DNN, normalization/augmentation ablations, the normalized confusion matrix with the
    most-confused pairs and mistakes, saliency / guided-backprop / Grad-CAM maps, activation
    maximization and feature maps, sanity checks and faithfulness, and the math of the CNN.
    A stage that fails is reported in the page; the exit status is then 1.
    """
    import sys
    from pathlib import Path

    from ..data import Dataset
    from ..models import ModelZoo
    from ..report import REPORT_HTML, build_report, get_budget, work_units

    ModelZoo.get_info(cnn)  # an unknown name fails before any work
    cnn_config = parse_key_values(settings, "--set")
    dataset = Dataset.load(data_path)
    show = progress if progress is not None else sys.stderr.isatty()
    from tqdm.auto import tqdm

    total = work_units(get_budget(budget), cnn, trained=model_spec is None)
    bar = tqdm(total=total, disable=not show, unit="step", file=sys.stderr,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def advance(stage: str, units: float) -> None:
        bar.set_description_str(stage)
        if units:
            bar.update(units)

    try:
        result = build_report(dataset, out_dir, budget=budget, cnn=cnn,
                              cnn_config=cnn_config, model=model_spec,
                              device=device, seed=seed, progress=advance)
    finally:
        bar.close()
    page = Path(out_dir) / REPORT_HTML
    summary = {"html": str(page), "json": str(Path(out_dir) / "report.json"),
               "seconds": result["seconds"], "failed": result["failed"],
               "stages": {k: s["status"] for k, s in result["sections"].items()}}
    cnn_section = result["sections"].get("cnn", {})
    if cnn_section.get("status") == "ok":
        summary["accuracy"] = cnn_section["accuracy"]
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        for section in result["sections"].values():
            line = f"  {section['title']}: {section['status']} ({section['stage_seconds']:.1f} s)"
            if section["status"] == "failed":
                line += f" - {section['error']}"
            click.echo(line, err=True)
        click.echo(f"Wrote {page} in {result['seconds']:.0f} s")
    if result["failed"]:
        raise click.ClickException(f"{len(result['failed'])} stage(s) failed: "
                                   f"{', '.join(result['failed'])} (see {page})")
