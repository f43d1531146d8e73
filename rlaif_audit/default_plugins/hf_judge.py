"""The ``hf-judge`` evaluator: a local causal LM's next-token probabilities of the labels 'A' and 'B'.

P(first) = P("A") / (P("A") + P("B")) at the answer position, read in one forward pass
without generating text (the method of the RLAIF paper, Lee et al. 2023).
"""

from __future__ import annotations

import copy
import inspect
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from rlaif_audit import hookimpl
from rlaif_audit.errors import ConfigError
from rlaif_audit.evaluators import Evaluator, Option
from rlaif_audit.rubric import REQUIRED_SLOTS, format_conversation
from rlaif_audit.rubric import load_principles as read_principles
from rlaif_audit.rubric import load_template as read_template
from rlaif_audit.types import JudgeItem, Judgment, verdict_from_p

if TYPE_CHECKING:
    import torch

RESPONSE_SLOTS = ("first", "second")
LABELS = ("A", "B")
MARK = "\ue000"  # private-use character that brackets slot names in the rendered prompt


@dataclass
class Encoded:
    """One judge item as token ids: the template's ``head`` (same for every item), the ``middle`` shared by
    both orders of a pair (the conversation), and the ``suffix`` holding the two responses."""

    item: JudgeItem
    head: list[int]
    middle: list[int]
    suffix: list[int]
    truncated: int = 0
    error: str | None = None

    @property
    def ids(self) -> list[int]:
        return self.head + self.middle + self.suffix


