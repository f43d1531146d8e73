"""rlaif-audit: run the RLAIF loop under a pluggy host and audit its AI evaluator."""

from rlaif_audit.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
