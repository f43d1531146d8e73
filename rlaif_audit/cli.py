"""The ``rlaif-audit`` command line: a click group whose commands come from plugins."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from rlaif_audit import __version__
from rlaif_audit.errors import PluginError, RlaifAuditError


class UserError(click.ClickException):
    """An error caused by the user's input: message on stderr, exit code 2, no traceback."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


DEBUG_KEY = "rlaif_audit.debug"
"""``ctx.meta`` key set by the group's ``--debug``/``-v``: errors are shown with their traceback."""


class AuditGroup(click.Group):
    """A click group that turns rlaif-audit's own errors into clear messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RlaifAuditError as exc:
            if ctx.meta.get(DEBUG_KEY):
                import traceback

                traceback.print_exception(exc, file=sys.stderr)
            raise UserError(str(exc), getattr(exc, "exit_code", 2)) from exc


def new_group() -> click.Group:
    """A fresh top-level group (each build gets its own, so plugin commands never leak between builds)."""

    @click.group(cls=AuditGroup)
    @click.version_option(__version__, prog_name="rlaif-audit")
    @click.option("--debug", "-v", "debug", is_flag=True, help="Show the traceback behind an error message.")
    @click.pass_context
    def cli(ctx: click.Context, debug: bool) -> None:
        """Run the RLAIF loop and audit the AI evaluator that drives it."""
        ctx.meta[DEBUG_KEY] = debug

    return cli


def build_cli() -> click.Group:
    """The group with every plugin's commands (the built-in ones included) added through ``register_commands``."""
    from rlaif_audit.host import add_commands, get_plugin_manager

    group = new_group()
    pm = get_plugin_manager()
    for failed in pm.failed:
        click.echo(f"Warning: {failed.warning()}", err=True)
    add_commands(pm, group)
    return group


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
