"""rlaif-audit: run the RLAIF loop under a pluggy host and audit its AI evaluator.

The Python API is imported on first use, so ``import rlaif_audit`` (and ``rlaif-audit --help``) stays light:
``rlaif_audit.label`` and ``rlaif_audit.audit`` (:mod:`rlaif_audit.api`), and ``rlaif_audit.trl`` (TRL reward
functions and the audit callback).
"""

from __future__ import annotations

from typing import Any

from rlaif_audit.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__", "label", "audit", "LabelResult", "AuditReport"]

_API = {"label", "audit", "LabelResult", "AuditReport"}


def __getattr__(name: str) -> Any:
    """The API names, imported from :mod:`rlaif_audit.api` (and the ``trl`` module) on first access."""
    if name in _API:
        from rlaif_audit import api

        return getattr(api, name)
    if name == "trl":
        import importlib

        return importlib.import_module("rlaif_audit.trl")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
