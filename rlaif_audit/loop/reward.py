"""Stage 3, reward model: TRL RewardTrainer on the AI preferences; held-out accuracy vs AI (and human) labels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.errors import ConfigError
from rlaif_audit.loop.ai_feedback import SCORE_MAX_TOKENS, load_reward_model, score
from rlaif_audit.loop.layout import PREFERENCES, REWARD_MODEL, REWARD_MODEL_CHECKPOINTS
from rlaif_audit.progress import stage_progress
from rlaif_audit.loop.training import (REWARD_MODEL_HUB_SUFFIX, no_final_checkpoint, peft_config, quiet,
                                       remove_stale_saves, save_atomically, save_trained, train_resumably,
                                       trainer_arguments, training_log)
from rlaif_audit.records.fileio import read_jsonl

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run


def wilson(hits: float, n: int) -> dict[str, Any]:
    """A share with its Wilson 95% interval and n, as a metric dict."""
    from rlaif_audit.auditing.stats import proportion_metric

    return proportion_metric(hits, n).to_dict()


def trl_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Preference rows in TRL's conversational prompt / chosen / rejected form (preferences.jsonl holds it)."""
    from rlaif_audit.records.types import assistant_turn, reply_text

    return [{"prompt": row["prompt"], "chosen": assistant_turn(reply_text(row["chosen"])),
             "rejected": assistant_turn(reply_text(row["rejected"]))} for row in rows]


def _reply(context: list[dict[str, str]], reply: str) -> list[dict[str, str]]:
    """A context followed by an assistant reply: the conversation the reward model scores."""
    return [*context, {"role": "assistant", "content": reply}]


def accuracy_vs_ai(model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Share of held-out AI-labeled pairs whose chosen reply the reward model scores higher."""
    from rlaif_audit.records.types import reply_text

    chosen = score(model, tokenizer, [_reply(r["prompt"], reply_text(r["chosen"])) for r in rows])
    rejected = score(model, tokenizer, [_reply(r["prompt"], reply_text(r["rejected"])) for r in rows])
    hits = sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected))
    return wilson(hits, len(rows))


def accuracy_vs_humans(run: Run, model: Any, tokenizer: Any) -> dict[str, Any] | None:
    """Share of human-labeled pairs (human ties excluded) where the reward model prefers the human's choice."""
    from rlaif_audit.judging.labeling import human_p_a
    from rlaif_audit.data.pairs import read_pairs

    if not run.config.human_data:
        return None
    pair_set = read_pairs(run.config.human_data, seed=run.config.seed, limit=run.config.human_limit)
    human = human_p_a(pair_set.labels)
    pairs = [p for p in pair_set.pairs if p.id in human and human[p.id] != 0.5]
    score_a = score(model, tokenizer, [_reply(p.context, p.a) for p in pairs])
    score_b = score(model, tokenizer, [_reply(p.context, p.b) for p in pairs])
    hits = sum(((a > b) == (human[p.id] > 0.5)) if a != b else 0.5 for p, a, b in zip(pairs, score_a, score_b))
    result = wilson(hits, len(pairs))
    result.update({"source": pair_set.source, "data_hash": pair_set.data_hash})
    return result


def _train(run: Run, generation: int, policy: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Train the reward model from the policy's weights (resumably); the main process saves it."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    config, checkpoints = run.config, run.path(generation, REWARD_MODEL_CHECKPOINTS)
    args = RewardConfig(**trainer_arguments(run, checkpoints, run.seed(generation, "reward_model"),
                                            hub_suffix=REWARD_MODEL_HUB_SUFFIX),
                        num_train_epochs=config.rm_epochs, per_device_train_batch_size=config.rm_batch_size,
                        learning_rate=config.rm_learning_rate, max_length=SCORE_MAX_TOKENS)
    tokenizer = AutoTokenizer.from_pretrained(str(policy))
    trainer = quiet(RewardTrainer(model=str(policy), args=args, train_dataset=Dataset.from_list(trl_rows(rows)),
                                  processing_class=tokenizer, callbacks=[no_final_checkpoint()],
                                  peft_config=peft_config(run, "SEQ_CLS")))
    summary = {**train_resumably(trainer, checkpoints), "training_log": training_log(trainer)}
    if run.is_main:
        save_atomically(run.path(generation, REWARD_MODEL), lambda tmp: save_trained(trainer, tokenizer, tmp))
    return summary


@stage_progress("reward_model")
def run_reward_model(run: Run, generation: int) -> dict[str, Any]:
    """Train the reward model on the AI preferences and measure it on held-out pairs (and human labels)."""
    from rlaif_audit.records.provenance import weights_hash

    if run.config.reward == "direct":
        return {"skipped": "reward = direct (d-RLAIF): the evaluator's score is the reward, no reward model"}
    preferences, saved = run.path(generation, PREFERENCES), run.path(generation, REWARD_MODEL)
    remove_stale_saves(run.gen_dir(generation))
    rows = read_jsonl(preferences)
    train = [r for r in rows if r["split"] == "train"]
    held_out = [r for r in rows if r["split"] == "eval"]
    if len(train) < 2:
        raise ConfigError(f"{preferences}: {len(train)} decisive AI-labeled training pairs; a reward model "
                          "needs at least 2 (raise num_prompts or candidates_per_prompt)")
    summary = _train(run, generation, run.input_policy(generation), train)
    if not run.is_main:
        return {}
    model, tokenizer = load_reward_model(saved)
    metrics = {"accuracy_vs_ai": accuracy_vs_ai(model, tokenizer, held_out),
               "accuracy_vs_humans": accuracy_vs_humans(run, model, tokenizer),
               "train_pairs": len(train), "held_out_pairs": len(held_out),
               "human_train_pairs": sum(r.get("label_source") == "human" for r in train), **summary}
    run.notify("on_reward_model", generation, path=str(saved), metrics=metrics)
    return {"path": REWARD_MODEL, "weights_sha256": weights_hash(saved), "metrics": metrics,
            "scratch": [REWARD_MODEL_CHECKPOINTS]}
