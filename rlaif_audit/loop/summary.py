"""The lines `rlaif-audit run` prints at the end: where the checkpoints and reports are, and the headline numbers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rlaif_audit.loop.layout import AUDIT, MANIFEST, POLICY, REPORT_HTML, REPORT_JSON, REPORT_MD, REWARD_MODEL

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run

HEADLINE = (
    ("reward-hacking", "evaluator_win_rate", "evaluator win rate, policy vs reference"),
    ("reward-hacking", "rm_score_gain", "reward-model score gain, policy vs reference"),
    ("length-drift", "token_difference", "length change (tokens)"),
    ("mode-collapse", "distinct_2_change", "distinct-2 change"),
    ("policy-kl", "kl_per_sequence", "KL(policy || reference) per response"),
    ("position", "consistent", "evaluator position consistency (MT-Bench)"),
    ("position", "first_slot_preference", "evaluator first-slot preference"),
)


def _metric_text(metric: dict[str, Any]) -> str:
    value, ci = metric.get("value"), metric.get("ci")
    if value is None:
        return f"n/a (n={metric.get('n')})"
    interval = f" [95% CI {ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    return f"{value:.3f}{interval}, n={metric.get('n')}"


def _headline(report: dict[str, Any]) -> list[str]:
    lines = []
    rm = (report.get("run", {}).get("reward_model") or {}).get("metrics") or {}
    for key, label in (("accuracy_vs_ai", "reward model accuracy vs AI labels (held out)"),
                       ("accuracy_vs_humans", "reward model accuracy vs human labels")):
        if rm.get(key):
            lines.append(f"  {label}: {_metric_text(rm[key])}")
    for auditor, name, label in HEADLINE:
        metric = ((report.get("auditors", {}).get(auditor) or {}).get("metrics") or {}).get(name)
        if metric:
            lines.append(f"  {label}: {_metric_text(metric)}")
    return lines


def summary_lines(run: Run) -> list[str]:
    """Run folder, checkpoints with their reports, manifest, and a few headline numbers per generation."""
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
            lines.extend(_headline(json.loads(report_path.read_text(encoding="utf-8"))))
    failures = run.manifest.get("plugin_failures") or []
    if failures:
        lines.append(f"plugin failures recorded in the manifest: {len(failures)}")
    return lines
