"""``promptproc config``: show the effective settings, or document them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..settings import EffectiveSetting, load_settings, markdown_table, render_readme

__all__ = ["config", "format_text"]

_UNSET = "(unset)"


@click.command("config", short_help="Show the effective settings, or document them (--markdown).")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as one JSON object.")
@click.option(
    "--markdown",
    is_flag=True,
    help="Print the README configuration table (every setting, its type, default and description) "
    "instead of the current values; reads no settings.",
)
@click.option(
    "--check",
    is_flag=True,
    help="After printing, check that everything the service needs on its PLATFORM is set; "
    "exit 1 naming what is missing.",
)
@click.option(
    "--update-readme",
    type=click.Path(exists=True, dir_okay=False, writable=True, path_type=Path),
    help="Rewrite the configuration table between the CONFIG TABLE markers of this README file.",
)
def config(as_json: bool, markdown: bool, check: bool, update_readme: Path | None) -> None:
    """Print the effective settings: name, where the value came from, value.

    Every setting is an environment variable, read once at start-up;
    secrets are shown as ********** when set.
    """
    if sum((as_json, markdown, update_readme is not None)) > 1:
        raise click.UsageError("choose one of --json, --markdown and --update-readme")
    if check and (markdown or update_readme is not None):
        raise click.UsageError("--check applies to the settings, not to --markdown or --update-readme")
    if markdown:
        click.echo(markdown_table(), nl=False)
        return
    if update_readme is not None:
        text = update_readme.read_text(encoding="utf-8")
        updated = render_readme(text)
        if updated != text:
            update_readme.write_text(updated, encoding="utf-8")
        click.echo(f"{update_readme}: configuration table {'updated' if updated != text else 'up to date'}")
        return
    settings = load_settings()
    effective = settings.effective()
    if as_json:
        click.echo(json.dumps(_as_json(effective), indent=2, ensure_ascii=False))
    else:
        click.echo(format_text(effective), nl=False)
    if check:
        settings.require_service()


def format_text(settings: list[EffectiveSetting]) -> str:
    """Lay out settings as aligned ``NAME  SOURCE  VALUE`` lines, by section.

    Parameters
    ----------
    settings : `list` [`EffectiveSetting`]
        What `promptproc.settings.Settings.effective` returns.

    Returns
    -------
    text : `str`
        One line per setting under a ``# section`` line; the continuation
        lines of a multi-line value are indented under the value column.
    """
    width = max((len(item.name) for item in settings), default=0)
    source_width = max((len(item.source) for item in settings), default=0)
    indent = " " * (width + source_width + 4)
    lines: list[str] = []
    section = None
    for item in settings:
        if item.section != section:
            section = item.section
            lines += ["", f"# {section}"] if lines else [f"# {section}"]
        first, *rest = _display(item.value).splitlines() or [""]
        lines.append(f"{item.name:<{width}}  {item.source:<{source_width}}  {first}")
        lines += [indent + line for line in rest]
    return "\n".join(lines) + "\n"


def _display(value: Any) -> str:
    if value is None:
        return _UNSET
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value == "":
        return '""'
    return str(value)


def _as_json(settings: list[EffectiveSetting]) -> dict[str, dict[str, Any]]:
    return {
        item.name: {
            "value": item.value,
            "source": item.source,
            "section": item.section,
            "secret": item.secret,
        }
        for item in settings
    }
