"""The ``reward-model`` evaluator: a reward model scores each response; P(first) = sigmoid(r_first − r_second)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from rlaif_audit import hookimpl
from rlaif_audit.errors import ConfigError
from rlaif_audit.evaluators import Evaluator, Option
from rlaif_audit.types import JudgeItem, Judgment, Message, verdict_from_p

if TYPE_CHECKING:
    import torch


@dataclass
class Scored:
    """One conversation ending in a response, as the reward model reads it."""

    ids: list[int]
    truncated: int = 0
    reward: float = math.nan


def sigmoid(x: float) -> float:
    """The logistic function, without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    return math.exp(x) / (1.0 + math.exp(x))


def conversation_ids(tokenizer: Any, context: Sequence[Message], response: str, max_length: int) -> Scored:
    """Token ids of context + response as TRL's RewardTrainer builds them, cut from the left to ``max_length``."""
    messages = [*context, {"role": "assistant", "content": response}]
    if getattr(tokenizer, "chat_template", None):
        ids = list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
    else:
        from rlaif_audit.rubric import format_conversation

        ids = tokenizer(format_conversation(messages) + (tokenizer.eos_token or ""))["input_ids"]
    truncated = max(len(ids) - max_length, 0)
    return Scored(ids[truncated:], truncated)


def right_padded(batch: Sequence[Scored], pad_id: int) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask padded on the right, as TRL's preference collator pads."""
    import torch

    width = max(len(s.ids) for s in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, scored in enumerate(batch):
        input_ids[row, : len(scored.ids)] = torch.tensor(scored.ids, dtype=torch.long)
        attention_mask[row, : len(scored.ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def score_all(model: Any, texts: Sequence[Scored], pad_id: int, batch_size: int) -> float:
    """Fill each ``reward`` in length-sorted batches; returns the seconds spent."""
    import torch

    started = time.perf_counter()
    ordered = sorted(texts, key=lambda s: len(s.ids), reverse=True)
    for start in range(0, len(ordered), batch_size):
        batch = ordered[start : start + batch_size]
        with torch.inference_mode():
            inputs = {name: tensor.to(model.device) for name, tensor in right_padded(batch, pad_id).items()}
            rewards = model(**inputs, use_cache=False).logits[:, 0].float()
        for scored, reward in zip(batch, rewards.tolist()):
            scored.reward = reward
    return time.perf_counter() - started


def load_reward_model(path: Path, dtype: str) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) of a one-output sequence-classification model folder."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rlaif_audit.models import torch_dtype

    model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch_dtype(dtype)).eval()
    if model.config.num_labels != 1:
        raise ConfigError(f"Reward model {path} has {model.config.num_labels} outputs; a reward model has one.")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


class RewardModelJudge(Evaluator):
    """A trained reward model as a pairwise judge: P(first) = sigmoid(r_first − r_second), both orders."""

    name = "reward-model"
    description = "A sequence-classification reward model folder scores each response; P(first) = sigmoid(r1 - r2)."
    options = {
        "model": Option("Reward model folder (AutoModelForSequenceClassification, one output)", None),
        "batch_size": Option("Conversations per forward pass (sorted by length)", 8, int),
        "max_length": Option("Most tokens per conversation; the context is cut from the left", 2048, int),
        "dtype": Option("Weights dtype: float32, bfloat16, float16", "float32"),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if not self.config["model"]:
            raise ConfigError("reward-model needs a model folder: -O model=PATH")
        self.model_path = Path(self.config["model"]).expanduser()
        if not (self.model_path / "config.json").is_file():
            raise ConfigError(f"Reward model folder {self.model_path} has no config.json.")
        if self.config["batch_size"] < 1 or self.config["max_length"] < 1:
            raise ConfigError("reward-model: batch_size and max_length must be ≥ 1.")
        self._model: Any = None
        self._tokenizer: Any = None
        self._identity_hash: str | None = None

    def identity(self) -> dict[str, Any]:
        from rlaif_audit.models import tokenizer_hash, weights_hash

        identity = super().identity()
        config = {k: v for k, v in self.config.items() if k != "batch_size"}  # batching changes only float rounding
        identity.update(config={**config, "model": self.model_path.name}, weights_sha256=weights_hash(self.model_path),
                        tokenizer_sha256=tokenizer_hash(self.model_path))
        return identity

    def identity_hash(self) -> str:
        if self._identity_hash is None:
            self._identity_hash = super().identity_hash()
        return self._identity_hash

    def judge(self, items: Sequence[JudgeItem]) -> Iterator[Judgment]:
        """Score every distinct (context, response) once, then yield each item's judgment in input order."""
        if self._model is None:
            self._model, self._tokenizer = load_reward_model(self.model_path, self.config["dtype"])
        texts: dict[str, Scored] = {}
        keys = [(self._key(item, item.first), self._key(item, item.second)) for item in items]
        for item, (first, second) in zip(items, keys):
            for key, response in ((first, item.first), (second, item.second)):
                if key not in texts:
                    texts[key] = conversation_ids(self._tokenizer, item.context, response, self.config["max_length"])
        seconds = score_all(self._model, list(texts.values()), self._tokenizer.pad_token_id, self.config["batch_size"])
        per_item = seconds / max(len(items), 1)
        for item, (first, second) in zip(items, keys):
            yield self._judgment(item, texts[first], texts[second], per_item)

    @staticmethod
    def _key(item: JudgeItem, response: str) -> str:
        return json.dumps([item.context, response], sort_keys=True)

    def _judgment(self, item: JudgeItem, first: Scored, second: Scored, seconds: float) -> Judgment:
        p_first = sigmoid(first.reward - second.reward)
        raw = {"r_first": first.reward, "r_second": second.reward,
               "truncated_tokens": [first.truncated, second.truncated]}
        return Judgment(item.pair_id, item.order, p_first, verdict_from_p(p_first), "ok", json.dumps(raw), seconds,
                        self.name, self.identity_hash())

    def close(self) -> None:
        self._model = None


@hookimpl
def register_evaluators(register: Any) -> None:
    """Register the ``reward-model`` evaluator."""
    register(RewardModelJudge)
