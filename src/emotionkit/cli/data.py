"""``emotionkit data``: inspect, audit, convert and show datasets."""

from __future__ import annotations

import json

import click


@click.group()
def data() -> None:
    """Inspect, audit, convert and show datasets."""


@data.command()
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(path: str, as_json: bool) -> None:
    """Counts per split and class, and pixel statistics, of PATH."""
    from ..data import Dataset

    ds = Dataset.load(path)
    desc = ds.describe()
    if as_json:
        click.echo(json.dumps(desc, indent=2))
        return
    click.echo(f"{desc['source']}: {desc['images']} images")
    for split, part in desc["splits"].items():
        classes = ", ".join(f"{k}={v}" for k, v in part["classes"].items())
        click.echo(f"  {split}: {part['images']}  {classes}")
