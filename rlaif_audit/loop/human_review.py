"""The human round trip inside a run: answers imported for an earlier generation's review queue feed the later ones.

`rlaif-audit review import ANSWERS --run RUN --generation G` validates the answers against ``gen-G/audit``'s
review queue and writes them to ``gen-G/review/answers.jsonl``. Every later generation that has not labeled yet
uses all the answers of the generations before it:

* the label stage adds the human-labeled pairs to the reward model's training rows (preferences.jsonl), chosen by
  the export rule of `rlaif-audit export` (:func:`rlaif_audit.data.export.build_export`, human label over the
  AI label), and counts in its marker how many AI labels were overridden and how many pairs were added;
* the audit stage judges those pairs with the generation's evaluator in both orders and runs the agreement
  auditor on them against the human answers (``agreement`` in report.json, with n and CI).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.loop.layout import AUDIT, JUDGMENTS, PAIRS, generation_folder

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.loop.run import Run
    from rlaif_audit.records.types import HumanLabel, PreferencePair
    from rlaif_audit.reporting.report import AuditorOutcome

REVIEW = "review"
ANSWERS = f"{REVIEW}/answers.jsonl"
"""A generation's imported human answers (pair_id, preferred, annotator), relative to its folder."""
REVIEW_QUEUE = f"{AUDIT}/review_queue.jsonl"
"""The review queue a generation's audit stage writes, relative to its folder."""
REVIEW_JUDGMENTS = f"{AUDIT}/human_review.judgments.jsonl"
"""The generation's evaluator's judgments of the earlier generations' human-answered pairs."""
AGREEMENT = "agreement"
"""The auditor (by its registered name, so a plugin that overrides it is used) measured on the answered pairs."""
EXPORT_POLICY = "soft"
"""The export policy of the AI labels, as the label stage decides its own pairs: the debiased P(A), ties dropped."""


@dataclass
class Answered:
    """One earlier generation's imported answers and the pairs they answer."""

    generation: int
    path: Path
    labels: list[HumanLabel]
    pairs: list[PreferencePair]
    answers_hash: str

    def summary(self) -> dict[str, Any]:
        """The marker's record of these answers: where, how many, their hash."""
        return {"generation": self.generation, "answers": f"{generation_folder(self.generation)}/{ANSWERS}",
                "labels": len(self.labels), "pairs": len(self.pairs), "answers_sha256": self.answers_hash}


def answers_file(folder: Path, generation: int) -> Path:
    """``RUN/gen-G/review/answers.jsonl``."""
    return folder / generation_folder(generation) / ANSWERS


def earlier_answers(run: Run, generation: int) -> list[Answered]:
    """The imported answers of every generation before ``generation`` (none imported: an empty list)."""
    return [answered for earlier in range(generation)
            if (answered := read_answered(run.folder, earlier)) is not None]


def read_answered(folder: Path, generation: int) -> Answered | None:
    """A generation's answers and the pairs they answer (from its pairs.jsonl); None when none were imported."""
    from rlaif_audit.data.human_labels import read_human_labels
    from rlaif_audit.loop.ai_feedback import read_pairs_file
    from rlaif_audit.records.provenance import file_hash

    path = answers_file(folder, generation)
    if not path.is_file():
        return None
    labels = list(read_human_labels(path))
    labeled = {label.pair_id for label in labels}
    pairs = [pair for pair in read_pairs_file(folder / generation_folder(generation) / PAIRS) if pair.id in labeled]
    return Answered(generation, path, labels, pairs, file_hash(path))


# ------------------------------------------------------------------------------------- reward-model training rows


def answered_frame(folder: Path, answered: Answered) -> pd.DataFrame:
    """The per-pair audit table (both orders, debiased P(A), human share) of the answered pairs, from their own
    generation's label judgments."""
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.loop.ai_feedback import read_pairs_file

    gen = folder / generation_folder(answered.generation)
    inputs = AuditInputs.from_pairs(gen / JUDGMENTS, read_pairs_file(gen / PAIRS), answered.labels, str(gen / PAIRS))
    pairs = build_context(inputs, n_bootstrap=0).pairs
    return pairs[pairs["n_annotators"] > 0].reset_index(drop=True)


