"""The built-in probe suites (known-answer and length), registered through the same hook as a plugin's."""

from __future__ import annotations

from typing import Callable

from rlaif_audit import hookimpl
from rlaif_audit.judging.probes import ProbeSuite


@hookimpl
def register_probe_suites(register: Callable[[ProbeSuite], None]) -> None:
    """Register the known-answer and length suites."""
    from rlaif_audit.default_plugins.probe_suites.known_answer import known_answer_suite
    from rlaif_audit.default_plugins.probe_suites.length import length_suite

    register(known_answer_suite())
    register(length_suite())
