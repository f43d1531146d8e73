"""The AI feedback the stages share: the pairs, the pinned evaluator judging them, and the trained reward model.

The label and audit stages judge pairs with the run's evaluator in both orders;
the policy stage rewards with the evaluator (d-RLAIF) or the reward model; the
reward-model and audit stages score conversations with the reward model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.records.fileio import read_jsonl
from rlaif_audit.records.types import PreferencePair

if TYPE_CHECKING:
    from rlaif_audit.judging.evaluator import Evaluator
    from rlaif_audit.loop.run import Run

SCORE_BATCH = 8
SCORE_MAX_TOKENS = 1024  # the reward model's context: trained and scored at this length


def read_pairs_file(path: Path) -> list[PreferencePair]:
    """The preference pairs a generate stage wrote."""
    return [PreferencePair(**row) for row in read_jsonl(path)]


def generation_evaluator(run: Run, generation: int) -> Evaluator:
    """The generation's evaluator, built from the configured plugin and options (pinned across generations)."""
    from rlaif_audit.host import make_evaluator as make

    return make(run.config.evaluator, run.config.evaluator_options, run.pm)


def judge_pairs(run: Run, evaluator: Evaluator, pairs: Sequence[PreferencePair], path: Path) -> dict[str, Any]:
    """Label pairs in both orders into a resumable judgment file (the machinery of `rlaif-audit label`)."""
    from rlaif_audit.judging.labeling import label_pairs

    summary = label_pairs(evaluator, pairs, path, chunk_size=run.config.label_batch_size, progress=run.progress)
    return {"pairs": summary.pairs, "judgments": summary.judgments, "new_judgments": summary.new_judgments,
            "parse_failures": summary.parse_failures, "seconds_judging": round(summary.seconds, 3)}


def debiased_preferences(path: Path) -> dict[str, float]:
    """Pair id → position-debiased P(A ≻ B) from a judgment file (NaN where an order failed)."""
    from rlaif_audit.data.judgment_file import read_judgments
    from rlaif_audit.judging.labeling import debiased_p_a

    return {str(k): float(v) for k, v in debiased_p_a(read_judgments(path)).items()}


def load_reward_model(path: Path) -> tuple[Any, Any]:
    """A trained reward model (eval mode, on the device) and its tokenizer, loaded as the ``reward-model``
    evaluator loads one."""
    from rlaif_audit.judging.models import default_device
    from rlaif_audit.judging.reward_scoring import load_reward_model as load

    model, tokenizer = load(path, "float32")
    return model.to(default_device()), tokenizer


def score(model: Any, tokenizer: Any, conversations: Sequence[list[dict[str, str]]]) -> list[float]:
    """The reward of each whole conversation (context plus final assistant reply), as the ``reward-model``
    evaluator scores it: tokenized as TRL's RewardTrainer does, cut from the left to fit."""
    from rlaif_audit.judging.reward_scoring import conversation_ids, score_all

    texts = [conversation_ids(tokenizer, conv[:-1], conv[-1]["content"], SCORE_MAX_TOKENS) for conv in conversations]
    score_all(model, texts, tokenizer.pad_token_id, SCORE_BATCH)
    return [text.reward for text in texts]
