"""The RLAIF loop behind `rlaif-audit run`: stages, run folder, manifest, resumption (see docs/run.md)."""

from rlaif_audit.loop.run import Run

__all__ = ["Run"]
