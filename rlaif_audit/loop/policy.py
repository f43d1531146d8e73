"""Stage 4, policy: TRL GRPO (or RLOO) against the reward model, or against the evaluator itself (d-RLAIF)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif_audit.judging.reward_function import EvaluatorReward
from rlaif_audit.loop.ai_feedback import generation_evaluator, load_reward_model
from rlaif_audit.loop.layout import CANDIDATES, POLICY, POLICY_CHECKPOINTS, POLICY_LOG, REWARD_MODEL
from rlaif_audit.progress import stage_progress
from rlaif_audit.loop.prompts import messages, run_prompts
from rlaif_audit.loop.sampling import rollout_arguments
from rlaif_audit.loop.training import (last_checkpoint, log_row, no_final_checkpoint, peft_config, quiet,
                                       read_trainer_log, remove_stale_saves, save_atomically, save_trained,
                                       train_resumably, trainer_arguments)
from rlaif_audit.records.fileio import read_jsonl

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run


def _log_callback(run: Run, generation: int, path: Path) -> Any:
    """A trainer callback that appends each log to ``path`` (fsynced) and calls the on_policy_log hook."""
    from transformers import TrainerCallback

    class PolicyLog(TrainerCallback):
        """Appends each trainer log to policy_log.jsonl and passes it to the on_policy_log hook."""

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
            if not state.is_world_process_zero or not logs or "train_runtime" in logs:
                return
            row = log_row(state.global_step, logs)
            values = {k: v for k, v in row.items() if k != "step"}
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            run.notify("on_policy_log", generation, step=int(state.global_step), logs=values)

    return PolicyLog()


def trim_log(path: Path, checkpoint: Path | None) -> None:
    """Keep only the log rows of steps the resumed checkpoint already holds (the rest are logged again)."""
    if not path.exists():
        return
    step = int(checkpoint.name.split("-")[1]) if checkpoint else 0
    rows = [r for r in read_trainer_log(path) if r["step"] <= step]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def reward_functions(run: Run, generation: int) -> tuple[Any, Any, Any]:
    """(reward function, its processing class, the evaluator to close afterwards or None)."""
    if run.config.reward == "model":
        model, tokenizer = load_reward_model(run.path(generation, REWARD_MODEL))
        return model, tokenizer, None
    candidates = read_jsonl(run.path(generation, CANDIDATES))
    references = {row["prompt_id"]: row["text"] for row in candidates if row["index"] == 0}
    evaluator = generation_evaluator(run, generation)
    # d-RLAIF: reward = 2·P(completion ≻ the input policy's first candidate) − 1, position-debiased
    reward = EvaluatorReward(evaluator, reference_column="prompt_id", references=references, name="d_rlaif")
    return reward, None, evaluator


def _trainer_classes(algorithm: str, rollout_engine: str = "trl") -> tuple[Any, Any]:
    """TRL's config and trainer classes of the configured RL algorithm (rollouts on the fast engine if chosen)."""
    import trl

    config_class, trainer_class = ((trl.RLOOConfig, trl.RLOOTrainer) if algorithm == "rloo"
                                   else (trl.GRPOConfig, trl.GRPOTrainer))
    if rollout_engine == "fast":
        from rlaif_audit.loop.rollouts import fast_trainer_class

        return config_class, fast_trainer_class(trainer_class)
    return config_class, trainer_class


def rl_arguments(config: Any) -> dict[str, Any]:
    """The GRPOConfig/RLOOConfig keys of the run config's RL settings (sizes, sampling, KL, rollout options)."""
    return {"max_steps": config.rl_steps, "per_device_train_batch_size": config.rl_batch_size,
            "num_generations": config.num_generations, "max_completion_length": config.max_new_tokens,
            "temperature": config.temperature, "top_p": config.top_p, "beta": config.beta,
            "learning_rate": config.rl_learning_rate, **rollout_arguments(config)}


def build_trainer(run: Run, generation: int, reward_func: Any, reward_tokenizer: Any) -> tuple[Any, Any]:
    """The configured TRL trainer (GRPO or RLOO) and the policy tokenizer."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    config, policy = run.config, run.input_policy(generation)
    config_class, trainer_class = _trainer_classes(config.algorithm, config.rollout_engine)
    checkpoints = run.path(generation, POLICY_CHECKPOINTS)
    args = config_class(**trainer_arguments(run, checkpoints, run.seed(generation, "policy")), **rl_arguments(config))
    tokenizer = AutoTokenizer.from_pretrained(str(policy))
    prompts = Dataset.from_list([{"prompt": messages(p["prompt"]), "prompt_id": p["id"]}
                                 for p in run_prompts(run, "train")])
    trainer = trainer_class(model=str(policy), reward_funcs=reward_func, args=args, train_dataset=prompts,
                            processing_class=tokenizer, reward_processing_classes=reward_tokenizer,
                            callbacks=[_log_callback(run, generation, run.path(generation, POLICY_LOG)),
                                       no_final_checkpoint()],
                            peft_config=peft_config(run, "CAUSAL_LM"))
    return quiet(trainer), tokenizer


def _log_summary(path: Path) -> dict[str, Any]:
    """The first and last logged reward, KL and completion length of the RL run."""
    rows = [r for r in read_trainer_log(path) if "reward" in r]
    if not rows:
        return {}
    keys = ("reward", "kl", "completions/mean_length")
    return {"first": {k: rows[0].get(k) for k in keys}, "last": {k: rows[-1].get(k) for k in keys}}


@stage_progress("policy")
def run_policy(run: Run, generation: int) -> dict[str, Any]:
    """RL-tune the generation's policy; resumes from the newest complete TRL checkpoint; saves policy/."""
    from rlaif_audit.records.provenance import weights_hash

    log, checkpoints = run.path(generation, POLICY_LOG), run.path(generation, POLICY_CHECKPOINTS)
    remove_stale_saves(run.gen_dir(generation))
    if run.is_main:
        trim_log(log, last_checkpoint(checkpoints))
    reward_func, reward_tokenizer, evaluator = reward_functions(run, generation)
    try:
        trainer, tokenizer = build_trainer(run, generation, reward_func, reward_tokenizer)
        summary = train_resumably(trainer, checkpoints)
    finally:
        if evaluator is not None:
            evaluator.close()
    if not run.is_main:
        return {}
    saved = save_atomically(run.path(generation, POLICY), lambda tmp: save_trained(trainer, tokenizer, tmp))
    return {"path": POLICY, "algorithm": run.config.algorithm, "reward": run.config.reward, **summary,
            "log": _log_summary(log), "weights_sha256": weights_hash(saved), "scratch": [POLICY_CHECKPOINTS]}
