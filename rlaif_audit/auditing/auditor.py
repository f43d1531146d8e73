"""The Auditor base class, the audit context it reads, and the results it returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.reporting.report import HeadlineRow

Requirement = Literal["human", "both_orders", "probabilities", "generators", "run"]
RUN_ONLY = "no policy samples: policy-side audits run in the audit stage of `rlaif-audit run`"
"""Why an auditor that ``requires`` ``"run"`` is not run on a standalone judgments file; reports list such auditors
once as "not applicable here (run-only)" rather than as skipped."""
POLICY_OPTION = "policy"
"""The ``AuditContext.options`` key under which the loop passes policy-side data (samples, logs, stages)."""


@dataclass
class Metric:
    """A headline number with its 95% confidence interval and sample size.

    ``note`` marks an interval a reader must not take at face value (``auditing.stats.interval_note``):
    ``degenerate`` (zero width), ``n<30`` (fewer units than ``stats.MIN_N``), ``no valid interval``.
    report.json writes it as ``ci_note``.
    """

    value: float | None
    ci: tuple[float, float] | None
    n: int
    method: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """``{"value", "ci", "n"[, "method"][, "ci_note"]}`` with NaN as None."""

        def clean(x: float | None) -> float | None:
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

        ci = None if self.ci is None else [clean(self.ci[0]), clean(self.ci[1])]
        out: dict[str, Any] = {"value": clean(self.value), "ci": ci, "n": int(self.n)}
        if self.method:
            out["method"] = self.method
        if self.note:
            out["ci_note"] = self.note
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metric:
        """The metric of a ``{"value", "ci", "n", "method"}`` dict (report.json)."""
        ci = data["ci"]
        return cls(data["value"], None if ci is None else (ci[0], ci[1]), data["n"], data.get("method", ""),
                   data.get("ci_note", ""))


@dataclass
class AuditResult:
    """What one auditor found: metrics, tables, figure data and notes.

    ``headline``: rows the auditor adds to the report's headline beyond its declared metrics (e.g. one per
    generator pair). ``section``: the content of the top-level report section the auditor declares
    (:attr:`Auditor.section`). Neither is written under ``auditors.<name>``.
    """

    status: Literal["ok", "skipped", "error"] = "ok"
    metrics: dict[str, Metric] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    reason: str | None = None
    headline: list[HeadlineRow] = field(default_factory=list)
    section: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditContext:
    """Everything an auditor may read.

    ``pairs``: one row per pair — ``pair_id``, ``p_first_ab``, ``p_first_ba``,
    ``verdict_ab``, ``verdict_ba``, ``p_a`` (P(A ≻ B) by the two-order rule,
    ``records.preference.pair_p_a``: position-debiased where both orders carry
    a probability, MT-Bench's games rule for verdicts; NaN when an order is
    missing or failed), ``human_p_a`` (share of annotators preferring A,
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
    """Measures one aspect of an evaluator; subclass, implement :meth:`audit`, register it.

    The class-level declarations tell the host how to show the result; the host reads them and never an
    auditor's name.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    requires: ClassVar[tuple[Requirement, ...]] = ()
    headline: ClassVar[tuple[str, ...]] = ()
    """Metric names a reviewer reads first, in order: the report's headline shows the first two that were measured
    (none declared or measured: the auditor's first metric)."""
    figure_kinds: ClassVar[dict[str, str]] = {}
    """Figure name → plot kind (``line``, ``curve``, ``reliability``, ``stacked-bars``, ``mt-bench``); a figure
    not declared here is drawn as its data's ``kind`` field says, else as a ``curve``."""
    table_figures: ClassVar[dict[str, str]] = {}
    """Tables that are also drawn as a figure: table name → plot kind (e.g. ``{"mt_bench": "mt-bench"}``)."""
    review_table: ClassVar[str | None] = None
    """The table whose rows are human-review tasks (``review_queue.jsonl``), most useful first."""
    section: ClassVar[str | None] = None
    """A top-level report key this auditor fills with its result's ``section`` instead of ``auditors.<name>``
    (e.g. ``generators``). Such an auditor runs whichever auditors are selected."""
    method_notes: ClassVar[tuple[str, ...]] = ()
    """How this auditor's numbers are computed, added to the report's method notes whenever it runs."""
    point_estimates: ClassVar[tuple[str, ...]] = ()
    """Metrics reported without a confidence interval (no valid one is known); a CI gate on them is refused."""
    inferential: ClassVar[tuple[str, ...]] = ()
    """The metrics with valid intervals a refused gate suggests instead (e.g. Brier, log loss for ECE)."""
    run_summary: ClassVar[dict[str, str]] = {}
    """Metric name → label, for the lines ``rlaif-audit run`` prints at the end of a run."""
    subject: ClassVar[str] = "evaluator"
    """What the metrics describe: ``evaluator`` (the AI judge), ``policy`` (the tuned model) or ``reward model``;
    model cards group their headline by it."""
    meanings: ClassVar[dict[str, str]] = {}
    """Metric name → one sentence saying what its number means, a ``str.format`` template over ``value``, ``low``,
    ``high`` and ``n`` (``"The judge picks the first-shown response {value:.1%} of the time; 50% is no position
    bias."``); model cards print it under the metric."""

    def audit(self, ctx: AuditContext) -> AuditResult:
        """Return an :class:`AuditResult`; return ``status="skipped"`` with a reason when data are missing."""
        raise NotImplementedError
