"""Run-level stage, propagation: every generation's probe judgments compared (the propagation auditor), and the
run's top-level report in ``report/`` with the cross-generation table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlaif_audit.loop.layout import (AUDIT, MANIFEST, PROBE_JUDGMENTS, PROBE_PAIRS, REPORT_JSON, RUN_REPORT,
                                     generation_folder, relative_path)

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run

AUDITOR = "propagation"


def generation_rows(run: Run) -> list[dict[str, Any]]:
    """One row per generation: its evaluator (succession, plugin, checkpoint, identity hash), probe pairs and the
    stage seconds."""
    rows = []
    evaluators = run.manifest.get("evaluators", {})
    stages = run.manifest.get("stages", {})
    for generation in range(run.config.generations):
        key = generation_folder(generation)
        spec = evaluators.get(key, {})
        seconds = {name.split("/", 1)[1]: rec.get("seconds") for name, rec in stages.items()
                   if name.startswith(f"{key}/")}
        rows.append({"generation": generation, "succession": spec.get("succession"),
                     "evaluator": spec.get("evaluator"), "evaluator_model": spec.get("model_from") or "configured",
                     "evaluator_id": spec.get("evaluator_id"),
                     "probe_judgments": relative_path(generation, PROBE_JUDGMENTS),
                     "drift": (stages.get(f"{key}/probes", {}).get("outputs", {}).get("drift") or {}).get("message"),
                     "stage_seconds": seconds})
    return rows


POLICY_MEASURES = (
    ("length-drift", "mean_tokens_policy"), ("length-drift", "token_difference"),
    ("length-drift", "truncated_policy"), ("mode-collapse", "distinct_2_change"), ("mode-collapse", "ead_2_change"),
    ("policy-kl", "kl_per_sequence"), ("reward-hacking", "evaluator_win_rate"), ("reward-hacking", "rm_score_gain"),
    ("length", "p_prefer_longer_judge"))
"""The generation audit metrics the cross-generation policy table shows: the tuned policy against the policy it
started from (each generation's own step), and the generation evaluator's own length preference."""


def policy_rows(run: Run) -> list[dict[str, Any]]:
    """One row per measure, with each generation's value, 95% CI and n from ``gen-N/audit/report.json`` as that
    generation's audit computed them (a generation's reference is the policy it started from)."""
    import json

    rows: dict[str, dict[str, Any]] = {}
    for generation in range(run.config.generations):
        path = run.path(generation, f"{AUDIT}/{REPORT_JSON}")
        if not path.exists():
            continue
        auditors = json.loads(path.read_text(encoding="utf-8")).get("auditors") or {}
        for auditor, metric in POLICY_MEASURES:
            found = ((auditors.get(auditor) or {}).get("metrics") or {}).get(metric)
            if not found:
                continue
            ci = found.get("ci") or [None, None]
            row = rows.setdefault(f"{auditor}.{metric}", {"measure": f"{auditor}.{metric}"})
            row.update({f"gen{generation}": found.get("value"), f"gen{generation}_ci_low": ci[0],
                        f"gen{generation}_ci_high": ci[1], f"gen{generation}_n": found.get("n")})
    return list(rows.values())


def self_preference_rows(run: Run) -> list[dict[str, Any]]:
    """Each policy-succession generation's self-preference excess over gen-0's evaluator (the probes stage's
    outputs), with both own-response win rates; value, 95% CI and n."""
    stages = run.manifest.get("stages", {})
    rows = []
    for generation in range(1, run.config.generations):
        found = (stages.get(f"{generation_folder(generation)}/probes", {}).get("outputs") or {}).get("self_preference")
        if not found:
            continue
        row: dict[str, Any] = {"generation": generation, "status": found.get("status"), "pairs": found.get("pairs")}
        for key in ("excess", "own_win_rate", "own_win_rate_gen0_evaluator"):
            metric = found.get(key) or {}
            ci = metric.get("ci") or [None, None]
            row.update({key: metric.get("value"), f"{key}_ci_low": ci[0], f"{key}_ci_high": ci[1]})
        row["reason"] = found.get("reason", "")
        rows.append(row)
    return rows


def run_propagation(run: Run, generation: int | None) -> dict[str, Any]:
    """The propagation auditor over every generation's probe judgments; the top-level report in report/."""
    from rlaif_audit.auditing.probe_set import propagation_context, read_generations
    from rlaif_audit.auditing.runner import run_auditors
    from rlaif_audit.loop.reports import check_report_writes
    from rlaif_audit.reporting.builder import build_report, write_report
    from rlaif_audit.reporting.report import to_jsonable

    paths = [str(run.path(g, PROBE_JUDGMENTS)) for g in range(run.config.generations)]
    data = str(run.path(0, PROBE_PAIRS))
    inputs, first = read_generations(data, paths, None, 0.05)
    ctx = propagation_context(first.judgments, first.pairs, inputs, run.config.seed, run.config.n_bootstrap, 0.0)
    outcomes = run_auditors(ctx, run.pm, [AUDITOR], timeout=run.config.auditor_timeout or None)
    rows = generation_rows(run)
    outcomes[AUDITOR].tables["generations"] = [
        {**{k: v for k, v in row.items() if k != "stage_seconds"},
         **{f"{stage}_s": round(seconds or 0.0, 1) for stage, seconds in row["stage_seconds"].items()}}
        for row in rows]
    outcomes[AUDITOR].tables["policy_by_generation"] = policy_rows(run)
    leakage = self_preference_rows(run)
    if leakage:
        outcomes[AUDITOR].tables["self_preference_by_generation"] = leakage
    report = build_report(ctx, outcomes, config=run.config.to_dict(), data_source=data,
                          title=f"RLAIF run {run.folder.name}: {run.config.generations} generations, "
                                f"evaluator succession {run.config.evaluator_succession}")
    report.run = to_jsonable({"name": run.folder.name, "manifest": str((run.folder / MANIFEST).resolve()),
                              "generations": rows})
    written = write_report(report, run.folder / RUN_REPORT, run.pm)
    check_report_writes(report, run.folder / RUN_REPORT)
    outcome = outcomes[AUDITOR]
    return {"report": f"{RUN_REPORT}/{REPORT_JSON}", "written": [str(p) for p in written.values()],
            "status": outcome.status, "reason": outcome.reason,
            "verdicts": {row.get("measure"): row.get("verdict") for row in outcome.tables.get("verdicts", [])}}
