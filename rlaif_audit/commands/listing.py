"""`rlaif-audit plugins`, `evaluators` and `auditors`: what is installed, as text or JSON."""

from __future__ import annotations

import json
from typing import Any

import click

from rlaif_audit import hookimpl


def _manager() -> Any:
    from rlaif_audit.host import get_plugin_manager

    return get_plugin_manager()


def _option_rows(cls: Any) -> list[dict[str, Any]]:
    return [{"name": key, "default": opt.default, "help": opt.help} for key, opt in sorted(cls.options.items())]


@click.command(name="plugins")
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
def plugins_command(show_all: bool) -> None:
    """List installed plugins as JSON (name, version, hooks)."""
    from rlaif_audit.host import plugin_table

    click.echo(json.dumps(plugin_table(_manager(), include_builtin=show_all), indent=2))


@click.command(name="evaluators")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def evaluators_command(as_json: bool) -> None:
    """List AI evaluators with their descriptions and options."""
    from rlaif_audit.host import evaluators

    registry = evaluators(_manager())
    rows = [
        {"name": r.name, "plugin": r.plugin, "description": r.cls.description, "options": _option_rows(r.cls)}
        for r in (registry.items[name] for name in registry.names())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        click.echo(f"{row['name']}: {row['description']}")
        for opt in row["options"]:
            click.echo(f"    -O {opt['name']}=...  {opt['help']} (default: {opt['default']})")


@click.command(name="auditors")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def auditors_command(as_json: bool) -> None:
    """List auditors with their descriptions and what data they need."""
    from rlaif_audit.host import auditors

    registry = auditors(_manager())
    rows = [
        {"name": r.name, "plugin": r.plugin, "description": r.cls.description, "requires": list(r.cls.requires),
         "run_only": "run" in r.cls.requires}
        for r in (registry.items[name] for name in registry.names())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        needs = [need for need in row["requires"] if need != "run"]
        mark = " [run-only: needs `rlaif-audit run`]" if row["run_only"] else ""
        shown_needs = f" (needs: {', '.join(needs)})" if needs else ""
        click.echo(f"{row['name']}{mark}: {row['description']}{shown_needs}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add the listing commands."""
    for command in (plugins_command, evaluators_command, auditors_command):
        cli.add_command(command)
