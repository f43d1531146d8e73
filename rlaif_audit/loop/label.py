"""Stage 2, label: the evaluator judges each candidate pair in both orders; debiased AI preferences result."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.errors import ConfigError
from rlaif_audit.loop.ai_feedback import debiased_preferences, generation_evaluator, judge_pairs, read_pairs_file
from rlaif_audit.loop.layout import JUDGMENTS, PAIRS, PREFERENCES
from rlaif_audit.progress import stage_progress
from rlaif_audit.records.fileio import read_jsonl, write_jsonl
from rlaif_audit.records.types import PreferencePair

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run


def split_of(run: Run, generation: int, pair_id: str) -> str:
    """'eval' for the share rm_eval_fraction of pairs held out to measure the reward model, else 'train'."""
    from rlaif_audit.records.provenance import stable_hash

    draw = int(stable_hash([run.seed(generation, "rm-split"), pair_id], length=8), 16) / 16**8
    return "eval" if draw < run.config.rm_eval_fraction else "train"


def preference_rows(run: Run, generation: int, pairs: Sequence[PreferencePair],
                    p_a: dict[str, float]) -> list[dict[str, Any]]:
    """One row per decisive pair in TRL's conversational preference format (``prompt`` messages, ``chosen`` and
    ``rejected`` as one assistant message each, so RewardTrainer and DPOTrainer load the file as is), with P(A ≻ B)
    and the split it belongs to."""
    from rlaif_audit.records.preference import CHOICE_A, CHOICE_B, choice_codes
    from rlaif_audit.records.types import assistant_turn

    rows = []
    for pair in pairs:
        value = p_a.get(pair.id, math.nan)
        choice = choice_codes(value)
        if choice not in (CHOICE_A, CHOICE_B):
            continue
        chosen, rejected = (pair.a, pair.b) if choice == CHOICE_A else (pair.b, pair.a)
        rows.append({"pair_id": pair.id, "prompt_id": pair.metadata.get("prompt_id"), "prompt": pair.context,
                     "chosen": assistant_turn(chosen), "rejected": assistant_turn(rejected), "p_a": value,
                     "chosen_slot": "a" if choice == CHOICE_A else "b", "split": split_of(run, generation, pair.id)})
    return rows


@stage_progress("label")
def run_label(run: Run, generation: int) -> dict[str, Any]:
    """Judge the generation's pairs in both orders; write judgments.jsonl and preferences.jsonl (with the human
    answers imported for earlier generations, :mod:`rlaif_audit.loop.human_review`)."""
    from rlaif_audit.loop.human_review import with_human_rows
    from rlaif_audit.records.provenance import file_hash

    pairs_path, judgments_path = run.path(generation, PAIRS), run.path(generation, JUDGMENTS)
    pairs = read_pairs_file(pairs_path)
    if not pairs:
        raise ConfigError(f"{pairs_path}: no candidate pairs to label (every pair was identical?)")
    evaluator = generation_evaluator(run, generation)
    try:
        outputs = judge_pairs(run, evaluator, pairs, judgments_path)
        outputs["evaluator"], outputs["evaluator_id"] = evaluator.name, evaluator.identity_hash()
    finally:
        evaluator.close()
    run.notify("on_judgments", generation, judgments=read_jsonl(judgments_path))
    rows, human_review = with_human_rows(run, generation,
                                         preference_rows(run, generation, pairs, debiased_preferences(judgments_path)))
    write_jsonl(run.path(generation, PREFERENCES), rows)
    if human_review:
        outputs["human_review"] = human_review
    held_out = sum(r["split"] == "eval" for r in rows)
    ai_rows = sum(r["label_source"] == "ai" for r in rows)
    outputs.update({"judgments_hash": file_hash(judgments_path), "preferences": len(rows),
                    "undecided_pairs": len(pairs) - ai_rows, "rm_train_pairs": len(rows) - held_out,
                    "rm_eval_pairs": held_out})
    return outputs
