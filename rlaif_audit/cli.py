"""The ``rlaif-audit`` command line: a click group whose commands come from plugins."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from rlaif_audit import __version__
from rlaif_audit.errors import PluginError, RlaifAuditError


class UserError(click.ClickException):
    """An error caused by the user's input: message on stderr, exit code 2, no traceback."""

    exit_code = 2


class AuditGroup(click.Group):
    """A click group that turns rlaif-audit's own errors into clear messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RlaifAuditError as exc:
            raise UserError(str(exc)) from exc


def _manager() -> Any:
    from rlaif_audit.plugins import get_plugin_manager

    return get_plugin_manager()


def _option_rows(cls: Any) -> list[dict[str, Any]]:
    return [{"name": key, "default": opt.default, "help": opt.help} for key, opt in sorted(cls.options.items())]


@click.group(cls=AuditGroup)
@click.version_option(__version__, prog_name="rlaif-audit")
def cli() -> None:
    """Run the RLAIF loop and audit the AI evaluator that drives it."""


@cli.command(name="plugins")
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
def plugins_command(show_all: bool) -> None:
    """List installed plugins as JSON (name, version, hooks)."""
    from rlaif_audit.plugins import plugin_table

    click.echo(json.dumps(plugin_table(_manager(), include_builtin=show_all), indent=2))


@cli.command(name="evaluators")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def evaluators_command(as_json: bool) -> None:
    """List AI evaluators with their descriptions and options."""
    from rlaif_audit.plugins import evaluators

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


@cli.command(name="auditors")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def auditors_command(as_json: bool) -> None:
    """List auditors with their descriptions and what data they need."""
    from rlaif_audit.plugins import auditors

    registry = auditors(_manager())
    rows = [
        {"name": r.name, "plugin": r.plugin, "description": r.cls.description, "requires": list(r.cls.requires)}
        for r in (registry.items[name] for name in registry.names())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        needs = f" (needs: {', '.join(row['requires'])})" if row["requires"] else ""
        click.echo(f"{row['name']}: {row['description']}{needs}")


def build_cli() -> click.Group:
    """The group with every plugin's commands added through ``register_commands``."""
    pm = _manager()
    pm.hook.register_commands(cli=cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    # Spinning OpenMP workers make torch 8-15x slower on a shared CPU (measured on 2 busy cores); this must be set
    # before torch is first imported. A user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # transformers' per-load "Loading weights" bars (models here are local) would bury the command's own progress.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        group = build_cli()
    except PluginError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    group.main(args=argv, prog_name="rlaif-audit")


if __name__ == "__main__":
    main()
