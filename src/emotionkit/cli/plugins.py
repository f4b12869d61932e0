"""``emotionkit plugins``: list explainer plugins, their versions, explainers and errors."""

from __future__ import annotations

import json

import click


@click.command("plugins")
@click.option("--all", "include_all", is_flag=True,
              help="Also list emotionkit's own plugin with the built-in explainers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def plugins(include_all: bool, as_json: bool) -> None:
    """List installed explainer plugins (entry-point group 'emotionkit').

    A plugin that failed to load is listed with its error; it never stops the others.
    EMOTIONKIT_LOAD_PLUGINS=a,b loads only the named plugins (empty: none).
    """
    from ..explain import get, plugins_info

    rows = plugins_info(include_builtin=include_all)
    for row in rows:
        details = []
        for name in row["explainers"]:
            try:
                details.append(get(name).describe())
            except Exception as exc:  # e.g. a name claimed by two plugins
                details.append({"name": name, "description": f"unavailable: {exc}"})
        row["details"] = details
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No explainer plugins installed (use --all to list the built-in explainers).")
        return
    for row in rows:
        version = f" {row['version']}" if row["version"] else ""
        package = f" ({row['package']}{version})" if row["package"] else ""
        status = f"  ERROR: {row['error']}" if row["error"] else ""
        click.echo(f"{row['name']}{package}{status}")
        for detail in row["details"]:
            click.echo(f"  {detail['name']:<22} {detail['description']}")
