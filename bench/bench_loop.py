"""Benchmark `rlaif-audit run`: time and peak memory per stage, and the generate stage vs a plain HF generate.

    python bench/bench_loop.py                      # the default run (SmolLM2, 100 prompts), then the comparison
    python bench/bench_loop.py --preset smoke       # the smoke preset
    python bench/bench_loop.py --compare-only       # only the generate comparison (no run)

Prints one JSON object. The comparison loads the policy once and samples the default run's training prompts with
the same settings two ways: the loop's `sample_responses` (prompts sorted by length, stop at end-of-turn) and a
plain `model.generate` over the prompts in file order; it reports new tokens per second for both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_stages(preset: str, folder: Path) -> dict[str, Any]:
    """Run the loop with a preset and return its manifest's per-stage time and peak memory."""
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.run import create_run, execute

    started = time.perf_counter()
    run = create_run(folder, build_config(preset=preset), get_plugin_manager())
    run.progress = False
    manifest = execute(run)
    stages = {key: {"seconds": rec["seconds"], "peak_rss_mb": rec["peak_rss_mb"], "peak_cuda_mb": rec["peak_cuda_mb"]}
              for key, rec in manifest["stages"].items()}
    return {"preset": preset, "folder": str(folder), "wall_seconds": round(time.perf_counter() - started, 1),
            "stages": stages, "stage_seconds_total": round(sum(s["seconds"] for s in stages.values()), 1)}


def plain_generate(model: Any, tokenizer: Any, prompts: list[str], n: int, settings: dict[str, Any]) -> list[int]:
    """The textbook loop: batches in file order, left padding, ``generate``, count tokens up to end-of-turn."""
    import torch

    tokenizer.padding_side = "left"
    lengths = []
    for start in range(0, len(prompts), settings["batch_size"]):
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                               tokenize=False) for p in prompts[start : start + settings["batch_size"]]]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(start)
        with torch.inference_mode():
            out = model.generate(**batch, do_sample=True, temperature=settings["temperature"], top_p=settings["top_p"],
                                 top_k=0, max_new_tokens=settings["max_new_tokens"], num_return_sequences=n,
                                 pad_token_id=tokenizer.pad_token_id)
        for row in out[:, batch["input_ids"].shape[1]:].tolist():
            lengths.append(next((i for i, t in enumerate(row) if t == tokenizer.eos_token_id), len(row)))
    return lengths


def compare_generate(preset: str) -> dict[str, Any]:
    """New tokens per second: the loop's generate stage vs plain generate, same prompts, model and settings."""
    from rlaif_audit.judging.models import resolve_model
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.prompts import bundled_prompts, read_prompts, split_prompts
    from rlaif_audit.loop.sampling import load_policy, sample_responses

    config = build_config(preset=preset)
    rows = split_prompts(read_prompts(bundled_prompts()), config.num_prompts, config.eval_prompts, config.seed)
    prompts = [r["prompt"] for r in rows if r["split"] == "train"]
    model, tokenizer = load_policy(resolve_model(config.policy))
    settings = {"batch_size": config.gen_batch_size, "temperature": config.temperature, "top_p": config.top_p,
                "max_new_tokens": config.max_new_tokens}
    n = config.candidates_per_prompt
    started = time.perf_counter()
    loop_tokens = sum(len(t) for group in sample_responses(model, tokenizer, prompts, n, seed=config.seed,
                                                           **settings) for t in group)
    loop_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plain_tokens = sum(plain_generate(model, tokenizer, prompts, n, settings))
    plain_seconds = time.perf_counter() - started
    return {"prompts": len(prompts), "candidates_per_prompt": n, **settings,
            "loop": {"seconds": round(loop_seconds, 2), "new_tokens": loop_tokens,
                     "tokens_per_s": round(loop_tokens / loop_seconds, 1)},
            "plain_generate": {"seconds": round(plain_seconds, 2), "new_tokens": plain_tokens,
                               "tokens_per_s": round(plain_tokens / plain_seconds, 1)},
            "speedup_tokens_per_s": round((loop_tokens / loop_seconds) / (plain_tokens / plain_seconds), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=["default", "smoke"])
    parser.add_argument("--compare-only", action="store_true", help="Skip the run; only compare generate.")
    parser.add_argument("-o", "--output", type=Path, default=None, help="Run folder (default: a temporary one).")
    args = parser.parse_args()
    import torch

    figures: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                               "load_average": list(os.getloadavg())}
    if not args.compare_only:
        folder = args.output or Path(tempfile.mkdtemp(prefix="bench-loop-")) / "run"
        figures["run"] = run_stages(args.preset, folder)
    figures["generate_comparison"] = compare_generate(args.preset)
    figures["load_average_end"] = list(os.getloadavg())
    json.dump(figures, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
