"""What `rlaif-audit run --resume` finds in a run folder before any work: the stages already complete (skipped),
the stage it continues with and what that stage resumes from (a TRL checkpoint or a partial judgment file)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlaif_audit.loop import layout
from rlaif_audit.loop.stages import RUN_STAGES, STAGE_NAMES

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run

CHECKPOINTS: dict[str, tuple[str, str]] = {
    "reward_model": (layout.REWARD_MODEL_CHECKPOINTS, "the reward model"),
    "policy": (layout.POLICY_CHECKPOINTS, "the policy"),
}
"""Stage → (its TRL checkpoint folder in the generation, what it trains)."""
PARTIAL_JUDGMENTS: dict[str, tuple[str, ...]] = {
    "probes": (layout.PROBE_JUDGMENTS, layout.SELF_PREFERENCE, layout.SELF_PREFERENCE_REFERENCE),
    "label": (layout.JUDGMENTS,),
    "audit": (layout.AUDIT_JUDGMENTS,),
}
"""Stage → the resumable judgment files it appends to (relative to the generation's folder)."""


def resume_from(run: Run, generation: int, stage: str) -> dict[str, Any] | None:
    """What an unfinished stage continues from: its newest complete TRL checkpoint, else the judgments its
    judgment files already hold, else None (it starts afresh)."""
    from rlaif_audit.data.judgment_file import count_judgments
    from rlaif_audit.loop.training import last_checkpoint

    if stage in CHECKPOINTS:
        folder, trains = CHECKPOINTS[stage]
        checkpoint = last_checkpoint(run.path(generation, folder), remove_incomplete=False)
        if checkpoint is not None:
            return {"checkpoint": checkpoint.name, "of": trains, "path": layout.relative_path(generation, folder)}
    files = [name for name in PARTIAL_JUDGMENTS.get(stage, ()) if run.path(generation, name).is_file()]
    counts = {layout.relative_path(generation, name): count_judgments(run.path(generation, name)) for name in files}
    if any(counts.values()):
        return {"judgments": sum(counts.values()), "files": {k: v for k, v in counts.items() if v}}
    return None


def generation_state(run: Run, generation: int) -> dict[str, Any]:
    """A generation's completed stages, the stage it continues with (None: all done) and what that resumes from."""
    done = [stage for stage in STAGE_NAMES if run.is_done(generation, stage)]
    pending = [stage for stage in STAGE_NAMES if stage not in done]
    state: dict[str, Any] = {"done": done, "next": pending[0] if pending else None}
    if pending:
        state["from"] = resume_from(run, generation, pending[0])
    return state


def resume_record(run: Run, time: str) -> dict[str, Any]:
    """The manifest's ``resumed`` entry of this resume: its time, each generation's and the run-level stages'
    state, and the stage the run continues with (``gen-0/reward_model``; None when every stage is done)."""
    generations = {layout.generation_folder(g): generation_state(run, g) for g in range(run.config.generations)}
    run_done = [stage.name for stage in RUN_STAGES if run.is_done(None, stage.name)]
    run_pending = [stage.name for stage in RUN_STAGES if stage.name not in run_done]
    continues = next(((key, state) for key, state in generations.items() if state["next"]), None)
    if continues is not None:
        next_key, source = f"{continues[0]}/{continues[1]['next']}", continues[1]["from"]
    else:
        next_key, source = (layout.stage_key(None, run_pending[0]) if run_pending else None), None
    return {"time": time, "generations": generations,
            "run": {"done": run_done, "next": run_pending[0] if run_pending else None},
            "continues_with": next_key, "continues_from": source}


def resume_time(entry: Any) -> str:
    """The time of a ``resumed`` entry: an ISO time string (manifests before the entries became objects) or an
    object's ``time``."""
    return entry if isinstance(entry, str) else str(entry.get("time", ""))


def source_text(source: dict[str, Any] | None) -> str:
    """How an unfinished stage continues: 'resumes from checkpoint-2 of the reward model', 'resumes from a partial
    judgment file (14 judgments already there)' or 'starts afresh'."""
    if not source:
        return "starts afresh"
    if "checkpoint" in source:
        return f"resumes from {source['checkpoint']} of {source['of']}"
    files = ", ".join(source["files"])
    return f"resumes from a partial judgment file ({source['judgments']} judgments already there: {files})"


def _state_line(scope: str, done: list[str], pending: str | None, source: dict[str, Any] | None) -> str:
    """One line: the scope's skipped stages, then the stage it continues with."""
    parts = [f"{', '.join(done)} done (skipped)"] if done else []
    if pending is not None:
        parts.append(f"{pending} {source_text(source)}" if done or source else "not started")
    return f"{scope}: {'; '.join(parts)}"


def resume_lines(entry: dict[str, Any]) -> list[str]:
    """The lines `run --resume` prints before any work, from its ``resumed`` entry: one per generation, one for the
    run-level stages, and the stage it continues with."""
    lines = [_state_line(key, state["done"], state["next"], state.get("from"))
             for key, state in entry["generations"].items()]
    lines.append(_state_line(layout.RUN_SCOPE, entry["run"]["done"], entry["run"]["next"], None))
    if entry["continues_with"] is None:
        lines.append("every stage is done: nothing to resume")
    else:
        lines.append(f"continuing with {entry['continues_with']}, which {source_text(entry['continues_from'])}")
    return lines
