"""A generation's report (evaluator audits, policy-side audits, stage timings) and model cards beside checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif_audit.loop.layout import (AUDIT, JUDGMENTS, MANIFEST, MODEL_CARD, PAIRS, POLICY, REWARD_MODEL,
                                     relative_path)
from rlaif_audit.records.fileio import atomic_write_text

if TYPE_CHECKING:
    from rlaif_audit.auditing.auditor import AuditContext
    from rlaif_audit.loop.run import Run
    from rlaif_audit.reporting.report import AuditorOutcome, Report


def stage_rows(run: Run) -> list[dict[str, Any]]:
    """Time and peak memory of each completed stage, in run order."""
    attempts = run.manifest.get("attempts", {})
    return [{"stage": key, "seconds": rec.get("seconds"), "peak_rss_mb": rec.get("peak_rss_mb"),
             "peak_cuda_mb": rec.get("peak_cuda_mb"), "attempts": attempts.get(key, 1)}
            for key, rec in run.manifest.get("stages", {}).items()]


def run_section(run: Run, generation: int) -> dict[str, Any]:
    """What the loop adds to report.json: where things are, stage timings, reward-model and policy training."""
    from rlaif_audit.loop.stages import STAGE_NAMES

    outputs = {stage: run.stage_outputs(generation, stage) for stage in STAGE_NAMES if run.is_done(generation, stage)}
    return {
        "name": run.folder.name, "folder": str(run.folder.resolve()), "generation": generation,
        "manifest": str((run.folder / MANIFEST).resolve()),
        "checkpoints": {"policy": relative_path(generation, POLICY), "reward_model":
                        relative_path(generation, REWARD_MODEL) if run.config.reward == "model" else None},
        "stages": stage_rows(run),
        "generate": outputs.get("generate", {}),
        "label": outputs.get("label", {}),
        "reward_model": outputs.get("reward_model", {}),
        "policy": outputs.get("policy", {}),
        "seeds": run.manifest.get("seeds", {}),
        "plugin_failures": run.manifest.get("plugin_failures", []),
    }


def build_generation_report(run: Run, generation: int, ctx: AuditContext,
                            results: dict[str, AuditorOutcome]) -> Report:
    """The report of one generation: the evaluator report plus the loop's ``run`` section."""
    from rlaif_audit.loop.ai_feedback import read_pairs_file
    from rlaif_audit.records.provenance import data_hash
    from rlaif_audit.reporting.builder import build_report
    from rlaif_audit.reporting.report import to_jsonable

    folder = run.gen_dir(generation)
    pairs = read_pairs_file(folder / PAIRS)
    judged = set(ctx.judgments["pair_id"].astype(str))  # the data hash of the judged pairs, as `label` writes it
    report = build_report(
        ctx, results, pairs=pairs, config=run.config.to_dict(), data_source=str(folder / PAIRS),
        data_hash=data_hash(pair for pair in pairs if pair.id in judged), judgments_path=folder / JUDGMENTS,
        title=f"RLAIF run {run.folder.name}, generation {generation}: evaluator and policy audit")
    report.run = to_jsonable(run_section(run, generation))
    return report


def model_card(run: Run, generation: int, report: Report, subject: str, folder: Path | None = None) -> str:
    """A checkpoint's README.md through the one model-card home (reporting.model_card): the loop's intro when
    the card is new, the RLAIF audit section between its markers, the report's PNG figures beside it."""
    from rlaif_audit.reporting.model_card import CardFacts, checkpoint_card, checkpoint_facts, hub_id

    config = run.config
    if subject == "policy":
        against = "a reward model trained on AI preferences" if config.reward == "model" else "the evaluator (d-RLAIF)"
        what = f"Policy RL-tuned with TRL {config.algorithm.upper()} against {against}"
    else:
        what = ("Reward model (sequence classification, 1 label) trained with TRL RewardTrainer on position-debiased "
                "AI preferences")
    tags = ["rlaif", "trl", config.algorithm if subject == "policy" else "reward-model"]
    starting = hub_id(config.policy) or Path(str(config.policy)).name
    intro = (f"# {run.folder.name} gen-{generation} {subject}\n\n{what}. Evaluator: `{config.evaluator}`; "
             f"starting policy: `{starting}`; seed {config.seed}. The full audit is in `report.md`, `report.html` "
             "and `report.json` beside this file; the run manifest is `../../manifest.json`.\n")
    where = folder if folder is not None else run.folder / "_none"
    facts = checkpoint_facts(where, report, base_model=hub_id(config.policy), tags=tags) if folder is not None \
        else CardFacts(model_name=f"{run.folder.name}-gen{generation}", base_model=hub_id(config.policy), tags=tags)
    facts.library_name = facts.library_name or "transformers"
    return checkpoint_card(where, report, facts, run.pm, where, intro=intro)


OS_ERRORS = frozenset(cls.__name__ for cls in (OSError, PermissionError, FileNotFoundError, IsADirectoryError,
                                               NotADirectoryError, FileExistsError, BlockingIOError))


def check_report_writes(report: Report, folder: Path) -> None:
    """A report format that could not write its file (disk full, permission denied) ends the stage with a
    :class:`rlaif_audit.loop.run.RunWriteError` naming the folder and the error, never a warning and exit 0 (a
    format that fails otherwise is a plugin bug: recorded in the report, the others written)."""
    from rlaif_audit.loop.run import RunWriteError

    for failure in getattr(report, "report_errors", None) or []:
        if failure.error.split(":", 1)[0] in OS_ERRORS:
            raise RunWriteError(f"cannot write the {failure.format} report in {folder}: {failure.error}. Completed "
                                "stages are kept; free space or fix the permissions, then continue with "
                                "`rlaif-audit run --resume`")


def write_generation_reports(run: Run, generation: int, ctx: AuditContext,
                             results: dict[str, AuditorOutcome]) -> tuple[Report, list[str]]:
    """Write the report into audit/, policy/ and reward_model/, each checkpoint with its model card."""
    from rlaif_audit.reporting.builder import write_report

    report = build_generation_report(run, generation, ctx, results)
    folder = run.gen_dir(generation)
    written = []
    for subject, target in (("audit", AUDIT), ("policy", POLICY), ("reward model", REWARD_MODEL)):
        if not (folder / target).is_dir():
            continue
        for path in write_report(report, folder / target, run.pm).values():
            written.append(str(Path(path).relative_to(run.folder)))
        check_report_writes(report, folder / target)
        if subject != "audit":
            card = model_card(run, generation, report, subject, folder / target)
            atomic_write_text(folder / target / MODEL_CARD, card)
            written.append(str((folder / target / MODEL_CARD).relative_to(run.folder)))
    return report, written
