"""Built-in auditors: one plugin on ``register_auditors`` whose modules import numpy and pandas only when used.

``rlaif-audit --help`` imports this package but none of its modules; the hook imports them when a registry of
auditors is built.
"""

from __future__ import annotations

import importlib
from typing import Callable

from rlaif_audit import hookimpl

MODULES = ("agreement", "calibration", "human_corrected", "length", "position", "policy", "propagation", "run_records", "win_rates")


@hookimpl
def register_auditors(register: Callable[[type], None]) -> None:
    """Register every auditor of the built-in modules."""
    for module in MODULES:
        for cls in importlib.import_module(f"{__name__}.{module}").AUDITORS:
            register(cls)
