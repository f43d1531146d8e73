"""The lines `rlaif-audit run` prints at the end: where the checkpoints and reports are, and the headline numbers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rlaif_audit.loop.layout import AUDIT, MANIFEST, POLICY, REPORT_HTML, REPORT_JSON, REPORT_MD, REWARD_MODEL

if TYPE_CHECKING:
    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.host import Registry
    from rlaif_audit.loop.run import Run
    from rlaif_audit.reporting.report import Report

REWARD_MODEL_LINES = (("accuracy_vs_ai", "reward model accuracy vs AI labels (held out)"),
                      ("accuracy_vs_humans", "reward model accuracy vs human labels"))


def _metric_text(metric: Metric) -> str:
    if metric.value is None:
        return f"n/a (n={metric.n})"
    interval = f" [95% CI {metric.ci[0]:.3f}, {metric.ci[1]:.3f}]" if metric.ci else ""
    return f"{metric.value:.3f}{interval}, n={metric.n}"


def _reward_model_lines(report: Report) -> list[str]:
    """The reward model's held-out accuracies, from the loop's ``run`` section."""
    from rlaif_audit.auditing.auditor import Metric

    found: dict[str, Any] = ((report.run or {}).get("reward_model") or {}).get("metrics") or {}
    return [f"  {label}: {_metric_text(Metric.from_dict(found[key]))}" for key, label in REWARD_MODEL_LINES
            if found.get(key)]


def _headline(report: Report, registry: Registry[Any]) -> list[str]:
    """Each auditor's ``run_summary`` metrics that the report holds, labelled as the auditor declares."""
    from rlaif_audit.auditing.runner import declarations

    lines = _reward_model_lines(report)
    for name, outcome in report.auditors.items():
        declared = declarations(registry.items[name].cls).run_summary if name in registry.items else {}
        lines += [f"  {label}: {_metric_text(outcome.metrics[metric])}" for metric, label in declared.items()
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
        lines.append(f"policy checkpoint: {policy}  (report: {policy / REPORT_MD})")
        if reward_model.is_dir():
            lines.append(f"reward model: {reward_model}  (report: {reward_model / REPORT_MD})")
        report_path = audit / REPORT_JSON
        if report_path.exists():
            lines.append(f"audit report: {audit / REPORT_HTML}")
            report = Report.from_dict(json.loads(report_path.read_text(encoding="utf-8")))
            lines.extend(_headline(report, registry))
    failures = run.manifest.get("plugin_failures") or []
    if failures:
        lines.append(f"plugin failures recorded in the manifest: {len(failures)}")
    return lines
