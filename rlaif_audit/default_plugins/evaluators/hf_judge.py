"""The ``hf-judge`` evaluator: a local causal LM's next-token probabilities of the labels 'A' and 'B'.

P(first) = P("A") / (P("A") + P("B")) at the answer position, read in one forward pass
without generating text (the method of the RLAIF paper, Lee et al. 2023).
"""

from __future__ import annotations

import json
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from rlaif_audit import hookimpl
from rlaif_audit.errors import ConfigError
from rlaif_audit.judging.evaluator import Evaluator, Option
from rlaif_audit.judging.labeling import judge_items
from rlaif_audit.judging.models import DTYPE_OPTION
from rlaif_audit.judging.rubric import (REQUIRED_SLOTS, RUBRIC_OPTIONS, format_conversation, load_principles,
                                        load_template, principle_bullets)
from rlaif_audit.records.preference import verdict_from_p
from rlaif_audit.records.types import JudgeItem, Judgment, PreferencePair

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
        slots = {name: f"{MARK}{name}{MARK}" for name in REQUIRED_SLOTS}
        pieces = self._split(self._wrap(template.format(principles=principle_bullets(principles), **slots)))
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
        import torch

        input_ids, mask = left_pad([e.ids for e in batch], self.pad_id, self.model.device)
        self.tokens_computed += int(mask.sum())
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, attention_mask=None if bool(mask.all()) else mask,
                             position_ids=position_ids, use_cache=False, logits_to_keep=1)
        return out.logits[:, -1, :].float().log_softmax(-1)[:, self.label_ids]


class PackedScorer(Scorer):
    """Computes what the prompts share once: the template head once per model, and each pair's
    conversation once for both orders.

    Several pairs go into one row with no padding: [conversation, responses as 'ab', responses as 'ba',
    next conversation, ...] after the head, whose keys and values are kept from one forward at start-up.
    Position ids restart for each order. A segment-aware attention (:func:`segment_attention`) runs one
    SDPA call per segment: a conversation sees the head and itself causally, an order sees the head, its
    conversation and itself. Every order therefore gets the numbers of its own prompt (to float rounding,
    ~1e-5), and attention costs what the separate prompts would cost: no dense mask over the packed row and
    no padding. The matrix multiplies run on all the row's tokens at once.

    Measured by bench/bench_label.py on 64 hh-rlhf pairs (SmolLM2-135M, 2-core CPU): it computes 22,460 of the
    42,806 prompt tokens, at 99.8% (1 thread) and 96.5% (2 threads) of the raw forward's tokens/s on
    equal-length inputs. The earlier design, one padded row per pair with a dense 4-D mask, reached 87-90%.
    """

    def __init__(self, model: Any, pad_id: int, label_ids: Sequence[int], batch_size: int, head: list[int]) -> None:
        super().__init__(model, pad_id, label_ids, batch_size)
        register_segment_attention()
        self.head = head
        self.head_kv: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        if head:
            plan = SegmentPlan({}, [(slice(0, len(head)), [])], record=self.head_kv)
            self._run(head, list(range(len(head))), [len(head) - 1], plan)
            self.tokens_computed += len(head)

    @staticmethod
    def groups(batch: Sequence[Encoded]) -> list[list[Encoded]]:
        """Items grouped by pair (and shared conversation tokens), in first-seen order."""
        groups: dict[tuple[str, tuple[int, ...]], list[Encoded]] = {}
        for enc in batch:
            groups.setdefault((enc.item.pair_id, tuple(enc.middle)), []).append(enc)
        return list(groups.values())

    def batches(self, encoded: Sequence[Encoded]) -> list[list[Encoded]]:
        """Whole pairs, ≤ batch_size items (at least one pair) a batch, longest first."""
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
        ids: list[int] = []
        positions: list[int] = []
        ends: list[int] = []
        segments: list[tuple[slice, list[slice]]] = []
        order: list[Encoded] = []
        for group in self.groups(batch):
            start = len(ids)
            middle = group[0].middle
            ids += middle
            positions += range(len(self.head), len(self.head) + len(middle))
            orders: list[slice] = []
            for enc in group:
                orders.append(slice(len(ids), len(ids) + len(enc.suffix)))
                ids += enc.suffix
                positions += range(len(self.head) + len(middle), len(self.head) + len(middle) + len(enc.suffix))
                ends.append(len(ids) - 1)
                order.append(enc)
            segments.append((slice(start, start + len(middle)), orders))
        log_probs = self._run(ids, positions, ends, SegmentPlan(self.head_kv, segments))
        self.tokens_computed += len(ids)
        index = {id(enc): i for i, enc in enumerate(order)}
        return log_probs[[index[id(enc)] for enc in batch]]

    def _run(self, ids: list[int], positions: list[int], ends: list[int], plan: SegmentPlan) -> torch.Tensor:
        """One forward of the packed row under the segment attention; label log-probs at ``ends``."""
        import torch

        device = self.model.device
        input_ids = torch.tensor([ids], device=device)
        with segment_attention_enabled(self.model), torch.inference_mode():
            out = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                             position_ids=torch.tensor([positions], device=device), use_cache=False,
                             logits_to_keep=torch.tensor(ends, device=device), segment_plan=plan)
        return out.logits[0].float().log_softmax(-1)[:, self.label_ids]


