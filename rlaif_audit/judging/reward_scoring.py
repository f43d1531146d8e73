"""Reward-model scoring shared by the ``reward-model`` evaluator and the loop: load, tokenize as TRL does, score."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.errors import ConfigError
from rlaif_audit.records.types import Message

if TYPE_CHECKING:
    import torch


@dataclass
class Scored:
    """One conversation ending in a response, as the reward model reads it."""

    ids: list[int]
    truncated: int = 0
    reward: float = math.nan


def conversation_ids(tokenizer: Any, context: Sequence[Message], response: str, max_length: int) -> Scored:
    """Token ids of context + response as TRL's RewardTrainer builds them, cut from the left to ``max_length``."""
    messages = [*context, {"role": "assistant", "content": response}]
    if getattr(tokenizer, "chat_template", None):
        ids = list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
    else:
        from rlaif_audit.judging.rubric import format_conversation

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

    from rlaif_audit.judging.models import check_model_folder, torch_dtype

    check_model_folder(Path(path), "Reward model: ")
    model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch_dtype(dtype),
                                                               use_safetensors=True).eval()
    if model.config.num_labels != 1:
        raise ConfigError(f"Reward model {path} has {model.config.num_labels} outputs; a reward model has one.")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
