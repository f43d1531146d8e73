"""RL rollouts on the fast sampling engine: TRL GRPO/RLOO trainers whose transformers-path generation runs decode.py.

TRL 1.x generates a batch of completions in ``_generate_single_turn(prompt_ids, images, multimodal_fields, ...)``:
on its plain transformers path it left-pads the prompts, calls ``model.generate`` with ``self.generation_config``
(built from ``self.generation_kwargs``) and returns one list of token ids per row, cut after the first token in
``self.eos_token_ids`` (that token kept); GRPO returns ``(completion_ids, None)`` (no sampling logprobs), RLOO the
list alone. The subclasses here return the same from :func:`rlaif_audit.loop.decode.decode` (same sampling
distribution as ``generate``, greedy when ``do_sample`` is False) and hand every case the engine does not cover
(vLLM, continuous batching, images or other multimodal inputs, several processes, a logits processor other than
temperature/top-k/top-p) back to TRL's method unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rlaif_audit.loop.decode import Sampling, decode

# generation_kwargs keys the engine reproduces; any other key (suppress_tokens, num_beams, ...) keeps TRL's path
ENGINE_KEYS = frozenset({"max_new_tokens", "do_sample", "pad_token_id", "bos_token_id", "eos_token_id",
                         "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "cache_implementation"})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def engine_sampling(generation_kwargs: dict[str, Any]) -> Sampling | None:
    """The engine's settings for TRL's ``generation_kwargs``, or None when the engine cannot reproduce them."""
    kwargs = generation_kwargs
    if set(kwargs) - ENGINE_KEYS or kwargs.get("min_p") not in (None, 0) or kwargs.get("cache_implementation"):
        return None
    if kwargs.get("repetition_penalty") not in (None, 1) or not _is_number(kwargs.get("max_new_tokens")):
        return None
    if not kwargs.get("do_sample", True):
        return Sampling(temperature=0.0, max_new_tokens=int(kwargs["max_new_tokens"]))
    if not all(_is_number(kwargs.get(key)) for key in ("temperature", "top_p", "top_k")) or kwargs["temperature"] <= 0:
        return None  # None would mean the model's own generation_config default: keep generate's resolution
    return Sampling(temperature=float(kwargs["temperature"]), top_p=float(kwargs["top_p"]), top_k=int(kwargs["top_k"]),
                    max_new_tokens=int(kwargs["max_new_tokens"]))


def _stop_ids(generation_kwargs: dict[str, Any], eos_token_ids: Sequence[int]) -> list[int]:
    """The ids generate stops on (generation_kwargs' eos_token_id, else the trainer's eos ids)."""
    stop = generation_kwargs.get("eos_token_id")
    if stop is None:
        return list(eos_token_ids)
    return [int(stop)] if isinstance(stop, int) else [int(token) for token in stop]


def cut_after_eos(ids: Sequence[int], eos_token_ids: Sequence[int]) -> list[int]:
    """``ids`` up to and including the first end token (TRL's completion mask on the generate path)."""
    for position, token in enumerate(ids):
        if token in eos_token_ids:
            return list(ids[:position + 1])
    return list(ids)


def _groups(prompt_ids: Sequence[Sequence[int]]) -> tuple[list[list[int]], int]:
    """(distinct prompts, rows each) when the batch is runs of equal length of one prompt each, else (rows, 1).

    TRL's RepeatSampler puts a prompt's ``num_generations`` rows next to each other, so one prefill serves them.
    """
    runs: list[list[int]] = []
    counts: list[int] = []
    for ids in prompt_ids:
        if runs and list(ids) == runs[-1]:
            counts[-1] += 1
        else:
            runs.append(list(ids))
            counts.append(1)
    if len(set(counts)) == 1:
        return runs, counts[0]
    return [list(ids) for ids in prompt_ids], 1


def engine_completions(model: Any, prompt_ids: Sequence[Sequence[int]], settings: Sampling, *,
                       stop_ids: Sequence[int], eos_token_ids: Sequence[int], pad_id: int) -> list[list[int]]:
    """One completion per row of ``prompt_ids`` (token ids, the end token kept), as TRL's generate path returns."""
    prompts, per_prompt = _groups(prompt_ids)
    sampled = decode(model, prompts, per_prompt, settings, stop_ids=stop_ids, pad_id=pad_id, generator=None,
                     keep_stop=True)
    return [cut_after_eos(row, eos_token_ids) for group in sampled for row in group]


class FastRollouts:
    """A mixin for TRL's GRPOTrainer / RLOOTrainer: rollouts on the fast engine where it reproduces generate."""

    returns_logprobs = False  # GRPO's _generate_single_turn returns (ids, logprobs), RLOO's the ids alone

    def _engine_settings(self, images: Any, multimodal_fields: Any, has_tool_images: bool) -> Sampling | None:
        """The engine's settings for this call, or None when TRL's own path must run."""
        if self.use_vllm or self.use_transformers_continuous_batching or has_tool_images:  # type: ignore[attr-defined]
            return None
        if multimodal_fields or (images is not None and any(images)):
            return None
        if self.accelerator.num_processes > 1:  # type: ignore[attr-defined]
            return None  # sharded weights (FSDP/DeepSpeed) need TRL's gather; one process here
        return engine_sampling(self.generation_kwargs)  # type: ignore[attr-defined]

    def _generate_single_turn(self, prompt_ids: Any, images: Any, multimodal_fields: Any, *rest: Any,
                              **options: Any) -> Any:
        """TRL's batch generation, on the fast engine when :meth:`_engine_settings` allows it."""
        has_tool_images = bool(options.get("has_tool_images", rest[1] if len(rest) > 1 else False))
        settings = self._engine_settings(images, multimodal_fields, has_tool_images)
        if settings is None:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, *rest,  # type: ignore[misc]
                                                 **options)
        completion_ids = self._engine_rollouts(prompt_ids, settings)
        return (completion_ids, None) if self.returns_logprobs else completion_ids

    def _engine_rollouts(self, prompt_ids: Sequence[Sequence[int]], settings: Sampling) -> list[list[int]]:
        """The completions of ``prompt_ids`` from the unwrapped policy, under no_grad as TRL generates."""
        import torch
        from trl.models.utils import unwrap_model_for_generation

        with (unwrap_model_for_generation(self.model_wrapped, self.accelerator,  # type: ignore[attr-defined]
                                          gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                          gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs)
              as model, torch.no_grad()):
            return engine_completions(model, prompt_ids, settings,
                                      stop_ids=_stop_ids(self.generation_kwargs, self.eos_token_ids),
                                      eos_token_ids=self.eos_token_ids, pad_id=self._tokenizer.pad_token_id)


def fast_trainer_class(trainer_class: type) -> type:
    """``trainer_class`` (TRL's GRPOTrainer or RLOOTrainer) with its rollouts on the fast engine."""
    from trl import GRPOTrainer

    returns_logprobs = issubclass(trainer_class, GRPOTrainer)
    return type(f"Fast{trainer_class.__name__}", (FastRollouts, trainer_class),
                {"returns_logprobs": returns_logprobs, "__doc__": f"{trainer_class.__name__}, fast-engine rollouts."})
