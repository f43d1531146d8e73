"""The policy as the stages use it: loaded on the device, prompts as chat inputs, seeded batched sampling."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlaif_audit.loop.decode import Sampling, decode
from rlaif_audit.loop.prompts import messages


def load_policy(path: Path) -> tuple[Any, Any]:
    """A causal LM (eval mode, on the device) and its tokenizer with a pad token."""
    from rlaif_audit.judging.models import default_device, load_causal_lm

    model, tokenizer = load_causal_lm(path)
    return model.to(default_device()), tokenizer


def load_tokenizer(path: Path) -> Any:
    """The policy's tokenizer alone (the openai engine samples on a server and only counts tokens here)."""
    from transformers import AutoTokenizer

    from rlaif_audit.judging.models import resolve_model

    return AutoTokenizer.from_pretrained(str(resolve_model(path)))


def config_samples(config: Any, policy_path: Path, prompts: Sequence[str], n: int,
                   seed: int, progress: bool = False) -> tuple[list[list[list[int]]], Any, dict[str, Any]]:
    """(responses, the policy tokenizer, the engine's description) of the configured sampling engine."""
    settings = {"temperature": config.temperature, "top_p": config.top_p, "max_new_tokens": config.max_new_tokens,
                "seed": seed}
    if config.sampling_engine == "openai":
        from rlaif_audit.loop.openai_sampling import OpenAISampler, server_responses

        sampler = OpenAISampler(config.sampling_base_url, config.sampling_model,
                                concurrency=config.sampling_concurrency)
        tokenizer = load_tokenizer(policy_path)
        return (server_responses(sampler, tokenizer, prompts, n, **settings), tokenizer,
                {"engine": "openai", "base_url": sampler.base_url, "server_model": sampler.model})
    model, tokenizer = load_policy(policy_path)
    samples = sample_responses(model, tokenizer, prompts, n, batch_size=config.gen_batch_size,
                               engine=config.sampling_engine, batch_rows=config.sampling_batch_rows,
                               progress=progress, **settings)
    return samples, tokenizer, {"engine": config.sampling_engine}


def rollout_arguments(config: Any) -> dict[str, Any]:
    """TRL GRPO/RLOO generation options from the run config (only those set; TRL's defaults otherwise)."""
    options: dict[str, Any] = {}
    if config.rl_generation_batch_size:
        options["generation_batch_size"] = config.rl_generation_batch_size
    if config.rl_continuous_batching:
        options["use_transformers_continuous_batching"] = True
    if config.use_vllm:
        options.update(use_vllm=True, vllm_mode=config.vllm_mode)
        if config.vllm_mode == "server" and config.vllm_server_url:
            options["vllm_server_base_url"] = config.vllm_server_url
    return options


def check_rollouts(config: Any) -> str | None:
    """A problem with the RL generation keys (TRL would raise it only when the policy stage starts)."""
    size, batch, group = config.rl_generation_batch_size, config.rl_batch_size, config.num_generations
    if size and (size % batch or size % group):
        return (f"rl_generation_batch_size ({size}) must be a multiple of rl_batch_size ({batch}) "
                f"and num_generations ({group})")
    if config.use_vllm and config.rl_continuous_batching:
        return "use_vllm and rl_continuous_batching exclude each other"
    return None


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


ENGINES = ("fast", "generate", "openai")


def sample_responses(model: Any, tokenizer: Any, prompts: Sequence[str], n: int, *, temperature: float,
                     top_p: float, max_new_tokens: int, batch_size: int, seed: int, engine: str = "fast",
                     batch_rows: int = 256, progress: bool = False) -> list[list[list[int]]]:
    """``n`` sampled responses (new token ids, up to and without the end token) per prompt.

    Prompts are batched by length to limit padding; each batch is seeded from ``seed`` and its index, so the
    result does not depend on earlier batches. ``engine="fast"``: the KV-cache decode loop of
    :mod:`rlaif_audit.loop.decode` over ``batch_rows`` rows (prompts × candidates) per batch;
    ``engine="generate"``: transformers' ``generate`` over ``batch_size`` prompts per batch. ``progress``: a bar
    over the prompts named by :data:`rlaif_audit.progress.PROGRESS_NAME` (the stage).
    """
    from rlaif_audit.progress import progress_bar

    encoded = chat_inputs(tokenizer, prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    per_batch = max(1, batch_rows // n) if engine == "fast" else batch_size
    draw = _decode_batch if engine == "fast" else _generate_batch
    results: list[list[list[int]]] = [[] for _ in prompts]
    stop_ids = _stop_ids(model, tokenizer)
    settings = Sampling(temperature=temperature, top_p=top_p, top_k=0, max_new_tokens=max_new_tokens)
    bar = progress_bar(len(prompts), progress, "prompt")
    for batch_index, start in enumerate(range(0, len(order), per_batch)):
        members = order[start : start + per_batch]
        groups = draw(model, [encoded[i] for i in members], n, settings, stop_ids, tokenizer.pad_token_id,
                      seed * 1_000_003 + batch_index)
        for member, group in zip(members, groups):
            results[member] = group
        bar.update(len(members))
    bar.close()
    return results


def _decode_batch(model: Any, batch: list[list[int]], n: int, settings: Sampling, stop_ids: list[int],
                  pad_id: int, seed: int) -> list[list[list[int]]]:
    """One batch through the fast decode loop, seeded by its own generator."""
    import torch

    generator = torch.Generator(device=model.device).manual_seed(seed)
    return decode(model, batch, n, settings, stop_ids=stop_ids, pad_id=pad_id, generator=generator)


def _generate_batch(model: Any, batch: list[list[int]], n: int, settings: Sampling, stop_ids: list[int],
                    pad_id: int, seed: int) -> list[list[list[int]]]:
    """One batch through transformers' ``generate`` (the reference engine), seeded through torch's global RNG."""
    import torch

    ids, mask = _pad_left(batch, pad_id)
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(input_ids=ids.to(model.device), attention_mask=mask.to(model.device), do_sample=True,
                             temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k,
                             max_new_tokens=settings.max_new_tokens, num_return_sequences=n, pad_token_id=pad_id,
                             eos_token_id=stop_ids)
    rows = [_cut(tokens, stop_ids) for tokens in out[:, ids.shape[1]:].tolist()]
    return [rows[index * n:(index + 1) * n] for index in range(len(batch))]


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