class PromptBuilder:
    """Renders the rubric through the tokenizer's chat template and tokenizes it piece by piece.

    Pieces are tokenized separately, so the conversation can be cut from the left to fit
    ``max_length`` exactly, the template text before the first slot is the same token ids for every
    item, and the tokens before the first response are the same in both orders of a pair.
    """

    def __init__(self, tokenizer: Any, template: str, principles: Sequence[str], max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        bullets = "\n".join(f"- {p}" for p in principles)
        slots = {name: f"{MARK}{name}{MARK}" for name in REQUIRED_SLOTS}
        pieces = self._split(self._wrap(template.format(principles=bullets, **slots)))
        self.head: list[int] = pieces.pop(0) if isinstance(pieces[0], list) else []
        self.pieces = pieces

    def _wrap(self, user_text: str) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            return user_text + "\n"
        messages = [{"role": "user", "content": user_text}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _split(self, text: str) -> list[str | list[int]]:
        """Literal text as token ids, slots as their names."""
        parts = text.split(MARK)
        return [self._tokens(part) if i % 2 == 0 else part for i, part in enumerate(parts) if part or i % 2]

    def _tokens(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode(self, item: JudgeItem) -> Encoded:
        """Token ids of ``item``; the conversation loses tokens from its left to fit ``max_length``."""
        values = {"conversation": format_conversation(item.context), "first": item.first, "second": item.second}
        ids = {name: self._tokens(values[name]) for name in REQUIRED_SLOTS}
        needed = len(self.head) + sum(len(p) if isinstance(p, list) else len(ids[p]) for p in self.pieces)
        overflow = needed - self.max_length
        if overflow > len(ids["conversation"]):
            error = (f"prompt needs {needed - len(ids['conversation'])} tokens without the conversation, more than "
                     f"max_length {self.max_length}; responses are never truncated")
            return Encoded(item, self.head, [], [], error=error)
        truncated = max(overflow, 0)
        ids["conversation"] = ids["conversation"][truncated:]
        middle: list[int] = []
        suffix: list[int] = []
        for piece in self.pieces:
            target = suffix if suffix or piece in RESPONSE_SLOTS else middle
            target.extend(piece if isinstance(piece, list) else ids[piece])
        return Encoded(item, self.head, middle, suffix, truncated)


def label_token_ids(tokenizer: Any) -> list[int]:
    """The single token ids of 'A' and 'B'; an error if either label is several tokens."""
    ids = [tokenizer.encode(label, add_special_tokens=False) for label in LABELS]
    if any(len(i) != 1 for i in ids):
        raise ConfigError(f"The judge's tokenizer splits the labels {LABELS} into {ids}; each must be one token.")
    return [i[0] for i in ids]


def left_pad(rows: Sequence[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) with every row padded on the left to the longest row."""
    import torch

    width = max((len(row) for row in rows), default=0)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        if row:
            input_ids[index, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            attention_mask[index, width - len(row) :] = 1
    return input_ids.to(device), attention_mask.to(device)


def cache_argument(model: Any) -> str | None:
    """The name under which ``model.forward`` takes a KV cache ('cache' in transformers ≥ 5.2x), or None."""
    params = inspect.signature(model.forward).parameters
    return next((name for name in ("cache", "past_key_values") if name in params), None)


def supports_packing(model: Any) -> bool:
    """Whether ``model`` takes a KV cache and a custom 4-D attention mask (eager or SDPA attention)."""
    attention = getattr(model.config, "_attn_implementation", None) or "eager"
    return cache_argument(model) is not None and attention in ("eager", "sdpa")


class Scorer:
    """Label log-probabilities of encoded items: each whole prompt in left-padded, length-sorted batches."""

    def __init__(self, model: Any, pad_id: int, label_ids: Sequence[int], batch_size: int) -> None:
        self.model = model
        self.pad_id = pad_id
        self.label_ids = list(label_ids)
        self.batch_size = batch_size
        self.tokens_computed = 0  # non-pad tokens run through the model

    def batches(self, encoded: Sequence[Encoded]) -> list[list[Encoded]]:
        """Items of similar length together (longest first), so little padding is computed."""
        ordered = sorted(encoded, key=lambda e: len(e.ids), reverse=True)
        return [ordered[i : i + self.batch_size] for i in range(0, len(ordered), self.batch_size)]

    def score(self, batch: Sequence[Encoded]) -> torch.Tensor:
        """log P('A'), log P('B') at the answer position: shape (len(batch), 2)."""
        input_ids, mask = left_pad([e.ids for e in batch], self.pad_id, self.model.device)
        self.tokens_computed += int(mask.sum())
        return self.forward(input_ids, mask)

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor, **cache_kwargs: Any) -> torch.Tensor:
        """Run the new tokens ``input_ids`` (the last columns of ``mask``); logits only at the last position."""
        import torch

        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)[:, -input_ids.shape[1] :]
        attention_mask = None if bool(mask.all()) else mask
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             use_cache=bool(cache_kwargs), logits_to_keep=1, **cache_kwargs)
        return out.logits[:, -1, :].float().log_softmax(-1)[:, self.label_ids]


class PackedScorer(Scorer):
    """Computes what the prompts share once: the template head once per model (kept as a KV cache), and
    each pair's conversation once for both orders.

    One row per pair packs [conversation, responses as 'ab', responses as 'ba'] after the cached head;
    a 4-D attention mask keeps each order from seeing the other and position ids restart for each
    order, so every order gets the numbers of its own prompt (to float rounding, ~1e-6). On 64 hh-rlhf
    pairs this computes 22,460 of the 42,806 prompt tokens (bench/bench_label.py, SmolLM2-135M, CPU).
    Measured there with 1 thread: a second forward from a copied conversation cache instead of packing
    ran at 82% of the raw forward's tokens/s, packing at 87-90% (the dense mask makes each token attend
    over the whole packed row); more pairs a forward (padded) did not help.
    """

    def __init__(self, model: Any, pad_id: int, label_ids: Sequence[int], batch_size: int, head: list[int]) -> None:
        from transformers import DynamicCache

        super().__init__(model, pad_id, label_ids, batch_size)
        self.cache_arg = cache_argument(model)
        self.head = head
        self.head_cache = DynamicCache(config=model.config)
        if head:
            input_ids, mask = left_pad([head], pad_id, model.device)
            self.forward(input_ids, mask, **{self.cache_arg: self.head_cache})
            self.tokens_computed += len(head)

    @staticmethod
    def groups(batch: Sequence[Encoded]) -> list[list[Encoded]]:
        """Items grouped by pair (and shared conversation tokens), in first-seen order."""
        groups: dict[tuple[str, tuple[int, ...]], list[Encoded]] = {}
        for enc in batch:
            groups.setdefault((enc.item.pair_id, tuple(enc.middle)), []).append(enc)
        return list(groups.values())

    def batches(self, encoded: Sequence[Encoded]) -> list[list[Encoded]]:
        """Whole pairs of similar packed length together, ≤ batch_size items (at least one pair) a batch."""
        ordered = sorted(self.groups(encoded), key=lambda g: len(g[0].middle) + sum(len(e.suffix) for e in g),
                         reverse=True)
        batches: list[list[Encoded]] = []
        for group in ordered:
            if batches and len(batches[-1]) + len(group) <= self.batch_size:
                batches[-1].extend(group)
            else:
                batches.append(list(group))
        return batches

    def score(self, batch: Sequence[Encoded]) -> torch.Tensor:
        import torch

        groups = self.groups(batch)
        rows = [Packed.of(group) for group in groups]
        input_ids, segments, positions, ends = packed_rows(rows, self.pad_id, len(self.head), self.model.device)
        cache = copy.deepcopy(self.head_cache)
        if self.head:
            cache.batch_repeat_interleave(len(groups))
        keep = sorted({column for _, column in ends})
        mask = packed_mask(segments, len(self.head), self.model.dtype)
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True,
                             logits_to_keep=torch.tensor(keep, device=input_ids.device), **{self.cache_arg: cache})
        logits = out.logits[[row for row, _ in ends], [keep.index(column) for _, column in ends]]
        self.tokens_computed += int((segments >= 0).sum())
        packed_order = {id(enc): index for index, enc in enumerate(enc for group in groups for enc in group)}
        logits = logits[[packed_order[id(enc)] for enc in batch]]
        return logits.float().log_softmax(-1)[:, self.label_ids]


@dataclass
class Packed:
    """One pair as one row: its conversation (segment 0), then each order's responses (segments 1, 2, ...)."""

    ids: list[int]
    segments: list[int]
    offsets: list[int]  # position after the head; each order restarts after the conversation
    ends: list[int]  # the column of each order's answer position

    @classmethod
    def of(cls, group: Sequence[Encoded]) -> Packed:
        middle = group[0].middle
        packed = cls(list(middle), [0] * len(middle), list(range(len(middle))), [])
        for segment, enc in enumerate(group, start=1):
            packed.ids += enc.suffix
            packed.segments += [segment] * len(enc.suffix)
            packed.offsets += range(len(middle), len(middle) + len(enc.suffix))
            packed.ends.append(len(packed.ids) - 1)
        return packed


def packed_rows(rows: Sequence[Packed], pad_id: int, head: int, device: Any) -> tuple[
        torch.Tensor, torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
    """Left-padded ids, segments (-1 = pad), positions, and (row, column) of every answer position."""
    import torch

    width = max(len(row.ids) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    segments = torch.full((len(rows), width), -1, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    ends: list[tuple[int, int]] = []
    for index, row in enumerate(rows):
        start = width - len(row.ids)
        input_ids[index, start:] = torch.tensor(row.ids)
        segments[index, start:] = torch.tensor(row.segments)
        positions[index, start:] = torch.tensor(row.offsets) + head
        ends += [(index, start + end) for end in row.ends]
    return input_ids.to(device), segments.to(device), positions.to(device), ends


def packed_mask(segments: torch.Tensor, head: int, dtype: Any) -> torch.Tensor:
    """Additive 4-D mask: every token sees the head; the conversation causally; each order its own tokens."""
    import torch

    query, key = segments[:, :, None], segments[:, None, :]
    width = segments.shape[1]
    causal = torch.ones((width, width), dtype=torch.bool, device=segments.device).tril()
    allowed = causal & (key >= 0) & ((key == 0) | (key == query))
    allowed |= torch.eye(width, dtype=torch.bool, device=segments.device)  # pads see themselves: no empty rows
    allowed = torch.cat([allowed.new_ones((segments.shape[0], width, head)), allowed], dim=-1)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=segments.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]


def judgment_from(enc: Encoded, log_probs: Any, seconds: float, evaluator: str, evaluator_id: str) -> Judgment:
    """The Judgment for one item from its two label log-probabilities."""
    import torch

    item = enc.item
    p_label = log_probs.exp()
    p_first = float(torch.sigmoid(log_probs[0] - log_probs[1]))
    raw = {"p_A": float(p_label[0]), "p_B": float(p_label[1]), "label_mass": float(p_label.sum()),
           "tokens": len(enc.ids), "truncated_tokens": enc.truncated}
    return Judgment(item.pair_id, item.order, p_first, verdict_from_p(p_first), "ok", json.dumps(raw), seconds,
                    evaluator, evaluator_id)


def failed_judgment(enc: Encoded, evaluator: str, evaluator_id: str) -> Judgment:
    """A failed Judgment for an item that cannot be judged (e.g. its responses exceed max_length)."""
    raw = json.dumps({"error": enc.error})
    return Judgment(enc.item.pair_id, enc.item.order, None, None, "failed", raw, 0.0, evaluator, evaluator_id)


class HFJudge(Evaluator):
    """A local causal LM that judges with a rubric prompt and reads P(A) from its next-token probabilities."""

    name = "hf-judge"
    description = (
        "Local causal LM (HF folder or GGUF) judges with a rubric prompt; P(A) from the next-token "
        "probabilities of 'A'/'B' in one forward pass. Default model: SmolLM2-135M-Instruct."
    )
    options = {
        "model": Option("Hugging Face model folder, .gguf file, or 'smollm2'", "smollm2"),
        "template": Option("Rubric prompt file with {conversation} {first} {second} [{principles}]", None),
        "principles": Option("Constitution file: one principle a line", None),
        "batch_size": Option("Items per forward pass; unset: 2 on CPU (one pair), 64 on GPU", None, int),
        "max_length": Option("Most prompt tokens; the conversation is cut from the left to fit", 2048, int),
        "dtype": Option("Weights dtype: float32, bfloat16, float16", "float32"),
        "device": Option("cpu, cuda, cuda:N or auto", "auto"),
        "share_prefix": Option("Compute the shared template and each conversation once (same numbers)", True, bool),
    }

    def __init__(self, **options: Any) -> None:
        from rlaif_audit.models import resolve_model

        super().__init__(**options)
        if (self.config["batch_size"] is not None and self.config["batch_size"] < 1) or self.config["max_length"] < 16:
            raise ConfigError("hf-judge: batch_size must be ≥ 1 and max_length ≥ 16.")
        self.template = read_template(self.config["template"])
        self.principles = read_principles(self.config["principles"])
        self.model_path = resolve_model(self.config["model"])
        self.builder: PromptBuilder | None = None
        self.scorer: Scorer | None = None
        self._identity_hash: str | None = None

    def identity(self) -> dict[str, Any]:
        from rlaif_audit.evaluators import stable_hash
        from rlaif_audit.models import tokenizer_hash, weights_hash

        identity = super().identity()
        # batch_size, device and share_prefix change the numbers only by float rounding (~1e-5)
        config = {k: v for k, v in self.config.items() if k not in ("batch_size", "device", "share_prefix")}
        identity.update(
            config={**config, "model": Path(str(config["model"])).name}, weights_sha256=weights_hash(self.model_path),
            tokenizer_sha256=tokenizer_hash(self.model_path),
            template_sha256=stable_hash(self.template, 64), principles=self.principles, labels=list(LABELS),
        )
        return identity

    def identity_hash(self) -> str:
        if self._identity_hash is None:
            self._identity_hash = super().identity_hash()
        return self._identity_hash

    def load(self) -> Scorer:
        """Load the model and tokenizer once; the scorer that runs them."""
        from rlaif_audit.models import load_causal_lm

        if self.scorer is None:
            model, tokenizer = load_causal_lm(self.model_path, self.config["dtype"])
            model.to(self._device())
            self.builder = PromptBuilder(tokenizer, self.template, self.principles, self.config["max_length"])
            batch_size = self.config["batch_size"] or (2 if model.device.type == "cpu" else 64)
            args = (model, tokenizer.pad_token_id, label_token_ids(tokenizer), batch_size)
            share = self.config["share_prefix"] and supports_packing(model)
            self.scorer = PackedScorer(*args, head=self.builder.head) if share else Scorer(*args)
        return self.scorer

    def _device(self) -> str:
        import torch

        device = self.config["device"]
        return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device

    def judge(self, items: Sequence[JudgeItem]) -> Iterator[Judgment]:
        """Judge items in length-sorted batches; judgments come out in batch order, not input order.

        ``latency_s`` is the batch's forward time divided by its items.
        """
        scorer = self.load()
        assert self.builder is not None
        evaluator_id = self.identity_hash()
        encoded = [self.builder.encode(item) for item in items]
        for enc in encoded:
            if enc.error:
                yield failed_judgment(enc, self.name, evaluator_id)
        for batch in scorer.batches([e for e in encoded if not e.error]):
            started = time.perf_counter()
            log_probs = scorer.score(batch)
            seconds = (time.perf_counter() - started) / len(batch)
            for enc, row in zip(batch, log_probs):
                yield judgment_from(enc, row, seconds, self.name, evaluator_id)

    def close(self) -> None:
        self.scorer = None


@hookimpl
def register_evaluators(register: Any) -> None:
    """Register the ``hf-judge`` evaluator."""
    register(HFJudge)
