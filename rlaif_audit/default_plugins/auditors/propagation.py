"""The propagation auditor: each bias of the evaluator per generation, its change over generations and a verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult, Metric

if TYPE_CHECKING:
    from rlaif_audit.auditing.propagation import PropagationResult

NO_GENERATIONS = ("needs several generations' judgments of the same probe pairs (rlaif-audit propagation, "
                  "rlaif-audit simulate, or the loop with --generations)")

METHOD = ("Every generation's evaluator judges the same probe pairs in both orders; one probe-clustered bootstrap "
          "resamples the probes jointly for all generations, so per-generation CIs, paired differences and the OLS "
          "trend over generations share the resamples; McNemar exact tests accuracy differences; Benjamini–Hochberg "
          "(statsmodels fdr_bh) adjusts the trends and differences of all biases × generations together; inherited "
          "error is the Mantel–Haenszel odds ratio of being wrong after a wrong vs after a right verdict of the "
          "previous generation.")


class PropagationAuditor(Auditor):
    """Cross-generation bias propagation on probe pairs (docs/audit.md, "Cross-generation propagation").

    Metrics (``propagation.metrics.<name>``): ``<measure>_gen<g>`` per generation and ``<measure>_trend`` (OLS slope
    per generation, probe-clustered bootstrap CI) for known_answer_accuracy, padded_wins_rate,
    position_consistency, first_slot_rate, confidently_wrong_rate, self_preference_excess and, with human anchors,
    anchor_agreement and anchor_kappa; ``<measure>_reference`` for the pinned reference evaluator;
    ``inherited_error_odds_ratio`` (Mantel–Haenszel over consecutive steps) and its bootstrap twin.
    Tables: ``per_generation``, ``differences`` (consecutive and against gen-0, BH-adjusted p-values),
    ``verdicts`` (trend, minimum detectable effects, verdict per bias) and ``inherited_error`` (per step).
    """

    name = "propagation"
    description = "Cross-generation bias propagation on probes: per-generation biases, trends, inherited error, verdicts"
    headline = ("inherited_error_odds_ratio", "padded_wins_rate_trend", "known_answer_accuracy_trend")
    figure_kinds: dict[str, str] = {}
    run_summary = {"inherited_error_odds_ratio": "inherited-error odds ratio (MH, consecutive generations)"}

    def audit(self, ctx: AuditContext) -> AuditResult:
        from rlaif_audit.auditing.propagation import analyse
        from rlaif_audit.auditing.probe_set import PROPAGATION_OPTION

        inputs = ctx.options.get(PROPAGATION_OPTION)
        if inputs is None or len(inputs.generations) < 2:
            return AuditResult(status="skipped", reason=NO_GENERATIONS)
        analysis = analyse(inputs.probes, inputs.generations, reference=inputs.reference,
                           n_bootstrap=ctx.n_bootstrap, seed=ctx.seed, tie_band=float(ctx.options.get("tie_band", 0)),
                           stable_margin=inputs.stable_margin)
        result = AuditResult(notes=notes(analysis, inputs))
        fill_metrics(analysis, result)
        fill_tables(analysis, result)
        result.figures = figures(analysis)
        return result


def fill_metrics(analysis: PropagationResult, result: AuditResult) -> None:
    """Per-generation, reference, trend and inherited-error metrics."""
    for name, metrics in analysis.per_generation.items():
        for g, metric in enumerate(metrics):
            result.metrics[f"{name}_gen{g}"] = metric
        if name in analysis.reference:
            result.metrics[f"{name}_reference"] = analysis.reference[name]
    for name, trend in analysis.trends.items():
        result.metrics[f"{name}_trend"] = trend.metric
    if analysis.inherited_pooled is not None:
        result.metrics["inherited_error_odds_ratio"] = analysis.inherited_pooled
    if analysis.inherited_pooled_bootstrap is not None:
        result.metrics["inherited_error_odds_ratio_bootstrap"] = analysis.inherited_pooled_bootstrap


def fill_tables(analysis: PropagationResult, result: AuditResult) -> None:
    """Per-generation values, paired differences, verdicts and the inherited-error steps as rows."""
    rows = []
    for name, metrics in analysis.per_generation.items():
        for g, metric in enumerate(metrics):
            low, high = metric.ci or (None, None)
            rows.append({"measure": name, "generation": g, "value": metric.value, "ci_low": low, "ci_high": high,
                         "n": metric.n})
    result.tables["per_generation"] = rows
    result.tables["differences"] = [d.row() for d in analysis.differences]
    result.tables["verdicts"] = [t.row() for t in analysis.trends.values()]
    result.tables["inherited_error"] = [step.row() for step in analysis.inherited]


def figures(analysis: PropagationResult) -> dict[str, dict[str, Any]]:
    """One curve per measure: the value per generation with its 95% CI, and the reference evaluator's level."""
    out: dict[str, dict[str, Any]] = {}
    for name, metrics in analysis.per_generation.items():
        steps = list(range(len(metrics)))
        series = [{"name": "evaluator E_g", "x": steps, "y": [m.value for m in metrics],
                   "low": [m.ci[0] if m.ci else None for m in metrics],
                   "high": [m.ci[1] if m.ci else None for m in metrics]}]
        reference: Metric | None = analysis.reference.get(name)
        if reference is not None:
            series.append({"name": "pinned reference", "x": steps, "y": [reference.value] * len(steps)})
        verdict = analysis.trends[name].verdict if name in analysis.trends else "no verdict"
        out[f"{name}_by_generation"] = {"kind": "curve", "x_label": "generation", "y_label": name,
                                        "title": f"{name.replace('_', ' ')} by generation ({verdict})",
                                        "series": series}
    return out


def notes(analysis: PropagationResult, inputs: Any) -> list[str]:
    """The verdicts in words, and the transfer coefficients when simulated."""
    lines = [METHOD, f"{analysis.n_generations} generations × {analysis.n_probes} probes. Verdicts: "
             + ", ".join(f"{name} {verdict}" for name, verdict in analysis.verdicts().items()) + "."]
    if inputs.reference is None:
        lines.append("No pinned reference evaluator: self_preference_excess is the own-response win rate − 0.5.")
    if inputs.transfer is not None:
        lines.append("Simulated generations; injected transfer coefficients: "
                     + (", ".join(f"{k}={v}" for k, v in inputs.transfer.items()) or "none") + ".")
    return lines


AUDITORS = [PropagationAuditor]
