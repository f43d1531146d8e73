"""The ``reward-model`` evaluator: a reward model scores each response; P(first) = sigmoid(r_first − r_second)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Sequence

from rlaif_audit import hookimpl
from rlaif_audit.errors import ConfigError
from rlaif_audit.judging.evaluator import Evaluator, Option
from rlaif_audit.judging.models import DTYPE_OPTION
from rlaif_audit.judging.reward_scoring import Scored, conversation_ids, load_reward_model, score_all
from rlaif_audit.records.preference import verdict_from_p
from rlaif_audit.records.types import JudgeItem, Judgment


class RewardModelJudge(Evaluator):
    """A trained reward model as a pairwise judge: P(first) = sigmoid(r_first − r_second), both orders."""

    name = "reward-model"
    description = "A sequence-classification reward model folder scores each response; P(first) = sigmoid(r1 - r2)."
    pointwise = True
    options = {
        "model": Option("Reward model folder (AutoModelForSequenceClassification, one output)", None),
        "batch_size": Option("Conversations per forward pass (sorted by length)", 8, int),
        "max_length": Option("Most tokens per conversation; the context is cut from the left", 2048, int),
        "dtype": DTYPE_OPTION,
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
        from rlaif_audit.records.provenance import tokenizer_hash, weights_hash

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
        self._load()
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

    def score_responses(self, contexts: Sequence[list[dict[str, str]]], responses: Sequence[str]) -> list[float | None]:
        """The reward model's score r of each response (the pointwise reward; P(first) is sigmoid(r1 − r2))."""
        self._load()
        texts = [conversation_ids(self._tokenizer, context, response, self.config["max_length"])
                 for context, response in zip(contexts, responses)]
        score_all(self._model, texts, self._tokenizer.pad_token_id, self.config["batch_size"])
        return [text.reward for text in texts]

    def _load(self) -> None:
        if self._model is None:
            self._model, self._tokenizer = load_reward_model(self.model_path, self.config["dtype"])

    @staticmethod
    def _key(item: JudgeItem, response: str) -> str:
        return json.dumps([item.context, response], sort_keys=True)

    def _judgment(self, item: JudgeItem, first: Scored, second: Scored, seconds: float) -> Judgment:
        from rlaif_audit.auditing.estimators import sigmoid

        p_first = float(sigmoid(first.reward - second.reward))
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
