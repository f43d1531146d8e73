"""``AuditCallback``: the policy-side audit of a user's own TRL training, every N steps and beside each checkpoint.

At each audit the callback samples the current policy and the reference policy (the model as training began, or a
folder given) on a held-out prompt set with the same seeds, measures the exact KL along the policy's samples, has
a pinned evaluator judge policy vs reference in both orders, optionally scores both with a reward model, and runs
the auditors on that (reward hacking, length drift, mode collapse, policy KL, plus the evaluator auditors that
apply), with the trainer's logged reward, KL and completion length as the training trends. The sampling, KL,
preference and reward-model functions are the ones the loop's audit stage uses (``rlaif_audit.loop.audit``).
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any, Sequence

from transformers import TrainerCallback

from rlaif_audit.errors import ConfigError
from rlaif_audit.records.types import PreferencePair

AUDIT_FOLDER = "rlaif-audit"
"""The report folder the callback writes inside each ``checkpoint-N/`` (and under ``output_dir`` per audit)."""
JUDGMENTS_FILE = "judgments.jsonl"
PAIRS_FILE = "pairs.jsonl"
SAMPLES_FILE = "policy_samples.jsonl"
DEFAULT_AUDITORS = ("reward-hacking", "length-drift", "mode-collapse", "policy-kl", "position", "length")
"""The auditors a training audit runs unless told otherwise (plus those filling a report section of their own):
the loop-only ones (run stages, the loop's reward model, propagation) and those needing human labels have no
input here."""


def prompt_rows(prompts: Any) -> list[dict[str, Any]]:
    """Held-out prompts (texts, ``{"prompt", "id"}`` dicts, or a dataset with a ``prompt`` column) as id/prompt rows."""
    rows = []
    for index, prompt in enumerate(prompts):
        record = prompt if isinstance(prompt, dict) else {"prompt": prompt}
        text = record.get("prompt")
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"AuditCallback prompts: item {index} needs a non-empty text 'prompt', got {text!r} "
                              "(held-out prompts are plain user texts)")
        rows.append({"id": str(record.get("id", f"p{index}")), "prompt": text})
    if not rows:
        raise ConfigError("AuditCallback needs at least one held-out prompt")
    return rows


def audit_pairs(step: int, rows: Sequence[dict[str, Any]]) -> list[PreferencePair]:
    """Policy sample (A) vs reference sample (B) for the same prompt and sample index, named by the step."""
    from rlaif_audit.loop.prompts import messages

    return [PreferencePair(id=f"step{step}-{r['prompt_id']}-s{r['sample']}", context=messages(r["prompt"]),
                           a=r["policy_text"], b=r["reference_text"],
                           metadata={"prompt_id": r["prompt_id"], "generator_a": f"step-{step}/policy",
                                     "generator_b": "reference"})
            for r in rows]


def frozen_copy(model: Any) -> Any:
    """A frozen copy of the model as it is now: built afresh from its config and loaded with its weights.

    Not ``copy.deepcopy``: TRL's GRPO trainer patches the instance's ``forward`` with a closure over the original
    bound method, so a deep copy would still run the trained weights (its KL to the policy would read 0).
    """
    reference = type(model)(copy.deepcopy(model.config))
    reference.load_state_dict(model.state_dict())
    parameter = next(model.parameters())
    return reference.to(device=parameter.device, dtype=parameter.dtype).eval().requires_grad_(False)


class AuditCallback(TrainerCallback):
    """A ``transformers.TrainerCallback`` (TRL GRPO/RLOO/DPO…) that audits the policy during training.

    ``prompts``: the held-out prompts. ``evaluator`` and ``evaluator_options``: the pinned evaluator (any registered
    name). Audits run every ``every_n_steps`` optimiser steps (0: never) into ``output_dir/rlaif-audit/step-N/``
    (``output_dir`` defaults to the trainer's), and at each save into ``checkpoint-N/rlaif-audit/``. The reference
    policy is ``reference_model`` (a folder) or a frozen copy of the model as training began. ``reward_model``: a
    sequence-classification folder whose score gain is set against the evaluator's win rate.
    """

    def __init__(self, prompts: Any, evaluator: str = "hf-judge", evaluator_options: dict[str, Any] | None = None, *,
                 every_n_steps: int = 0, on_save: bool = True, samples_per_prompt: int = 2,
                 max_new_tokens: int = 64, temperature: float = 1.0, top_p: float = 1.0, batch_size: int = 8,
                 seed: int = 0, reference_model: str | Path | None = None, reward_model: str | Path | None = None,
                 auditors: Sequence[str] | None = None, report_formats: Sequence[str] | None = None,
                 n_bootstrap: int = 500, output_dir: str | Path | None = None, pm: Any = None) -> None:
        from rlaif_audit.host import auditors as auditor_registry
        from rlaif_audit.host import evaluators, get_plugin_manager

        self.pm = pm or get_plugin_manager()
        evaluators(self.pm).get(evaluator)  # an unknown name fails now, before training, naming the valid ones
        for name in auditors or ():
            auditor_registry(self.pm).get(name)
        self.prompts = prompt_rows(prompts)
        self.evaluator_name, self.evaluator_options = evaluator, dict(evaluator_options or {})
        self.every_n_steps, self.audit_on_save = every_n_steps, on_save
        self.sampling = {"n": samples_per_prompt, "temperature": temperature, "top_p": top_p,
                         "max_new_tokens": max_new_tokens, "batch_size": batch_size, "seed": seed}
        self.reference_model, self.reward_model = reference_model, reward_model
        self.auditors, self.report_formats = list(auditors or DEFAULT_AUDITORS), report_formats
        self.n_bootstrap, self.output_dir = n_bootstrap, output_dir
        self.log: list[dict[str, Any]] = []
        self.reports: dict[int, Path] = {}
        """Step → the report folder of each audit run so far."""
        self._reference: tuple[Any, Any] | None = None
        self._evaluator: Any = None

    # ------------------------------------------------------------------------------------------ trainer events

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None,
                       **_: Any) -> None:
        if state.is_world_process_zero and self._reference is None:
            self._reference = self._reference_policy(model, processing_class)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
        if state.is_world_process_zero and logs and "train_runtime" not in logs:
            from rlaif_audit.loop.training import log_row

            self.log.append(log_row(state.global_step, logs))

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None,
                    **_: Any) -> None:
        step = int(state.global_step)
        if state.is_world_process_zero and self.every_n_steps and step % self.every_n_steps == 0:
            folder = Path(self.output_dir or args.output_dir) / AUDIT_FOLDER / f"step-{step}"
            self.audit(step, model, processing_class, folder)

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None,
                **_: Any) -> None:
        step = int(state.global_step)
        checkpoint = Path(args.output_dir) / f"checkpoint-{step}"
        if not (state.is_world_process_zero and self.audit_on_save and checkpoint.is_dir()):
            return
        target = checkpoint / AUDIT_FOLDER
        if step in self.reports and self.reports[step] != target:  # audited at this step already: copy the report
            shutil.copytree(self.reports[step], target, dirs_exist_ok=True)
        else:
            self.audit(step, model, processing_class, target)

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self._evaluator is not None:
            self._evaluator.close()
            self._evaluator = None

    # ----------------------------------------------------------------------------------------------- audit

    def _reference_policy(self, model: Any, tokenizer: Any) -> tuple[Any, Any]:
        if self.reference_model is not None:
            from rlaif_audit.loop.sampling import load_policy

            return load_policy(Path(self.reference_model))
        if model is None or tokenizer is None:
            raise ConfigError("AuditCallback: the trainer passed no model or tokenizer; give reference_model=PATH")
        return frozen_copy(model), tokenizer

    def audit(self, step: int, model: Any, tokenizer: Any, folder: Path) -> Path:
        """Sample, judge and audit the current policy against the reference; write the report into ``folder``."""
        from rlaif_audit.loop.audit import add_kl, attach_preferences, sample_rows
        from rlaif_audit.records.fileio import write_jsonl

        if self._reference is None:
            self._reference = self._reference_policy(model, tokenizer)
        if getattr(tokenizer, "pad_token", "") is None:
            tokenizer.pad_token = tokenizer.eos_token
        folder.mkdir(parents=True, exist_ok=True)
        policy, was_training = (model, tokenizer), model.training
        model.eval()
        try:
            sampling = dict(self.sampling)
            rows = sample_rows(policy, self._reference, self.prompts, sampling.pop("n"), **sampling)
            add_kl(rows, policy, self._reference, self.sampling["temperature"])
        finally:
            model.train(was_training)
        pairs = audit_pairs(step, rows)
        write_jsonl(folder / PAIRS_FILE, [pair.to_dict() for pair in pairs])
        self._judge(pairs, folder / JUDGMENTS_FILE)
        attach_preferences(rows, pairs, folder / JUDGMENTS_FILE)
        if self.reward_model is not None:
            self._score(rows)
        write_jsonl(folder / SAMPLES_FILE, rows)
        self._report(step, rows, pairs, folder)
        self.reports[step] = folder
        return folder

    def _judge(self, pairs: list[PreferencePair], path: Path) -> None:
        from rlaif_audit.data.judgment_file import write_identity
        from rlaif_audit.host import make_evaluator
        from rlaif_audit.judging.labeling import label_pairs

        if self._evaluator is None:
            self._evaluator = make_evaluator(self.evaluator_name, self.evaluator_options, self.pm)
        evaluator = self._evaluator
        label_pairs(evaluator, pairs, path, progress=False)
        write_identity(path, evaluator.name, evaluator.identity_hash(), evaluator.identity())

    def _score(self, rows: list[dict[str, Any]]) -> None:
        from rlaif_audit.loop.ai_feedback import load_reward_model
        from rlaif_audit.loop.audit import score_sides

        score_sides(rows, *load_reward_model(Path(str(self.reward_model))))

    def _report(self, step: int, rows: list[dict[str, Any]], pairs: list[PreferencePair], folder: Path) -> None:
        from rlaif_audit.auditing.auditor import POLICY_OPTION
        from rlaif_audit.auditing.context import build_context
        from rlaif_audit.auditing.runner import run_auditors
        from rlaif_audit.data.inputs import AuditInputs
        from rlaif_audit.reporting.builder import build_report, write_report

        policy = {"samples": rows, "log": list(self.log), "reward": "model" if self.reward_model else "trainer",
                  "reward_model": None, "stages": [], "generation": step}
        inputs = AuditInputs.from_pairs(folder / JUDGMENTS_FILE, pairs, [], str(folder / PAIRS_FILE))
        ctx = build_context(inputs, seed=int(self.sampling["seed"]), n_bootstrap=self.n_bootstrap,
                            options={POLICY_OPTION: policy})
        config = {"evaluator": self.evaluator_name, "evaluator_options": self.evaluator_options, "step": step,
                  "prompts": len(self.prompts), **self.sampling, "auditors": self.auditors,
                  "reference_model": str(self.reference_model) if self.reference_model else "initial policy",
                  "reward_model": str(self.reward_model) if self.reward_model else None}
        report = build_report(ctx, run_auditors(ctx, self.pm, self.auditors), pairs=pairs, config=config,
                              data_source=inputs.source, data_hash=inputs.data_hash,
                              judgments_path=inputs.judgments_path, judgments_hash=inputs.judgments_hash,
                              title=f"Policy audit at training step {step} (rlaif-audit AuditCallback)")
        write_report(report, folder, self.pm, self.report_formats)
