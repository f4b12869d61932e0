"""``emotionkit models``: list the zoo, describe a model, print its Keras-style summary."""

from __future__ import annotations

import json

import click

from ._common import parse_key_values


@click.group()
def models() -> None:
    """List, describe and summarise the models of the zoo."""


@models.command("list")
@click.option("--pattern", default=None, help="Shell-style name filter, e.g. 'hw1*' or '*-cnn'.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_models(pattern: str | None, as_json: bool) -> None:
    """List the registered models with their parameter counts (Keras counting).

    WEIGHTS says which models ship FER2013 weights (``ModelZoo.create(name, pretrained=True)``)
    and their PublicTest accuracy with ten-crop TTA.
    """
    from ..models import ModelZoo
    from ..models import pretrained as shipped

    rows = []
    for name in ModelZoo.list(pattern):
        info = ModelZoo.info(name)
        row = {k: info[k] for k in ("name", "params", "trainable_params", "family",
                                    "origin", "description", "pretrained")}
        if row["pretrained"]:
            row["publictest_tencrop"] = shipped.metadata(name)["accuracy"]["publictest_tencrop"]
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No model matches {pattern!r}.")
        return
    table = [("NAME", "PARAMS", "WEIGHTS", "ORIGIN", "DESCRIPTION")] + [
        (r["name"], f"{r['params']:,}",
         f"yes ({r['publictest_tencrop']:.3f})" if r["pretrained"] else "-", r["origin"],
         r["description"]) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        click.echo(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  "
                   f"{row[3]:<{widths[3]}}  {row[4]}")


@models.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(name: str, as_json: bool) -> None:
    """Describe model NAME: origin, parameters, options, default training recipe and, for a
    model with shipped weights, how they were trained and how accurate they are."""
    from ..models import ModelZoo
    from ..models import pretrained as shipped

    data = ModelZoo.info(name)
    if data["pretrained"]:
        data["weights"] = shipped.metadata(name)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{data['name']}: {data['description']}")
    click.echo(f"  origin:      {data['origin']}")
    click.echo(f"  family:      {data['family']}" + (f" ({', '.join(data['tags'])})"
                                                      if data["tags"] else ""))
    click.echo(f"  input:       {tuple(data['input_size'])} -> {data['num_classes']} logits")
    click.echo(f"  parameters:  {data['params']:,} ({data['trainable_params']:,} trainable, "
               f"{data['non_trainable_params']:,} non-trainable)")
    if data["reported_params"]:
        click.echo(f"  reported:    {data['reported_params']['total']:,} in the source report")
    if data["regularization"]:
        reg = ", ".join(f"{k}={v:g}" for k, v in data["regularization"].items())
        click.echo(f"  regularize:  {reg}")
    options = ", ".join(f"{k}={json.dumps(v)}" for k, v in data["config"].items())
    click.echo(f"  options:     {options}")
    click.echo("  recipe:      " + ", ".join(f"{k}={v}" for k, v in data["recipe"].items()))
    weights = data.get("weights")
    if not weights:
        click.echo("  weights:     none shipped (train with 'emotionkit train')")
        return
    acc, tr = weights["accuracy"], weights["training"]
    click.echo(f"  weights:     {weights['file']} ({weights['file_bytes']:,} bytes, "
               f"{weights['dtype']}, sha256 {weights['sha256'][:16]}...)")
    click.echo(f"  PublicTest:  {acc['publictest']:.4f} (no TTA), {acc['publictest_flip']:.4f} "
               f"(flip), {acc['publictest_tencrop']:.4f} (ten-crop)")
    click.echo(f"  classes:     {', '.join(weights['class_names'])}")
    for step in tr.get("started_from") or []:  # fine-tuned: the runs it started from
        click.echo(f"  started as:  {step['command']} ({step['wall_seconds'] / 60:.1f} min)")
        if step.get("post_processing"):
            click.echo(f"  then:        {step['post_processing']['method']}")
    click.echo(f"  trained:     {tr['command']}")
    click.echo(f"               seed {tr['seed']}, {tr['epochs_run']} epochs (best "
               f"{tr['best_epoch']}), {tr['wall_seconds'] / 60:.1f} min; emotionkit "
               f"{weights['emotionkit']}")
    if tr.get("post_processing"):
        click.echo(f"  then:        {tr['post_processing']['method']}")
    if tr.get("total_wall_seconds"):
        click.echo(f"  in all:      {tr['total_wall_seconds'] / 60:.1f} min of training")
    click.echo(f"  hardware:    {tr['hardware']}")
    click.echo(f"  data:        FER2013 {weights['dataset']['train_split']} "
               f"({weights['dataset']['n_train']} images); selected and reported on "
               f"{weights['dataset']['selected_on']}")


@models.command()
@click.argument("name")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Model option, e.g. --set width=0.5 --set 'blocks=[1,1,1,1]'. Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
def summary(name: str, settings: tuple[str, ...], as_json: bool) -> None:
    """Keras-style table of model NAME: layer names (usable as explainer layers), output shapes,
    parameters (BatchNorm running statistics as non-trainable) and multiply-accumulates."""
    from ..models import ModelZoo
    from ..models import summary as summarize

    model = ModelZoo.create(name, **parse_key_values(settings, "--set"))
    result = summarize(model)
    if as_json:
        out = result.to_dict()
        out["config"] = model.emotionkit_config
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(result.to_text())
