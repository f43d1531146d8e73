"""The lines `rlaif-audit run` prints at the end: where the checkpoints and reports are, and the headline numbers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rlaif_audit.reporting.text import fmt_number, metric_text
from rlaif_audit.loop.layout import (AUDIT, MANIFEST, POLICY, REPORT_HTML, REPORT_JSON, REPORT_MD, REWARD_MODEL,
                                     RUN_REPORT)

if TYPE_CHECKING:
    from rlaif_audit.host import Registry
    from rlaif_audit.loop.run import Run
    from rlaif_audit.reporting.report import Report

REWARD_MODEL_LINES = (("accuracy_vs_ai", "reward model accuracy vs AI labels (held out)"),
                      ("accuracy_vs_humans", "reward model accuracy vs human labels"))


def _reward_model_lines(report: Report) -> list[str]:
    """The reward model's held-out accuracies, from the loop's ``run`` section."""
    from rlaif_audit.auditing.auditor import Metric

    found: dict[str, Any] = ((report.run or {}).get("reward_model") or {}).get("metrics") or {}
    return [f"  {label}: {metric_text(Metric.from_dict(found[key]))}" for key, label in REWARD_MODEL_LINES
            if found.get(key)]


def _headline(report: Report, registry: Registry[Any]) -> list[str]:
    """Each auditor's ``run_summary`` metrics that the report holds, labelled as the auditor declares."""
    from rlaif_audit.auditing.runner import declarations

    lines = _reward_model_lines(report)
    for name, outcome in report.auditors.items():
        declared = declarations(registry.items[name].cls).run_summary if name in registry.items else {}
        lines += [f"  {label}: {metric_text(outcome.metrics[metric])}" for metric, label in declared.items()
                  if metric in outcome.metrics]
    return lines


def summary_lines(run: Run) -> list[str]:
    """Run folder, checkpoints with their reports, manifest, and a few headline numbers per generation."""
    from rlaif_audit.host import auditors
    from rlaif_audit.reporting.report import Report

    registry = auditors(run.pm)
    lines = [f"run: {run.folder} ({run.manifest.get('status')})"]
    seconds = sum(rec.get("seconds") or 0 for rec in run.manifest.get("stages", {}).values())
    lines.append(f"stage time: {seconds:.0f} s over {len(run.manifest.get('stages', {}))} stages "
                 f"(per stage: {run.folder / MANIFEST})")
    for generation in range(run.config.generations):
        policy, reward_model, audit = (run.path(generation, name) for name in (POLICY, REWARD_MODEL, AUDIT))
        prefix = f"gen-{generation}/"
        timed = [f"{key[len(prefix):]} {rec.get('seconds') or 0:.0f} s"
                 for key, rec in run.manifest.get("stages", {}).items() if key.startswith(prefix)]
        evaluator = (run.manifest.get("evaluators") or {}).get(f"gen-{generation}") or {}
        lines.append(f"gen-{generation}: evaluator {evaluator.get('evaluator')} "
                     f"({evaluator.get('model_from') or 'as configured'}); " + ", ".join(timed))
        lines.append(f"policy checkpoint: {policy}  (report: {policy / REPORT_MD})")
        if reward_model.is_dir():
            lines.append(f"reward model: {reward_model}  (report: {reward_model / REPORT_MD})")
        report_path = audit / REPORT_JSON
        if report_path.exists():
            lines.append(f"audit report: {audit / REPORT_HTML}")
            report = Report.from_dict(json.loads(report_path.read_text(encoding="utf-8")))
            lines.extend(_headline(report, registry))
    lines.extend(cross_generation_lines(run))
    failures = run.manifest.get("plugin_failures") or []
    if failures:
        lines.append(f"plugin failures recorded in the manifest: {len(failures)}")
    return lines


def cross_generation_lines(run: Run) -> list[str]:
    """The top-level report's cross-generation table: each probe measure per generation, its trend with 95% CI and
    verdict (after FDR control), and the inherited-error odds ratio."""
    path = run.folder / RUN_REPORT / REPORT_JSON
    if not path.exists():
        return []
    outcome = (json.loads(path.read_text(encoding="utf-8")).get("auditors") or {}).get("propagation") or {}
    if outcome.get("status") != "ok":
        return [f"cross-generation report: {path.parent / REPORT_HTML} (propagation: {outcome.get('status')}: "
                f"{outcome.get('reason')})"]
    tables = outcome.get("tables") or {}
    values: dict[str, dict[int, dict[str, Any]]] = {}
    for row in tables.get("per_generation", []):
        values.setdefault(row["measure"], {})[int(row["generation"])] = row
    verdicts = {row["measure"]: row for row in tables.get("verdicts", [])}
    generations = sorted({g for by_generation in values.values() for g in by_generation})
    lines = [f"cross-generation report: {path.parent / REPORT_HTML}",
             "  measure | " + " | ".join(f"gen-{g}" for g in generations) + " | trend/gen [95% CI] | verdict"]
    for measure, by_generation in values.items():
        cells = [fmt_number(by_generation.get(g, {}).get("value")) for g in generations]
        verdict = verdicts.get(measure)
        trend = (f"{verdict['slope']:+.3f} [{verdict['ci_low']:+.3f}, {verdict['ci_high']:+.3f}]"
                 if verdict and verdict.get("slope") is not None else "-")
        lines.append(f"  {measure} | " + " | ".join(cells) + f" | {trend} | "
                     f"{verdict.get('verdict') if verdict else 'no verdict'}")
    for row in tables.get("self_preference_by_generation", []):
        if row.get("excess") is None:
            lines.append(f"  self-preference gen-{row['generation']}: {row.get('status')} {row.get('reason')}")
            continue
        lines.append(f"  self-preference gen-{row['generation']}: own-response win rate {fmt_number(row['own_win_rate'])} vs "
                     f"gen-0 evaluator {fmt_number(row['own_win_rate_gen0_evaluator'])}; excess {row['excess']:+.3f} "
                     f"[95% CI {fmt_number(row['excess_ci_low'])}, {fmt_number(row['excess_ci_high'])}], n={row['pairs']}")
    metric = (outcome.get("metrics") or {}).get("inherited_error_odds_ratio")
    if metric and metric.get("value") is not None:
        ci = metric.get("ci") or [None, None]
        lines.append(f"  inherited error: odds ratio {metric['value']:.3g} [95% CI {fmt_number(ci[0])}, {fmt_number(ci[1])}] "
                     f"(P(wrong at g+1 | wrong at g) vs P(wrong at g+1 | right at g), n={metric.get('n')})")
    return lines
