"""What the reward-model and policy stages share: TRL arguments, resumable checkpoints, the final atomic save, the
trainer log."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rlaif_audit.records.fileio import make_temp_dir

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


REWARD_MODEL_HUB_SUFFIX = "-reward-model"  # the reward model's Hub repository: <hub_model_id>-reward-model


def hub_arguments(run: Run, hub_suffix: str = "") -> dict[str, Any]:
    """TrainingArguments' Hub keys from the run config (``push_to_hub``, ``hub_model_id``, ``hub_private_repo``)."""
    config = run.config
    if not config.push_to_hub:
        return {"push_to_hub": False}
    return {"push_to_hub": True, "hub_model_id": config.hub_model_id + hub_suffix,
            "hub_private_repo": config.hub_private_repo}


def peft_config(run: Run, task_type: str) -> Any:
    """TRL's ``peft_config``: a peft LoraConfig from the run's lora_* keys (``task_type`` CAUSAL_LM for the policy,
    SEQ_CLS for the reward model, whose new score head is trained in full), or None when ``lora_r`` is 0."""
    config = run.config
    if config.lora_r == 0:
        return None
    from peft import LoraConfig

    targets = config.lora_target_modules
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets[0] if targets == ["all-linear"] else list(targets), task_type=task_type,
                      modules_to_save=["score"] if task_type == "SEQ_CLS" else None)


def device_arguments() -> dict[str, Any]:
    """``use_cpu`` and ``bf16`` as every loop trainer sets them: bfloat16 only on a CUDA GPU that supports it.

    TRL's configs default to ``bf16=True``, which on a CPU autocasts every matmul to bfloat16; on a CPU without
    native bfloat16 (AVX2 only) that runs torch's generic gemm, measured 5.3× slower per GRPO step than float32
    (bench/bench_rollouts.py, docs/run.md), so the CPU trains in the weights' float32.
    """
    import torch

    from rlaif_audit.processes import on_cpu

    cuda = not on_cpu()
    return {"use_cpu": not cuda, "bf16": cuda and torch.cuda.is_bf16_supported()}


def trainer_arguments(run: Run, output_dir: Path, seed: int, hub_suffix: str = "") -> dict[str, Any]:
    """TrainingArguments every loop trainer shares: seeded, checkpointed, quiet, on the GPU when there is one, with
    the run's Hub keys (``hub_suffix`` appended to hub_model_id)."""
    return {
        **hub_arguments(run, hub_suffix), **device_arguments(),
        "output_dir": str(output_dir), "seed": seed, "data_seed": seed, "report_to": list(run.config.report_to),
        "gradient_checkpointing": False, "logging_steps": 1,
        "save_strategy": "steps", "save_steps": run.config.save_steps, "save_total_limit": 1,
        "disable_tqdm": not run.progress, "dataloader_num_workers": 0,
    }


def _complete(checkpoint: Path) -> bool:
    """A checkpoint counts only once the trainer state, written last by transformers, parses."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def last_checkpoint(folder: Path, remove_incomplete: bool = True) -> Path | None:
    """The newest complete TRL checkpoint in ``folder``; newer incomplete ones (killed mid-save) are removed
    (``remove_incomplete``; False: only looked at, as `run --resume` reports what it will resume from)."""
    if not folder.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT.match(p.name)) and p.is_dir()),
                   reverse=True)
    for _, checkpoint in found:
        if _complete(checkpoint):
            return checkpoint
        if remove_incomplete:
            shutil.rmtree(checkpoint, ignore_errors=True)
    return None


def quiet(trainer: Any) -> Any:
    """Keep the progress bar but stop printing every log dict (the loop writes its own logs)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class BarOnly(ProgressCallback):
        """transformers' progress bar without the log lines."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            return None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            from rlaif_audit.progress import PROGRESS_NAME

            super().on_train_begin(args, state, control, **kwargs)
            if getattr(self, "training_bar", None) is not None:
                self.training_bar.set_description_str(PROGRESS_NAME.get())  # the stage: gen-0/reward_model

    had_bar = trainer.pop_callback(ProgressCallback) is not None
    trainer.remove_callback(PrinterCallback)
    if had_bar:
        trainer.add_callback(BarOnly())
    return trainer


def no_final_checkpoint() -> Any:
    """A callback that skips the checkpoint at the last step: the stage saves the final model itself.

    A 135M-parameter checkpoint with AdamW state is about 1.6 GB; writing one
    that is deleted a moment later would cost more than a short training run.
    """
    from transformers import TrainerCallback

    class NoFinalCheckpoint(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step >= state.max_steps:
                control.should_save = False

    return NoFinalCheckpoint()


def train_resumably(trainer: Any, checkpoints: Path) -> dict[str, Any]:
    """Train, continuing from the newest complete checkpoint when an earlier attempt was killed."""
    resume = last_checkpoint(checkpoints)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return {"global_step": int(trainer.state.global_step), "resumed_from": resume.name if resume else None,
            "train_loss": float(result.training_loss)}


def save_atomically(final: Path, save: Callable[[Path], None]) -> Path:
    """Save into a temporary sibling folder, then swap it in: ``final`` is either complete or absent."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(final)  # the user's umask, so colleagues can read a released checkpoint
    try:
        save(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def remove_stale_saves(folder: Path) -> None:
    """Remove temporary save folders left by a killed attempt."""
    if folder.is_dir():
        for path in folder.glob(".*.tmp-*"):
            shutil.rmtree(path, ignore_errors=True)


def save_trained(trainer: Any, tokenizer: Any, folder: Path) -> None:
    """The trained weights (safetensors), tokenizer and training arguments as JSON (no pickle). A LoRA-trained
    model is saved whole, its adapters merged in (``merge_and_unload``), so the next stages load it as any model."""
    if hasattr(trainer.model, "merge_and_unload"):  # a peft model: lora_r > 0
        trainer.model = trainer.model.merge_and_unload()
    trainer.save_model(str(folder))
    tokenizer.save_pretrained(str(folder))
    (folder / "training_args.bin").unlink(missing_ok=True)
    (folder / "training_args.json").write_text(trainer.args.to_json_string(), encoding="utf-8")


def log_row(step: int, logs: dict[str, Any]) -> dict[str, Any]:
    """One trainer log as a row of numbers: ``{"step": step, **numeric values}`` (the policy-side auditors' log)."""
    return {"step": int(step), **{k: float(v) for k, v in logs.items()
                                  if isinstance(v, (int, float)) and not isinstance(v, bool)}}


def training_log(trainer: Any) -> list[dict[str, Any]]:
    """The trainer's logged training steps (``state.log_history`` rows with a loss, a resumed run's included)."""
    return [log_row(entry["step"], entry) for entry in trainer.state.log_history if "loss" in entry and "step" in entry]


def read_trainer_log(path: Path) -> list[dict[str, Any]]:
    """The rows of a trainer log (JSONL, one per logging step); a torn last line (killed mid-write) is ignored."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
