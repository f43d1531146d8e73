"""The fast sampling path: a KV-cache decode loop over many prompts × candidates, finished rows dropped each step.

Each call prefills every prompt once, copies its cache K times (the K candidates), then decodes one token per step
for the rows still running; a row that emits an end token or reaches ``max_new_tokens`` leaves the batch, so no
step is spent on finished rows. Sampling applies transformers' warpers in their order (temperature, top-k, top-p)
on a top-k prefilter of the vocabulary instead of a full sort (see :func:`sample_next`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

PREFILTER_K = 64  # candidates taken by torch.topk before top-p; rows whose nucleus is wider fall back to a full sort


@dataclass(frozen=True)
class Sampling:
    """The sampling settings: ``temperature == 0`` means greedy (argmax), ``top_k == 0`` no top-k cut."""

    temperature: float
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 48
    prefilter_k: int = PREFILTER_K


def _nucleus(probs: Any, top_p: float) -> Any:
    """``probs`` (sorted descending per row) with the tokens outside the top-p nucleus set to 0.

    transformers' TopPLogitsWarper removes a token when the ascending cumulative probability up to and including it
    is <= 1 − top_p, i.e. when the probability of the tokens ranked above it is >= top_p; the top token is kept.
    """
    import torch

    above = torch.cumsum(probs, dim=-1) - probs
    keep = above < top_p
    keep[:, 0] = True
    return probs * keep


def _full_sort_probs(scores: Any, settings: Sampling) -> tuple[Any, Any]:
    """(probabilities, token ids) of every token, sorted, after top-p: the exact path for a wide nucleus."""
    import torch

    values, indices = torch.sort(scores, dim=-1, descending=True)
    probs = torch.softmax(values, dim=-1)
    return (_nucleus(probs, settings.top_p) if settings.top_p < 1 else probs), indices


def sample_next(logits: Any, settings: Sampling, generator: Any) -> Any:
    """One next token per row (shape [rows]) from the last-position logits [rows, vocab].

    Same distribution as transformers' temperature → top-k → top-p warpers followed by multinomial sampling:
    the top ``top_k`` (else ``prefilter_k``) logits are taken with ``torch.topk`` (partial selection, no full sort) and
    normalised against the whole vocabulary's log-sum-exp (or the top-k's when top_k > 0, as TopKLogitsWarper
    does); a row whose top candidates hold less than ``top_p`` of the mass, so that the nucleus may reach beyond
    them, is redone with a full sort. Only rounding (the order of the float sums) and the order of exactly tied
    logits can differ from transformers.
    """
    import torch

    if settings.temperature == 0:
        return logits.argmax(dim=-1)
    scores = logits.float() / settings.temperature
    vocab = scores.shape[-1]
    if settings.top_k == 0 and settings.top_p >= 1:
        return torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)[:, 0]
    width = min(settings.top_k or max(settings.prefilter_k, 1), vocab)
    values, indices = torch.topk(scores, width, dim=-1)
    total = values if settings.top_k else scores
    probs = torch.exp(values - torch.logsumexp(total, dim=-1, keepdim=True))
    wide = (probs.sum(dim=-1) < settings.top_p) if not settings.top_k else torch.zeros_like(probs[:, 0], dtype=bool)
    if settings.top_p < 1:
        probs = _nucleus(probs, settings.top_p)
    picked = indices.gather(1, torch.multinomial(probs, 1, generator=generator))[:, 0]
    if wide.any():
        rows = wide.nonzero()[:, 0]
        wide_probs, wide_ids = _full_sort_probs(scores[rows], settings)
        picked[rows] = wide_ids.gather(1, torch.multinomial(wide_probs, 1, generator=generator))[:, 0]
    return picked


def _left_pad(prompts: Sequence[Sequence[int]], pad_id: int, device: Any) -> tuple[Any, Any, Any]:
    """Input ids, attention mask and position ids of prompts padded on the left (positions as generate sets them)."""
    import torch

    width = max(len(ids) for ids in prompts)
    ids = torch.tensor([[pad_id] * (width - len(row)) + list(row) for row in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in prompts], device=device)
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
    return ids, mask, positions


class _Rows:
    """The decode batch's running rows: their output slots, attention mask, next positions and tokens so far."""

    def __init__(self, mask: Any, positions: Any) -> None:
        import torch

        self.slots = torch.arange(mask.shape[0], device=mask.device)
        self.mask = mask
        self.next_position = positions[:, -1] + 1
        self.tokens: list[list[int]] = [[] for _ in range(mask.shape[0])]

    def keep(self, running: Any, cache: Any) -> None:
        """Drop the finished rows from the slots, the mask, the positions and the KV cache."""
        self.slots, self.mask, self.next_position = self.slots[running], self.mask[running], self.next_position[running]
        cache.batch_select_indices(running)


def decode(model: Any, prompts: Sequence[Sequence[int]], n: int, settings: Sampling, *, stop_ids: Sequence[int],
           pad_id: int, generator: Any) -> list[list[list[int]]]:
    """``n`` responses per prompt (new token ids, without the end token), all rows decoded in one batch."""
    import torch
    from transformers import DynamicCache

    device = model.device
    ids, mask, positions = _left_pad(prompts, pad_id, device)
    cache = DynamicCache(config=model.config)
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache,
                       use_cache=True, logits_to_keep=1).logits[:, -1]
        if n > 1:
            cache.batch_repeat_interleave(n)
            logits, mask, positions = (t.repeat_interleave(n, dim=0) for t in (logits, mask, positions))
        rows, stops = _Rows(mask, positions), torch.tensor(list(stop_ids), device=device)
        for step in range(settings.max_new_tokens):
            token = sample_next(logits, settings, generator)
            for slot, value in zip(rows.slots.tolist(), token.tolist()):
                if value not in stop_ids:
                    rows.tokens[slot].append(value)
            running = ~torch.isin(token, stops)
            if step + 1 == settings.max_new_tokens or not running.any():
                break
            if not running.all():
                rows.keep(running, cache)
                token = token[running]
            rows.mask = torch.cat([rows.mask, rows.mask.new_ones(rows.mask.shape[0], 1)], dim=1)
            logits = model(input_ids=token[:, None], attention_mask=rows.mask,
                           position_ids=rows.next_position[:, None], cache=cache, use_cache=True).logits[:, -1]
            rows.next_position = rows.next_position + 1
    return [rows.tokens[index * n:(index + 1) * n] for index in range(len(prompts))]
