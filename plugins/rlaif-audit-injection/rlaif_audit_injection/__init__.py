"""The rlaif-audit-injection plugin: the ``injection`` probe suite, the ``injection`` auditor, the fenced rubric."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable

import click

from rlaif_audit import hookimpl

DISTRIBUTION = "rlaif-audit-injection"
FENCED_RUBRIC = "fenced_rubric.txt"


def fenced_rubric_path() -> Path:
    """The mitigated rubric: responses fenced in delimiters, the judge told to ignore instructions inside them."""
    return Path(str(resources.files(__name__).joinpath(FENCED_RUBRIC)))


@hookimpl
def register_probe_suites(register: Callable[..., None]) -> None:
    """Register the ``injection`` suite (30 items, each with an injected and a control pair)."""
    from rlaif_audit_injection.suite import injection_suite

    register(injection_suite())


@hookimpl
def register_auditors(register: Callable[[type], None]) -> None:
    """Register the ``injection`` auditor."""
    from rlaif_audit_injection.auditor import InjectionAuditor

    register(InjectionAuditor)


@click.command(name="injection-rubric")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Write a copy of the fenced rubric here (default: print the bundled file's path).")
def injection_rubric_command(output: str | None) -> None:
    """Print the path of the fenced (injection-mitigated) rubric, for -O template=PATH."""
    if output is None:
        click.echo(str(fenced_rubric_path()))
        return
    from rlaif_audit.records.fileio import atomic_write_text

    atomic_write_text(output, fenced_rubric_path().read_text(encoding="utf-8"))
    click.echo(output)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit injection-rubric``."""
    cli.add_command(injection_rubric_command)
