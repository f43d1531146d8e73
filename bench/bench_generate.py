"""Benchmark the loop's sampling against the forward-pass limit: prefill, plain generate and the fast path.

    python bench/bench_generate.py                   # the default run's policy, training prompts and settings
    python bench/bench_generate.py --preset smoke    # the smoke preset's prompts and settings
    python bench/bench_generate.py --tiny            # the tiny random test model (seconds; checks the script)
    python bench/bench_generate.py --continuous-batching --compile   # also transformers' generate_batch, torch.compile
    python bench/bench_generate.py --decode-steps 1,8,32,128         # also one decode step's cost per batch size

Prints one JSON line per figure, all measured in one process on one loaded policy:
``prefill`` (batched forward over the prompts, tokens/s: the limit), ``generate`` (plain ``model.generate`` in
file order, ``gen_batch_size`` prompts × K candidates per call, as the stage sampled before), ``fast`` (the loop's
fast path at ``sampling_batch_rows``) and a sweep of its batch size, then ``ratios`` against the targets
(fast ≥ 50% of prefill, ≥ 3× generate) and ``nucleus_widths`` (how many rows each top-k prefilter width covered).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGETS = {"fast_over_prefill": 0.5, "fast_over_generate": 3.0}


def emit(figure: str, **values: Any) -> dict[str, Any]:
    """Print one figure as a JSON line and return it."""
    row = {"figure": figure, **values}
    print(json.dumps(row), flush=True)
    return row


def timed(work: Callable[[], int]) -> tuple[float, int]:
    """(seconds, tokens) of one call of ``work``, which returns the tokens it processed."""
    started = time.perf_counter()
    tokens = work()
    return time.perf_counter() - started, tokens


def prefill_tokens(model: Any, encoded: list[list[int]], pad_id: int, batch: int) -> int:
    """Forward passes over the prompts (left-padded batches, last-position logits only); real tokens processed."""
    import torch

    from rlaif_audit.loop.decode import _left_pad

    order = sorted(encoded, key=len)
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            ids, mask, positions = _left_pad(order[start:start + batch], pad_id, model.device)
            model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False, logits_to_keep=1)
    return sum(len(row) for row in encoded)


def loop_inputs(preset: str, tiny: bool) -> tuple[Any, Any, list[str], Any]:
    """(model, tokenizer, training prompts, config) exactly as the generate stage loads them."""
    from rlaif_audit.judging.models import resolve_model, tiny_model
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.prompts import bundled_prompts, read_prompts, split_prompts
    from rlaif_audit.loop.sampling import load_policy

    config = build_config(preset=preset)
    rows = split_prompts(read_prompts(bundled_prompts()), config.num_prompts, config.eval_prompts, config.seed)
    model, tokenizer = load_policy(tiny_model() if tiny else resolve_model(config.policy))
    return model, tokenizer, [r["prompt"] for r in rows if r["split"] == "train"], config


def settings_of(config: Any) -> dict[str, Any]:
    return {"temperature": config.temperature, "top_p": config.top_p, "max_new_tokens": config.max_new_tokens}


def new_tokens(samples: list[list[list[int]]]) -> int:
    return sum(len(tokens) for group in samples for tokens in group)


def nucleus_widths(model: Any, tokenizer: Any, prompts: list[str], config: Any) -> dict[str, int]:
    """Rows per narrowest prefilter width holding the nucleus, over a short fast run (counted by a wrapper)."""
    import torch

    from rlaif_audit.loop import decode as decode_module
    from rlaif_audit.loop.sampling import sample_responses

    counts: dict[str, int] = {}
    original = decode_module.sample_next

    def counting(logits: Any, settings: Any, generator: Any) -> Any:
        probs = torch.softmax(logits.float() / settings.temperature, dim=-1)
        needed = ((torch.cumsum(probs.sort(dim=-1, descending=True).values, -1) - 0) < settings.top_p).sum(-1) + 1
        for width in needed.tolist():
            label = next((str(w) for w in settings.prefilter_widths if width <= w), "full")
            counts[label] = counts.get(label, 0) + 1
        return original(logits, settings, generator)

    decode_module.sample_next = counting
    try:
        sample_responses(model, tokenizer, prompts, config.candidates_per_prompt, batch_size=config.gen_batch_size,
                         seed=config.seed, **settings_of(config))
    finally:
        decode_module.sample_next = original
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=["default", "smoke"])
    parser.add_argument("--tiny", action="store_true", help="The tiny random test model instead of the policy.")
    parser.add_argument("--rows", default="32,128,0", help="Fast-path batch sizes (rows; 0: all rows in one batch).")
    parser.add_argument("--continuous-batching", action="store_true", help="Also transformers' generate_batch.")
    parser.add_argument("--compile", action="store_true", help="Also the fast path on torch.compile(model).")
    parser.add_argument("--decode-steps", default="", help="Also one decode step's time at these batch sizes "
                        "(comma-separated rows, e.g. 1,8,32,128): where decoding is launch- or compute-bound.")
    args = parser.parse_args()
    import torch
    from bench_loop import plain_generate

    from rlaif_audit.loop.sampling import chat_inputs, sample_responses

    model, tokenizer, prompts, config = loop_inputs(args.preset, args.tiny)
    n, settings = config.candidates_per_prompt, settings_of(config)
    emit("setup", model=str(getattr(model, "name_or_path", "")), prompts=len(prompts), candidates_per_prompt=n,
         **settings, gen_batch_size=config.gen_batch_size, sampling_batch_rows=config.sampling_batch_rows,
         torch_threads=torch.get_num_threads(), cpu_count=os.cpu_count(), load_average=list(os.getloadavg()))
    encoded = chat_inputs(tokenizer, prompts)
    seconds, tokens = timed(lambda: prefill_tokens(model, encoded, tokenizer.pad_token_id, 32))
    prefill = emit("prefill", seconds=round(seconds, 2), tokens=tokens, tokens_per_s=round(tokens / seconds, 1))
    plain = {"batch_size": config.gen_batch_size, **settings}
    seconds, tokens = timed(lambda: sum(plain_generate(model, tokenizer, prompts, n, plain)))
    generate = emit("generate", seconds=round(seconds, 2), new_tokens=tokens, tokens_per_s=round(tokens / seconds, 1))
    fast_runs = {}
    for rows in [int(r) for r in args.rows.split(",")]:
        batch_rows = rows or len(prompts) * n
        seconds, tokens = timed(lambda batch_rows=batch_rows: new_tokens(sample_responses(
            model, tokenizer, prompts, n, batch_size=config.gen_batch_size, seed=config.seed, batch_rows=batch_rows,
            **settings)))
        fast_runs[batch_rows] = emit("fast", batch_rows=batch_rows, seconds=round(seconds, 2), new_tokens=tokens,
                                     tokens_per_s=round(tokens / seconds, 1))
    fast = fast_runs.get(min(config.sampling_batch_rows, len(prompts) * n)) or max(
        fast_runs.values(), key=lambda r: r["tokens_per_s"])
    emit("ratios", fast_batch_rows=fast["batch_rows"],
         fast_over_prefill=round(fast["tokens_per_s"] / prefill["tokens_per_s"], 3),
         fast_over_generate=round(fast["tokens_per_s"] / generate["tokens_per_s"], 2), targets=TARGETS)
    if args.continuous_batching:
        continuous_batching(model, tokenizer, encoded, n, settings)
    if args.compile:
        compiled(model, tokenizer, prompts, n, config)
    for rows in [int(r) for r in args.decode_steps.split(",") if r]:
        decode_step(model, rows, prefill["tokens_per_s"])
    emit("nucleus_widths", rows=nucleus_widths(model, tokenizer, prompts[:8], config),
         load_average_end=list(os.getloadavg()))


def decode_step(model: Any, rows: int, prefill_rate: float, context: int = 100) -> None:
    """One KV-cache decode step (1 new token per row after a ``context``-token prefill): best of 4, ms and tokens/s."""
    import torch
    from transformers import DynamicCache

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (rows, context), generator=generator)
    step = torch.randint(0, model.config.vocab_size, (rows, 1), generator=generator)
    cache, seconds = DynamicCache(config=model.config), []
    with torch.inference_mode():
        model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
        for _ in range(4):
            started = time.perf_counter()
            model(input_ids=step, cache=cache, use_cache=True)
            seconds.append(time.perf_counter() - started)
    best = min(seconds)
    emit("decode_step", rows=rows, context=context, ms=round(best * 1000, 1), tokens_per_s=round(rows / best, 1),
         of_prefill=round(rows / best / prefill_rate, 3))


def continuous_batching(model: Any, tokenizer: Any, encoded: list[list[int]], n: int, settings: dict[str, Any]) -> None:
    """transformers' continuous batching (generate_batch, paged cache) with the same sampling settings."""
    from transformers import GenerationConfig

    config = GenerationConfig(do_sample=True, top_k=0, num_return_sequences=n, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id, **settings)
    started = time.perf_counter()
    outputs = model.generate_batch(inputs=encoded, generation_config=config, progress_bar=False)
    seconds = time.perf_counter() - started
    tokens = sum(len(out.generated_tokens) for out in outputs.values())
    emit("continuous_batching", seconds=round(seconds, 2), new_tokens=tokens, tokens_per_s=round(tokens / seconds, 1))


def compiled(model: Any, tokenizer: Any, prompts: list[str], n: int, config: Any) -> None:
    """The fast path on ``torch.compile(model, dynamic=True)``: a first (compiling) run, then a timed one."""
    import torch

    from rlaif_audit.loop.sampling import sample_responses

    model.forward = torch.compile(model.forward, dynamic=True)
    for label in ("compile_first_run", "compiled"):
        seconds, tokens = timed(lambda: new_tokens(sample_responses(
            model, tokenizer, prompts, n, batch_size=config.gen_batch_size, seed=config.seed,
            batch_rows=config.sampling_batch_rows, **settings_of(config))))
        emit(label, seconds=round(seconds, 2), new_tokens=tokens, tokens_per_s=round(tokens / seconds, 1))


if __name__ == "__main__":
    main()
