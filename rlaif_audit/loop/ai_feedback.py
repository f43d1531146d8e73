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


PAIR_FIELDS = ("id", "context", "a", "b", "metadata")


def read_pairs_file(path: Path) -> list[PreferencePair]:
    """The preference pairs a generate or probes stage wrote (a probe pair's human ``labels`` are left out)."""
    return [PreferencePair(**{k: row[k] for k in PAIR_FIELDS if k in row}) for row in read_jsonl(path)]


def evaluator_spec(run: Run, generation: int) -> dict[str, Any]:
    """Which evaluator judges a generation, by the run's ``evaluator_succession`` (recorded in the manifest).

    Generation 0 and every generation of a ``pinned`` run: the configured evaluator and options. ``policy``:
    the previous generation's trained policy judging with the same rubric, as ``hf-judge`` (or the configured
    evaluator when it is an hf-judge kind, keeping its options but the model). ``reward-model``: the previous
    generation's trained reward model as the ``reward-model`` evaluator. ``model_from`` is the checkpoint's
    path relative to the run folder (the evaluator's ``model`` option once built).
    """
    from rlaif_audit.default_plugins.evaluators.hf_judge import HFJudge
    from rlaif_audit.host import evaluators
    from rlaif_audit.loop.layout import POLICY, REWARD_MODEL, relative_path

    config, succession = run.config, run.config.evaluator_succession
    if generation == 0 or succession == "pinned":
        return {"succession": succession, "evaluator": config.evaluator, "options": dict(config.evaluator_options),
                "model_from": None}
    if succession == "reward-model":
        return {"succession": succession, "evaluator": "reward-model", "options": {},
                "model_from": relative_path(generation - 1, REWARD_MODEL)}
    registry = evaluators(run.pm)
    configured = registry.items.get(config.evaluator)
    name = config.evaluator if configured is not None and issubclass(configured.cls, HFJudge) else HFJudge.name
    valid = registry.get(name).options
    options = {k: v for k, v in config.evaluator_options.items() if k in valid and k != "model"}
    return {"succession": succession, "evaluator": name, "options": options,
            "model_from": relative_path(generation - 1, POLICY)}


def generation_evaluator(run: Run, generation: int) -> Evaluator:
    """The generation's evaluator (:func:`evaluator_spec`); its identity is recorded in the manifest's
    ``evaluators`` table the first time it is built."""
    from rlaif_audit.host import make_evaluator as make

    spec = evaluator_spec(run, generation)
    options = dict(spec["options"])
    if spec["model_from"]:
        options["model"] = str(run.folder / spec["model_from"])
    evaluator = make(spec["evaluator"], options, run.pm)
    record_identity(run, generation, spec, evaluator)
    return evaluator


def record_identity(run: Run, generation: int, spec: dict[str, Any], evaluator: Evaluator) -> None:
    """The evaluator's spec, identity and identity hash in the manifest (``evaluators["gen-N"]``)."""
    from rlaif_audit.loop.layout import generation_folder
    from rlaif_audit.reporting.report import to_jsonable

    key = generation_folder(generation)
    known = run.manifest.setdefault("evaluators", {}).get(key) or {}
    evaluator_id = evaluator.identity_hash()
    if known.get("evaluator_id") == evaluator_id:
        return
    run.manifest["evaluators"][key] = {**spec, "evaluator_id": evaluator_id,
                                       "identity": to_jsonable(evaluator.identity())}
    run.save_manifest()


def judge_pairs(run: Run, evaluator: Evaluator, pairs: Sequence[PreferencePair], path: Path) -> dict[str, Any]:
    """Label pairs in both orders into a resumable judgment file (the machinery of `rlaif-audit label`)."""
    from rlaif_audit.judging.labeling import label_pairs

    summary = label_pairs(evaluator, pairs, path, chunk_size=run.config.label_batch_size, progress=run.progress,
                          timeout_s=run.config.label_timeout or None)
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