ATTENTION = "rlaif_audit_segments"


class SegmentsUnsupported(RuntimeError):
    """The model's attention has a feature the segment attention does not reproduce."""


@dataclass
class SegmentPlan:
    """Where the segments of a packed row are: per pair, the conversation's columns and each order's columns.

    ``head`` holds each layer's keys and values of the template head; with ``record``, each layer's keys and
    values of the row are stored there instead (how the head's are made).
    """

    head: dict[int, tuple[torch.Tensor, torch.Tensor]]
    pairs: list[tuple[slice, list[slice]]]
    record: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None

    def attend(self, module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
               scaling: float | None, **kwargs: Any) -> torch.Tensor:
        """Attention output (batch, queries, heads, dim) of a packed row; query/key/value are (1, heads, N, dim)."""
        import torch

        head_key, head_value = self.head.get(module.layer_idx, (key[:, :, :0], value[:, :, :0]))
        window = kwargs.get("sliding_window")
        longest = head_key.shape[2] + max(c.stop - c.start + max((o.stop - o.start for o in orders), default=0)
                                          for c, orders in self.pairs)
        problem = ("attention logit softcapping" if kwargs.get("softcap")
                   else "attention sinks" if getattr(module, "sinks", None) is not None
                   else f"a {window}-token sliding window, shorter than a {longest}-token prompt"
                   if window and window < longest else None)
        if problem:
            raise SegmentsUnsupported(f"{type(module).__name__} uses {problem}")
        if self.record is not None:
            self.record[module.layer_idx] = (key, value)
        gqa = getattr(module, "num_key_value_groups", 1) > 1
        out = torch.empty_like(query)
        for conversation, orders in self.pairs:
            keys = torch.cat([head_key, key[:, :, conversation]], 2)
            values = torch.cat([head_value, value[:, :, conversation]], 2)
            if conversation.stop > conversation.start:
                out[:, :, conversation] = causal_attention(query[:, :, conversation], keys, values, scaling, gqa)
            for columns in orders:
                out[:, :, columns] = causal_attention(query[:, :, columns], torch.cat([keys, key[:, :, columns]], 2),
                                                      torch.cat([values, value[:, :, columns]], 2), scaling, gqa)
        return out.transpose(1, 2).contiguous()


def causal_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scaling: float | None,
                     gqa: bool) -> torch.Tensor:
    """SDPA where the queries are the last ``query.shape[2]`` of the keys (causal, aligned bottom-right)."""
    import torch

    queries, keys = query.shape[2], key.shape[2]
    mask = torch.ones((queries, keys), dtype=torch.bool, device=query.device).tril(keys - queries)
    return torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=scaling,
                                                            enable_gqa=gqa)


def segment_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers attention function: the segment attention when the forward carries a ``segment_plan``,
    transformers' SDPA attention otherwise."""
    plan = kwargs.pop("segment_plan", None)
    if plan is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    scaling = kwargs.pop("scaling", None)
    return plan.attend(module, query, key, value, scaling, **kwargs), None


