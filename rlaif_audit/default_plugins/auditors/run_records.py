"""Run-record auditors of an RLAIF run: the reward model's held-out accuracy and training curve, and where the
run's time and memory went. Like the policy-side auditors they read ``ctx.options["policy"]`` (see policy.py) and
are skipped outside a run."""

from __future__ import annotations

from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult, Metric
from rlaif_audit.default_plugins.auditors.policy import NO_POLICY, curve, policy_data


class RewardModelAuditor(Auditor):
    """How well the trained reward model reproduces held-out AI labels (and human labels when given)."""

    name = "reward-model"
    requires = ("run",)
    subject = "reward model"
    meanings = {
        "accuracy_vs_ai": "The reward model ranks the AI-preferred response higher on {value:.1%} of held-out pairs.",
        "accuracy_vs_humans": ("The reward model ranks the human-preferred response higher on {value:.1%} of human-"
                               "labeled pairs (50% is chance)."),
    }
    headline = ("accuracy_vs_ai", "accuracy_vs_humans")
    figure_kinds = {"training_curve": "line"}
    description = ("Reward model accuracy: share of held-out AI-labeled pairs (and of human-labeled pairs, when "
                   "human_data is set) whose preferred response the reward model scores higher.")

    def audit(self, ctx: AuditContext) -> AuditResult:
        data = policy_data(ctx) or {}
        metrics = data.get("reward_model") or {}
        if not metrics.get("accuracy_vs_ai"):
            reason = "reward = direct (d-RLAIF): no reward model" if data.get("reward") == "direct" else NO_POLICY
            return AuditResult(status="skipped", reason=reason)
        result = AuditResult()
        for name in ("accuracy_vs_ai", "accuracy_vs_humans"):
            if metrics.get(name):
                found = metrics[name]
                result.metrics[name] = Metric(found["value"], tuple(found["ci"]) if found.get("ci") else None,
                                              found["n"], found.get("method", ""))
        if not metrics.get("accuracy_vs_humans"):
            result.notes.append("No human-labeled set configured (human_data): accuracy vs humans not measured.")
        figure = curve(metrics.get("training_log") or [], ["loss"], "Reward-model training loss")
        if figure is not None:
            result.figures["training_curve"] = figure
        return result


class RunStagesAuditor(Auditor):
    """Where the run's time and memory went."""

    name = "run-stages"
    requires = ("run",)
    subject = "policy"
    figure_kinds = {"stage_seconds": "bars"}
    description = "Wall time and peak memory of each completed stage of this RLAIF run (all stages: manifest.json)."

    def audit(self, ctx: AuditContext) -> AuditResult:
        stages = (policy_data(ctx) or {}).get("stages") or []
        if not stages:
            return AuditResult(status="skipped", reason=NO_POLICY)
        figure = {"title": "Wall time per stage", "x_label": "seconds", "labels": [row["stage"] for row in stages],
                  "values": [row.get("seconds") for row in stages]}
        return AuditResult(
            tables={"stages": list(stages)}, figures={"stage_seconds": figure},
            notes=["Peak memory is the largest resident set sampled every 0.1 s during the stage (CUDA: "
                   "torch.cuda.max_memory_allocated); the audit stage's own figures are in manifest.json."])


AUDITORS = (RewardModelAuditor, RunStagesAuditor)
"""The auditors this module defines, registered by the package's plugin."""
