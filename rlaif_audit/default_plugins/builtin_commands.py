"""Adds the built-in sub-commands (label, audit, run, ...) through ``register_commands``."""

from __future__ import annotations

import importlib
import pkgutil

import click

from rlaif_audit import hookimpl, commands


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add each ``rlaif_audit.commands.<module>.command`` to the CLI."""
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command) and command.name not in cli.commands:
            cli.add_command(command)
