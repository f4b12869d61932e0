"""``emotionkit plugins``: list explainer plugins, their versions, explainers and errors."""

from __future__ import annotations

import json
import warnings

import click


def load_plugins_showing_warnings() -> None:
    """Load the explainer plugins; plugin warnings become ``Warning: ...`` lines on stderr.

    The commands that look up explainers call this first, so a shadowed explainer (a plugin
    registering a built-in's name) is reported in one line instead of Python's warning format.
    """
    from ..explain.plugins import PluginWarning, load_plugins

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        load_plugins()
    for w in caught:
        if issubclass(w.category, PluginWarning):
            click.echo(f"Warning: {w.message}", err=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _label(row: dict) -> str:
    version = f" {row['version']}" if row["version"] else ""
    return f"{row['name']} ({row['package']}{version})" if row["package"] else row["name"]


def _filter_note(names: list[str] | None, skipped: list[dict]) -> str | None:
    """What EMOTIONKIT_LOAD_PLUGINS did, or ``None`` when it is unset."""
    from ..explain.plugins import ENV_VAR

    if names is None:
        return None
    if names:
        note = f"{ENV_VAR}={','.join(names)} loads only the plugins named there."
    else:
        note = (f"Third-party plugins are disabled: {ENV_VAR} is set to an empty value "
                "(unset it to load every installed plugin).")
    if skipped:
        note += " Installed but not loaded: " + ", ".join(_label(r) for r in skipped) + "."
    return note


@click.command("plugins")
@click.option("--all", "include_all", is_flag=True,
              help="Also list emotionkit's own plugin with the built-in explainers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def plugins(include_all: bool, as_json: bool) -> None:
    """List installed explainer plugins (entry-point group 'emotionkit').

    A plugin that failed to load is listed with its error; it never stops the others. A plugin
    explainer with a built-in's name is listed as shadowed: the built-in keeps the name.
    EMOTIONKIT_LOAD_PLUGINS=a,b loads only the named plugins (set but empty: none).
    """
    from ..explain import get, plugins_info
    from ..explain.plugins import loading_filter, skipped_plugins

    load_plugins_showing_warnings()
    rows = plugins_info(include_builtin=include_all)
    for row in rows:
        details = []
        for name in row["explainers"]:
            try:
                details.append(get(name).describe())
            except Exception as exc:  # e.g. a name claimed by two plugins
                details.append({"name": name, "description": f"unavailable: {exc}"})
        for name in row["shadowed"]:
            details.append({"name": name, "description": "SHADOWED: the built-in explainer of "
                            "this name is used; this one is ignored", "shadowed": True})
        row["details"] = details
    note = _filter_note(loading_filter(), skipped_plugins())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        if note:
            click.echo(note, err=True)
        return
    if not rows:
        if note:
            click.echo(note)
            return
        click.echo("No explainer plugins installed (use --all to list the built-in explainers).")
        return
    for row in rows:
        status = f"  ERROR: {row['error']}" if row["error"] else ""
        click.echo(f"{_label(row)}{status}")
        for detail in row["details"]:
            click.echo(f"  {detail['name']:<22} {detail['description']}")
    if note:
        click.echo(note)