def register_segment_attention() -> None:
    """Register :func:`segment_attention` with transformers (masks as for SDPA); idempotent."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION, segment_attention)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)


@contextmanager
def segment_attention_enabled(model: Any) -> Iterator[None]:
    """The model runs :func:`segment_attention` inside the block, its own attention again after it."""
    previous = model.config._attn_implementation
    model.set_attn_implementation(ATTENTION)
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


PROBE = PreferencePair("probe", [{"role": "user", "content": "Name a colour."}], "Blue.", "I would rather not say.")


def packed_scorer(args: tuple[Any, int, list[int], int], builder: PromptBuilder) -> PackedScorer | None:
    """A :class:`PackedScorer` if it gives the numbers of whole prompts on a probe pair; else None and a warning.

    Models whose attention the segment attention does not reproduce (softcap, sinks, a sliding window shorter
    than the prompt, modules outside transformers' attention interface) fall back to whole prompts.
    """
    probe = [builder.encode(item) for item in judge_items([PROBE])]
    try:
        packed = PackedScorer(*args, head=builder.head)
        difference = float((packed.score(probe) - Scorer(*args).score(probe)).abs().max())
        reason = f"its log-probabilities differ by {difference:.2g} on a probe pair" if difference > 1e-3 else None
    except Exception as error:  # any failure of the shared-prefix path means: score whole prompts
        reason = f"{type(error).__name__}: {error}"
    if reason:
        warn_whole_prompts(args[0], reason)
        return None
    packed.tokens_computed = len(builder.head)
    return packed


def warn_whole_prompts(model: Any, reason: str) -> None:
    """Warn that ``model`` cannot share prompt prefixes, and why."""
    warnings.warn(f"hf-judge: cannot share prompt prefixes with {type(model).__name__} ({reason}); each prompt is "
                  "computed whole from here on (same judgments, more compute).", stacklevel=3)


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
        **RUBRIC_OPTIONS,
        "batch_size": Option("Items per forward pass; unset: 8 on CPU (4 pairs), 64 on GPU", None, int),
        "max_length": Option("Most prompt tokens; the conversation is cut from the left to fit", 2048, int),
        "dtype": DTYPE_OPTION,
        "device": Option("cpu, cuda, cuda:N or auto", "auto"),
        "share_prefix": Option("Compute the shared template and each conversation once (same numbers)", True, bool),
    }

    def __init__(self, **options: Any) -> None:
        from rlaif_audit.judging.models import resolve_model

        super().__init__(**options)
        if (self.config["batch_size"] is not None and self.config["batch_size"] < 1) or self.config["max_length"] < 16:
            raise ConfigError("hf-judge: batch_size must be ≥ 1 and max_length ≥ 16.")
        self.template = load_template(self.config["template"])
        self.principles = load_principles(self.config["principles"])
        self.model_path = resolve_model(self.config["model"])
        self.builder: PromptBuilder | None = None
        self.scorer: Scorer | None = None
        self._identity_hash: str | None = None

    def identity(self) -> dict[str, Any]:
        from rlaif_audit.records.provenance import stable_hash, tokenizer_hash, weights_hash

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
        from rlaif_audit.judging.models import load_causal_lm

        if self.scorer is None:
            model, tokenizer = load_causal_lm(self.model_path, self.config["dtype"])
            model.to(self._device())
            self.builder = PromptBuilder(tokenizer, self.template, self.principles, self.config["max_length"])
            batch_size = self.config["batch_size"] or (8 if model.device.type == "cpu" else 64)
            args = (model, tokenizer.pad_token_id, label_token_ids(tokenizer), batch_size)
            self.scorer = Scorer(*args)
            if self.config["share_prefix"]:
                self.scorer = packed_scorer(args, self.builder) or self.scorer
        return self.scorer

    def _device(self) -> str:
        from rlaif_audit.judging.models import default_device

        device = self.config["device"]
        return default_device() if device == "auto" else device

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
            try:
                log_probs = scorer.score(batch)
            except SegmentsUnsupported as error:  # e.g. a prompt longer than the model's sliding window
                warn_whole_prompts(scorer.model, str(error))
                scorer = self.scorer = Scorer(scorer.model, scorer.pad_id, scorer.label_ids, scorer.batch_size)
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
