"""``emotionkit data``: inspect, audit, convert and show datasets."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from typing import Any

import click


def _on_error_option(f: Any) -> Any:
    return click.option(
        "--on-error",
        type=click.Choice(["raise", "skip"]),
        default="raise",
        show_default=True,
        help="On a bad row: stop with an error naming file, line and value, or skip it "
        "(a warning counts the skipped rows).",
    )(f)


def _cache_option(f: Any) -> Any:
    return click.option(
        "--no-cache", is_flag=True, help="Parse the source again instead of using the data cache."
    )(f)


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show data warnings as ``Warning: ...`` lines on stderr instead of Python's format."""
    from ..data.problems import DataWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, DataWarning):
                    click.echo(f"Warning: {w.message}", err=True)
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _load(path: str, on_error: str = "raise", no_cache: bool = False) -> Any:
    from ..data import Dataset

    with _warnings_as_lines():
        return Dataset.load(path, on_error=on_error, cache=not no_cache, progress=True)


@click.group()
def data() -> None:
    """Inspect, audit, convert and show datasets.

    PATH arguments accept a FER2013/course CSV (.csv or .csv.gz), an emotionkit .npz, an image
    folder ROOT/<split>/<class>/*.png, or synthetic / synthetic:N.
    """


# ------------------------------------------------------------------------------------ info
def format_info(desc: dict[str, Any]) -> str:
    """Render :meth:`Dataset.describe` output as an aligned text table.

    Args:
        desc: The describe() dict.

    Returns:
        Multi-line text.
    """
    labeled = desc["labeled"]
    classes = desc["class_names"] if labeled else []
    header = ["split", "images", *desc["display_names"][: len(classes)], "mean", "std"]
    rows = []
    for split, part in desc["splits"].items():
        rows.append([split, part["images"], *(part["classes"].get(c, 0) for c in classes),
                     _fmt(part["pixel_mean"]), _fmt(part["pixel_std"])])
    rows.append(["total", desc["images"], *(desc["classes"].get(c, 0) for c in classes),
                 _fmt(desc["pixel_mean"]), _fmt(desc["pixel_std"])])
    cells = [header] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [f"{desc['source']}: {desc['images']} images, "
             f"{'labeled' if labeled else 'unlabeled'}"]
    for k, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if k == 0 or k == len(cells) - 2:
            lines.append("  ".join("-" * w for w in widths))
    if desc["images"]:
        lines.append(
            f"pixels (0..255): mean {desc['pixel_mean']:.2f}, std {desc['pixel_std']:.2f}, "
            f"min {desc['pixel_min']}, max {desc['pixel_max']}; on [0, 1]: mean "
            f"{desc['pixel_mean'] / 255:.4f}, std {desc['pixel_std'] / 255:.4f}"
        )
    if desc.get("skipped"):
        lines.append(f"skipped while reading: {desc['skipped']} row(s)")
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


@data.command()
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_on_error_option
@_cache_option
def info(path: str, as_json: bool, on_error: str, no_cache: bool) -> None:
    """Counts per split and class, and pixel statistics, of PATH."""
    ds = _load(path, on_error, no_cache)
    desc = ds.describe()
    if as_json:
        desc["skipped_rows"] = ds.skipped
        click.echo(json.dumps(desc, indent=2))
    else:
        click.echo(format_info(desc))


# ------------------------------------------------------------------------------------ audit
def format_audit(summary: dict[str, Any], blank_ids: list[Any]) -> str:
    """Render an audit summary as aligned text.

    Args:
        summary: ``AuditReport.summary()``.
        blank_ids: Ids of the blank images (first ten are shown).

    Returns:
        Multi-line text.
    """
    rows = [("blank images", summary["blank_images"]),
            ("duplicate groups", summary["duplicate_groups"]),
            ("  redundant copies", summary["duplicate_copies"])]
    rows += [(f"  groups within {s}", n) for s, n in summary["groups_within_split"].items()]
    rows += [(f"  groups across {s}", n) for s, n in summary["groups_across_splits"].items()]
    rows += [("conflicting-label groups", summary["conflicting_label_groups"]),
             ("  of them across splits", summary["conflicting_label_groups_across_splits"])]
    width = max(len(r[0]) for r in rows)
    num = max(len(str(r[1])) for r in rows)
    lines = [f"{summary['source']}: {summary['images']} images"]
    lines += [f"  {name.ljust(width)}  {str(v).rjust(num)}" for name, v in rows]
    if blank_ids:
        more = f", ... ({len(blank_ids)} in all)" if len(blank_ids) > 10 else ""
        lines.append(f"  blank image ids: {', '.join(str(i) for i in blank_ids[:10])}{more}")
    return "\n".join(lines)


@data.command()
@click.argument("path")
@click.option("--json", "as_json", is_flag=True,
              help="Print the full report (every blank index and duplicate group) as JSON.")
@click.option("--blank-std", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Largest pixel std (0..255) counted as blank; 0 means exactly constant.")
@_on_error_option
@_cache_option
def audit(path: str, as_json: bool, blank_std: float, on_error: str, no_cache: bool) -> None:
    """Find blank images, exact duplicates (within and across splits) and conflicting labels."""
    ds = _load(path, on_error, no_cache)
    report = ds.audit(blank_std=blank_std)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(format_audit(report.summary(), report.blank_ids))


# ------------------------------------------------------------------------------------ convert
@data.command()
@click.argument("src", metavar="IN")
@click.argument("out", metavar="OUT")
@click.option("--format", "fmt", type=click.Choice(["npz", "csv", "csv.gz", "folder"]),
              default=None, help="Output format (default: from OUT's name; no known extension "
              "means an image folder).")
@_on_error_option
@_cache_option
def convert(src: str, out: str, fmt: str | None, on_error: str, no_cache: bool) -> None:
    """Convert IN to OUT: emotionkit .npz, FER2013 CSV (.csv/.csv.gz) or an image folder.

    The output is written atomically; an existing folder must be empty.
    """
    from ..data.writers import format_for, write_any

    fmt = format_for(out, fmt)  # fail on a bad name before reading anything
    ds = _load(src, on_error, no_cache)
    written = write_any(ds, out, fmt, progress=True)
    click.echo(f"wrote {len(ds)} images to {out} ({written})")


# ------------------------------------------------------------------------------------ show
@data.command()
@click.argument("path")
@click.option("--n", "n", type=click.IntRange(min=1), default=49, show_default=True,
              help="Number of images (spread over one row per class).")
@click.option("--out", type=click.Path(dir_okay=False), default="sheet.png", show_default=True,
              help="PNG file to write.")
@click.option("--split", default=None, help="Only images of this split (e.g. Training).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random choice.")
@_on_error_option
@_cache_option
def show(path: str, n: int, out: str, split: str | None, seed: int, on_error: str,
         no_cache: bool) -> None:
    """Write a contact sheet of PATH: one row per class, class names as row labels."""
    from ..data.sheet import save_contact_sheet

    ds = _load(path, on_error, no_cache)
    if split is not None:
        ds = ds.split(split)
    save_contact_sheet(ds, out, n=n, seed=seed)
    click.echo(f"wrote {out}")
