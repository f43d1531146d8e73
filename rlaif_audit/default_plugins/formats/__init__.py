"""Built-in report formats (json, markdown, html): one plugin on ``register_report_formats``.

The formats' modules (matplotlib, Jinja2) are imported by the hook, not by ``rlaif-audit --help``.
"""

from __future__ import annotations

import importlib
from typing import Callable

from rlaif_audit import hookimpl

MODULES = ("json_format", "markdown", "html")


@hookimpl
def register_report_formats(register: Callable[[type], None]) -> None:
    """Register every format of the built-in modules."""
    for module in MODULES:
        for cls in importlib.import_module(f"{__name__}.{module}").FORMATS:
            register(cls)
