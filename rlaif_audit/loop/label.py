"""Stage 2, label: the evaluator judges each candidate pair in both orders; debiased AI preferences result."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.errors import ConfigError
from rlaif_audit.loop.generate import PAIRS, read_pairs_file
from rlaif_audit.records.fileio import read_jsonl, write_jsonl
from rlaif_audit.records.types import PreferencePair

if TYPE_CHECKING:
    from rlaif_audit.judging.evaluator import Evaluator
    from rlaif_audit.loop.run import Run

JUDGMENTS = "judgments.jsonl"
PREFERENCES = "preferences.jsonl"


def generation_evaluator(run: Run, generation: int) -> Evaluator:
    """The generation's evaluator, built from the configured plugin and options (pinned across generations)."""
    from rlaif_audit.host import make_evaluator as make

    return make(run.config.evaluator, run.config.evaluator_options, run.pm)


def judge_pairs(run: Run, evaluator: Evaluator, pairs: Sequence[PreferencePair], path: Any) -> dict[str, Any]:
    """Label pairs in both orders into a resumable judgment file (the machinery of `rlaif-audit label`)."""
    from rlaif_audit.judging.labeling import label_pairs

    summary = label_pairs(evaluator, pairs, path, chunk_size=run.config.label_batch_size, progress=run.progress)
    return {"pairs": summary.pairs, "judgments": summary.judgments, "new_judgments": summary.new_judgments,
            "parse_failures": summary.parse_failures, "seconds_judging": round(summary.seconds, 3)}


def debiased_preferences(path: Any) -> dict[str, float]:
    """Pair id → position-debiased P(A ≻ B) from a judgment file (NaN where an order failed)."""
    from rlaif_audit.data.judgment_file import read_judgments
    from rlaif_audit.judging.labeling import debiased_p_a

    return {str(k): float(v) for k, v in debiased_p_a(read_judgments(path)).items()}


def split_of(run: Run, generation: int, pair_id: str) -> str:
    """'eval' for the share rm_eval_fraction of pairs held out to measure the reward model, else 'train'."""
    from rlaif_audit.records.provenance import stable_hash

    draw = int(stable_hash([run.seed(generation, "rm-split"), pair_id], length=8), 16) / 16**8
    return "eval" if draw < run.config.rm_eval_fraction else "train"


def preference_rows(run: Run, generation: int, pairs: Sequence[PreferencePair],
                    p_a: dict[str, float]) -> list[dict[str, Any]]:
    """One row per decisive pair: the chosen and rejected response, P(A ≻ B), and the split it belongs to."""
    rows = []
    for pair in pairs:
        value = p_a.get(pair.id, math.nan)
        if math.isnan(value) or value == 0.5:
            continue
        chosen, rejected = (pair.a, pair.b) if value > 0.5 else (pair.b, pair.a)
        rows.append({"pair_id": pair.id, "prompt_id": pair.metadata.get("prompt_id"), "prompt": pair.context,
                     "chosen": chosen, "rejected": rejected, "p_a": value, "chosen_slot": "a" if value > 0.5 else "b",
                     "split": split_of(run, generation, pair.id)})
    return rows


def run_label(run: Run, generation: int) -> dict[str, Any]:
    """Judge the generation's pairs in both orders; write judgments.jsonl and preferences.jsonl."""
    from rlaif_audit.records.provenance import file_hash

    folder = run.gen_dir(generation)
    pairs = read_pairs_file(folder / PAIRS)
    if not pairs:
        raise ConfigError(f"{folder / PAIRS}: no candidate pairs to label (every pair was identical?)")
    evaluator = generation_evaluator(run, generation)
    try:
        outputs = judge_pairs(run, evaluator, pairs, folder / JUDGMENTS)
        outputs["evaluator"], outputs["evaluator_id"] = evaluator.name, evaluator.identity_hash()
    finally:
        evaluator.close()
    run.notify("on_judgments", generation, judgments=read_jsonl(folder / JUDGMENTS))
    rows = preference_rows(run, generation, pairs, debiased_preferences(folder / JUDGMENTS))
    write_jsonl(folder / PREFERENCES, rows)
    held_out = sum(r["split"] == "eval" for r in rows)
    outputs.update({"judgments_hash": file_hash(folder / JUDGMENTS), "preferences": len(rows),
                    "undecided_pairs": len(pairs) - len(rows), "rm_train_pairs": len(rows) - held_out,
                    "rm_eval_pairs": held_out})
    return outputs
