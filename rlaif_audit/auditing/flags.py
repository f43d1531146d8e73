"""Bias flags: one test per suspected bias, abstaining below a minimum n, Benjamini–Hochberg FDR across the report.

An auditor lists every bias test it ran in ``tables["bias_tests"]`` (raised or not, with the raw p-value) and the
raised ones in ``tables["flags"]``; :func:`finish_flags` builds both. The report builder then adjusts the p-values
of all auditors' tests together (:func:`adjust_report`), so a flag in the report means "BH-adjusted p < 0.05
across every bias test of this report".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from rlaif_audit.auditing.auditor import AuditResult, Metric
    from rlaif_audit.reporting.report import AuditorOutcome

TESTS_TABLE = "bias_tests"
FLAGS_TABLE = "flags"
FDR_LEVEL = 0.05
"""The false discovery rate the flags control (Benjamini–Hochberg)."""
FDR_METHOD = "fdr_bh"
"""``statsmodels.stats.multitest.multipletests`` method."""


def bias_test(name: str, metric: Metric | None, null: float, p_value: float | None, finding: str) -> dict[str, Any]:
    """One bias test's row: the metric, its null, its raw p-value, and why it abstains (``reason``) if it does.

    ``finding`` is what a raised flag says (``"position bias toward the first slot"``). A test abstains —
    ``flagged`` null and ``reason`` set — when the metric was not measured, rests on fewer than
    ``stats.MIN_N`` units, has a degenerate (zero-width) interval, or has no p-value.
    """
    from rlaif_audit.auditing.stats import DEGENERATE, MIN_N

    row: dict[str, Any] = {"metric": name, "null": null, "value": None, "ci": None, "n": 0, "p_value": None,
                           "p_adjusted": None, "flagged": None, "reason": None, "finding": finding}
    if metric is None or metric.value is None:
        return {**row, "reason": "not measured"}
    row.update(value=metric.value, ci=None if metric.ci is None else list(metric.ci), n=int(metric.n))
    if metric.n < MIN_N:
        return {**row, "reason": f"abstains: n={metric.n} < {MIN_N}, too few to flag"}
    if DEGENERATE in (metric.note or ""):
        return {**row, "reason": "abstains: the interval is degenerate (every resample agreed)"}
    if p_value is None:
        return {**row, "reason": "abstains: no p-value"}
    return {**row, "p_value": float(p_value)}


def bh_adjust(p_values: Iterable[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (statsmodels ``multipletests``, ``fdr_bh``); NaN stays NaN.

    The one home of the FDR adjustment: the report's bias flags and the propagation verdicts both use it.
    """
    import numpy as np
    from statsmodels.stats.multitest import multipletests

    values = np.asarray(list(p_values), dtype=float)
    out = np.full(len(values), np.nan)
    keep = np.isfinite(values)
    if keep.any():
        out[keep] = multipletests(values[keep], method=FDR_METHOD)[1]
    return out.tolist()


def adjust(rows: Iterable[dict[str, Any]], level: float = FDR_LEVEL) -> list[dict[str, Any]]:
    """The rows with ``p_adjusted`` (Benjamini–Hochberg over the rows that were tested) and ``flagged``."""
    rows = [dict(row) for row in rows]
    tested = [row for row in rows if row.get("reason") is None and row.get("p_value") is not None]
    for row, p_adjusted in zip(tested, bh_adjust(row["p_value"] for row in tested)):
        row.update(p_adjusted=float(p_adjusted), flagged=bool(p_adjusted <= level))
    return rows


def raised(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flags: one row (metric, message, p-values, n) per test whose adjusted p is below the FDR level."""
    from rlaif_audit.reporting.text import fmt_ci, fmt_number

    return [{"metric": row["metric"],
             "message": f"{row['finding']}: {row['metric']} = {fmt_number(row['value'])}, 95% CI "
                        f"{fmt_ci(row['ci'])}, n={row['n']}; p = {row['p_value']:.3g}, BH-adjusted p = "
                        f"{row['p_adjusted']:.3g} < {FDR_LEVEL} (null {row['null']:g})",
             "p_value": row["p_value"], "p_adjusted": row["p_adjusted"], "n": row["n"]}
            for row in rows if row.get("flagged")]


def finish_flags(result: AuditResult, rows: Iterable[dict[str, Any]]) -> None:
    """Write the auditor's ``bias_tests`` (adjusted within the auditor) and its raised ``flags``."""
    result.tables[TESTS_TABLE] = adjust(rows)
    result.tables[FLAGS_TABLE] = raised(result.tables[TESTS_TABLE])


def adjust_report(outcomes: Mapping[str, AuditorOutcome]) -> str | None:
    """Adjust every auditor's bias tests together (BH across the report); rewrite their flags; the method note."""
    owners = [(outcome, index) for outcome in outcomes.values()
              for index, _ in enumerate(outcome.tables.get(TESTS_TABLE) or [])]
    if not owners:
        return None
    adjusted = adjust(outcome.tables[TESTS_TABLE][index] for outcome, index in owners)
    for (outcome, index), row in zip(owners, adjusted):
        outcome.tables[TESTS_TABLE][index] = row
    for outcome in outcomes.values():
        if TESTS_TABLE in outcome.tables:
            outcome.tables[FLAGS_TABLE] = raised(outcome.tables[TESTS_TABLE])
    tested = sum(row["reason"] is None for row in adjusted)
    return (f"Bias flags: Benjamini–Hochberg false discovery rate {FDR_LEVEL} across the report's {tested} bias "
            f"tests ({len(adjusted) - tested} abstained: too few pairs, a degenerate interval or not measured); "
            "each test's raw and adjusted p-values are in its auditor's bias_tests table.")
