"""The Auditor base class, the audit context it reads, and the results it returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    import pandas as pd

Requirement = Literal["human", "both_orders", "probabilities", "generators"]
POLICY_OPTION = "policy"
"""The ``AuditContext.options`` key under which the loop passes policy-side data (samples, logs, stages)."""


@dataclass
class Metric:
    """A headline number with its 95% confidence interval and sample size."""

    value: float | None
    ci: tuple[float, float] | None
    n: int
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        def clean(x: float | None) -> float | None:
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

        ci = None if self.ci is None else [clean(self.ci[0]), clean(self.ci[1])]
        out: dict[str, Any] = {"value": clean(self.value), "ci": ci, "n": int(self.n)}
        if self.method:
            out["method"] = self.method
        return out


@dataclass
class AuditResult:
    """What one auditor found: metrics, tables, figure data and notes."""

    status: Literal["ok", "skipped", "error"] = "ok"
    metrics: dict[str, Metric] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "tables": self.tables,
            "figures": self.figures,
            "notes": self.notes,
        }


@dataclass
class AuditContext:
    """Everything an auditor may read.

    ``pairs``: one row per pair — ``pair_id``, ``p_first_ab``, ``p_first_ba``,
    ``verdict_ab``, ``verdict_ba``, ``p_a`` (position-debiased P(A ≻ B), NaN
    when an order is missing), ``human_p_a`` (share of annotators preferring A,
    ties count half; NaN without labels), ``n_annotators``, ``len_a``, ``len_b``,
    ``text_a``, ``text_b``, ``generator_a``, ``generator_b`` and metadata columns.
    ``judgments``: one row per judgment. ``labels``: one row per human label.
    """

    pairs: pd.DataFrame
    judgments: pd.DataFrame
    labels: pd.DataFrame
    seed: int = 0
    n_bootstrap: int = 2000
    options: dict[str, Any] = field(default_factory=dict)
    compare: AuditContext | None = None


class Auditor:
    """Measures one aspect of an evaluator; subclass, implement :meth:`audit`, register it."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    requires: ClassVar[tuple[Requirement, ...]] = ()

    def audit(self, ctx: AuditContext) -> AuditResult:
        """Return an :class:`AuditResult`; return ``status="skipped"`` with a reason when data are missing."""
        raise NotImplementedError