def human_rows(folder: Path, answered: Answered) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Training rows of the answered pairs by the export rule (human over AI), and how many AI labels the humans
    overrode (the pair had a decisive AI label), added (it had none) or dropped (a human tie)."""
    from rlaif_audit.data.export import build_export

    frame = answered_frame(folder, answered)
    with_ai = {row["pair_id"] for row in build_export(frame, EXPORT_POLICY, 0.0, False, False).rows}
    export = build_export(frame, EXPORT_POLICY, 0.0, True, False)
    texts = {pair.id: pair for pair in answered.pairs}
    rows = [preference_row(texts[row["pair_id"]], row, answered.generation) for row in export.rows]
    overridden = sum(row["pair_id"] in with_ai for row in rows)
    return rows, {"overridden": overridden, "added": len(rows) - overridden, "human_ties_dropped": len(export.dropped)}


def preference_row(pair: PreferencePair, row: dict[str, Any], generation: int) -> dict[str, Any]:
    """An exported human-labeled row in the label stage's preferences.jsonl form (always in the training split)."""
    a_chosen = row["chosen"][0]["content"] == pair.a
    p_a = row["p_chosen"] if a_chosen else 1.0 - row["p_chosen"]
    return {"pair_id": row["pair_id"], "prompt_id": pair.metadata.get("prompt_id"), "prompt": row["prompt"],
            "chosen": row["chosen"], "rejected": row["rejected"], "p_a": p_a, "chosen_slot": "a" if a_chosen else "b",
            "split": "train", "label_source": "human", "answered_in": generation_folder(generation)}


def with_human_rows(run: Run, generation: int,
                    ai_rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """This generation's AI preference rows with the earlier generations' human-labeled pairs: a human row replaces
    an AI row of the same pair; the marker's ``human_review`` record (None when no answers were imported)."""
    answered = earlier_answers(run, generation)
    rows = [{**row, "label_source": "ai"} for row in ai_rows]
    if not answered:
        return rows, None
    counts = {"overridden": 0, "added": 0, "human_ties_dropped": 0}
    human: dict[str, dict[str, Any]] = {}
    for answers in answered:
        found, numbers = human_rows(run.folder, answers)
        human.update({row["pair_id"]: row for row in found})
        counts = {key: counts[key] + numbers[key] for key in counts}
    kept = [row for row in rows if row["pair_id"] not in human]
    record = {"answers": [answers.summary() for answers in answered], **counts, "human_train_pairs": len(human),
              "rule": "rlaif-audit export: the human label over the AI label (AI labels: policy "
              f"{EXPORT_POLICY}, tie band 0; human ties dropped)"}
    return kept + list(human.values()), record


# -------------------------------------------------------------------------------------------- agreement auditor


def review_agreement(run: Run, generation: int, results: dict[str, AuditorOutcome]) -> dict[str, Any] | None:
    """Replace the (human-less) agreement outcome of this generation's audit by the agreement of its evaluator with
    the earlier generations' human answers, keeping this generation's review queue; the record of what was used."""
    answered = earlier_answers(run, generation)
    main = results.get(AGREEMENT)
    if not answered or (main is not None and main.status == "ok"):
        return None
    outcome = answered_agreement(run, generation, answered)
    if main is not None:
        outcome.tables["review_queue"] = main.tables.get("review_queue", [])
        outcome.plugin, outcome.description = main.plugin, main.description
    pairs = sum(len(answers.pairs) for answers in answered)
    where = ", ".join(answers.summary()["answers"] for answers in answered)
    outcome.notes.insert(0, f"Human answers: the {pairs} review pairs answered for earlier generations ({where}), "
                         f"judged by this generation's evaluator in both orders ({generation_folder(generation)}/"
                         f"{REVIEW_JUDGMENTS}); this generation's own pairs have no human labels yet.")
    results[AGREEMENT] = outcome
    return {"answers": [answers.summary() for answers in answered], "pairs": pairs, "judgments": REVIEW_JUDGMENTS}


def answered_agreement(run: Run, generation: int, answered: Sequence[Answered]) -> AuditorOutcome:
    """The agreement auditor on the answered pairs, judged by this generation's evaluator."""
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.auditing.readonly import context_view, frozen_context
    from rlaif_audit.auditing.runner import run_one_auditor
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.host import auditors
    from rlaif_audit.loop.ai_feedback import generation_evaluator, judge_pairs

    pairs = [pair for answers in answered for pair in answers.pairs]
    labels = [label for answers in answered for label in answers.labels]
    path = run.path(generation, REVIEW_JUDGMENTS)
    evaluator = generation_evaluator(run, generation)
    try:
        judge_pairs(run, evaluator, pairs, path)
    finally:
        evaluator.close()
    inputs = AuditInputs.from_pairs(path, pairs, labels, str(path))
    ctx = build_context(inputs, seed=run.config.seed, n_bootstrap=run.config.n_bootstrap)
    return run_one_auditor(auditors(run.pm).get(AGREEMENT), context_view(frozen_context(ctx)))
