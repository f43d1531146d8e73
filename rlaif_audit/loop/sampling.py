"""The policy as the stages use it: loaded on the device, prompts as chat inputs, seeded batched sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from rlaif_audit.loop.prompts import messages


def load_policy(path: Path) -> tuple[Any, Any]:
    """A causal LM (eval mode, on the device) and its tokenizer with a pad token."""
    from rlaif_audit.judging.models import default_device, load_causal_lm

    model, tokenizer = load_causal_lm(path)
    return model.to(default_device()), tokenizer


def chat_inputs(tokenizer: Any, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of each prompt as a one-turn chat, ready for the assistant's reply."""
    return [tokenizer.apply_chat_template(messages(p), add_generation_prompt=True, tokenize=True, return_dict=False)
            for p in prompts]


def _pad_left(batch: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """Input ids and attention mask of a batch, padded on the left so every reply starts at the same column."""
    import torch

    width = max(len(ids) for ids in batch)
    ids = torch.tensor([[pad_id] * (width - len(row)) + row for row in batch])
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in batch])
    return ids, mask


def sample_responses(model: Any, tokenizer: Any, prompts: Sequence[str], n: int, *, temperature: float,
                     top_p: float, max_new_tokens: int, batch_size: int, seed: int,
                     progress: bool = False) -> list[list[list[int]]]:
    """``n`` sampled responses (new token ids, up to and without the end token) per prompt.

    Prompts are batched by length to limit padding; each batch is seeded from
    ``seed`` and its index, so the result does not depend on earlier batches. ``progress``: a bar over the prompts
    named by :data:`rlaif_audit.progress.PROGRESS_NAME` (the stage).
    """
    import torch

    from rlaif_audit.progress import progress_bar

    encoded = chat_inputs(tokenizer, prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results: list[list[list[int]]] = [[] for _ in prompts]
    stop_ids = _stop_ids(model, tokenizer)
    bar = progress_bar(len(prompts), progress, "prompt")
    for batch_index, start in enumerate(range(0, len(order), batch_size)):
        members = order[start : start + batch_size]
        ids, mask = _pad_left([encoded[i] for i in members], tokenizer.pad_token_id)
        torch.manual_seed(seed * 1_000_003 + batch_index)
        with torch.inference_mode():
            out = model.generate(input_ids=ids.to(model.device), attention_mask=mask.to(model.device), do_sample=True,
                                 temperature=temperature, top_p=top_p, top_k=0, max_new_tokens=max_new_tokens,
                                 num_return_sequences=n, pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_ids)
        new_tokens = out[:, ids.shape[1]:].tolist()
        for row, tokens in enumerate(new_tokens):
            results[members[row // n]].append(_cut(tokens, stop_ids))
        bar.update(len(members))
    bar.close()
    return results


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """The token ids that end a reply: the generation config's end tokens and the tokenizer's."""
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured] if configured is not None else []
    return sorted({*ids, tokenizer.eos_token_id} - {None})


def _cut(tokens: list[int], stop_ids: list[int]) -> list[int]:
    """A reply's tokens up to, and without, its first end token."""
    for index, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[:index]
    return tokens
