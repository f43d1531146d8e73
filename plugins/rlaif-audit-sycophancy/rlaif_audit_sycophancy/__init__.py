"""The rlaif-audit-sycophancy plugin: the ``sycophancy`` probe suite and the ``sycophancy`` auditor."""

from __future__ import annotations

from typing import Callable

from rlaif_audit import hookimpl

DISTRIBUTION = "rlaif-audit-sycophancy"


@hookimpl
def register_probe_suites(register: Callable[..., None]) -> None:
    """Register the ``sycophancy`` suite (36 items, each with an opinion and a control pair)."""
    from rlaif_audit_sycophancy.suite import sycophancy_suite

    register(sycophancy_suite())


@hookimpl
def register_auditors(register: Callable[[type], None]) -> None:
    """Register the ``sycophancy`` auditor."""
    from rlaif_audit_sycophancy.auditor import SycophancyAuditor

    register(SycophancyAuditor)
