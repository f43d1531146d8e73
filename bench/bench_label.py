"""Labeling speed: hf-judge vs a naive generate-and-parse judge vs the model's raw forward throughput (JSON out).

Usage: python bench/bench_label.py [--pairs 64] [--model smollm2] [--data PATH]

Same model, same prompts, same items (each pair in both orders). Figures:
- judgments_per_s of hf-judge and of the naive judge (greedy ``generate`` up to 32 new tokens, parse A/B);
- computed_tokens_per_s: the non-pad tokens hf-judge runs through the model per second;
- raw_forward_tokens_per_s: batched forward of equal-length real prompt prefixes, no padding, logits only
  at the last position (the best of a few batch sizes), measured right before and right after hf-judge.
The three run in interleaved rounds (--pairs-per-round) so load changes on a shared machine hit all of them.
Wall-clock and process CPU seconds are both reported. OMP_WAIT_POLICY=PASSIVE as in the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the rlaif-audit CLI sets it, before torch is imported
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "hh-rlhf-harmless" / "test.jsonl.gz"
RAW_BATCHES = (2, 8)
VERDICT = re.compile(r"\b([AB])\b")


class Clock:
    """Accumulated wall and process-CPU seconds and a count of tokens or judgments."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.count = 0

    def run(self, fn: Callable[[], Any], count: Callable[[Any], int]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        self.count += count(result)
        return result

    def rates(self) -> dict[str, float]:
        return {"seconds": self.wall, "cpu_seconds": self.cpu, "per_s": self.count / self.wall,
                "per_cpu_s": self.count / self.cpu}


def raw_forward(model: Any, rows: Sequence[list[int]], batch: int, steps: int) -> int:
    """Plain forwards of ``batch`` equal-length rows, no padding, logits at the last position; tokens run."""
    import torch

    input_ids = torch.tensor([rows[i % len(rows)] for i in range(batch)], device=model.device)
    with torch.inference_mode():
        for _ in range(steps):
            model(input_ids=input_ids, use_cache=False, logits_to_keep=1)
    return steps * input_ids.numel()


def naive_judge(model: Any, tokenizer: Any, prompts: Sequence[list[int]], batch_size: int,
                new_tokens: int) -> dict[str, Any]:
    """Greedy-generate up to ``new_tokens`` per prompt (batches in input order) and parse the first A or B."""
    import torch

    from rlaif_audit.default_plugins.evaluators.hf_judge import left_pad

    verdicts: list[str | None] = []
    generated = 0
    for start in range(0, len(prompts), batch_size):
        input_ids, mask = left_pad(prompts[start : start + batch_size], tokenizer.pad_token_id, model.device)
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        for row in out[:, input_ids.shape[1] :]:
            text = tokenizer.decode(row, skip_special_tokens=True)
            generated += int((row != tokenizer.pad_token_id).sum())
            match = VERDICT.search(text)
            verdicts.append(match.group(1) if match else None)
    return {"verdicts": verdicts, "generated_tokens": generated}


def _named(rates: dict[str, float], unit: str) -> dict[str, float]:
    return {key.replace("per_", f"{unit}_per_"): value for key, value in rates.items()}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64, help="pairs to label (each in both orders)")
    parser.add_argument("--model", default="smollm2", help="model folder, .gguf file or 'smollm2'")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="pairs file (hh-rlhf JSONL by default)")
    parser.add_argument("--batch-size", type=int, default=None, help="hf-judge items per forward (default: auto)")
    parser.add_argument("--share-prefix", type=int, default=1, help="hf-judge share_prefix option (1 or 0)")
    parser.add_argument("--naive-batch-size", type=int, default=8, help="naive judge prompts per generate call")
    parser.add_argument("--new-tokens", type=int, default=32, help="naive judge: most new tokens")
    parser.add_argument("--pairs-per-round", type=int, default=16, help="pairs per interleaved round")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, judge: Any, items: Sequence[Any], prompts: Sequence[list[int]]) -> dict[str, Any]:
    """Rounds of raw forward → hf-judge → naive judge on the same slice, so load changes hit all three."""
    scorer, tokenizer = judge.scorer, judge.builder.tokenizer
    length = int(statistics.median(len(p) for p in prompts))
    raw_rows = [p[:length] for p in prompts if len(p) >= length]
    clocks = {name: Clock() for name in ("hf_judge", "naive", *(f"raw_b{b}" for b in RAW_BATCHES))}
    state: dict[str, Any] = {"judgments": [], "naive_verdicts": [], "generated": 0, "computed": 0, "length": length}
    for start in range(0, len(items), 2 * args.pairs_per_round):
        chunk = items[start : start + 2 * args.pairs_per_round]
        chunk_prompts = prompts[start : start + len(chunk)]
        for batch in RAW_BATCHES:
            steps = max(1, sum(len(p) for p in chunk_prompts) // (2 * batch * length))
            clocks[f"raw_b{batch}"].run(lambda: raw_forward(scorer.model, raw_rows, batch, steps), int)
        before = scorer.tokens_computed
        state["judgments"] += clocks["hf_judge"].run(lambda: list(judge.judge(chunk)), len)
        state["computed"] += scorer.tokens_computed - before
        naive = clocks["naive"].run(
            lambda: naive_judge(scorer.model, tokenizer, chunk_prompts, args.naive_batch_size, args.new_tokens),
            lambda out: len(out["verdicts"]))
        state["naive_verdicts"] += naive["verdicts"]
        state["generated"] += naive["generated_tokens"]
    return {"clocks": clocks, **state}


def summarize(args: argparse.Namespace, judge: Any, items: Sequence[Any], prompts: Sequence[list[int]],
              run: dict[str, Any]) -> dict[str, Any]:
    """The JSON figures of one measured run."""
    import torch

    clocks = run["clocks"]
    hf, naive = clocks["hf_judge"], clocks["naive"]
    raw = max((clocks[f"raw_b{b}"] for b in RAW_BATCHES), key=lambda c: c.count / c.wall)
    hf_verdicts = {(j.pair_id, j.order): ("A" if j.verdict == "first" else "B") for j in run["judgments"]}
    naive_verdicts = dict(zip(((i.pair_id, i.order) for i in items), run["naive_verdicts"]))
    computed = run["computed"]
    report = {
        "pairs": len(items) // 2, "judgments": len(items), "model": judge.model_path.name,
        "scorer": type(judge.scorer).__name__, "batch_size": judge.scorer.batch_size,
        "torch_threads": torch.get_num_threads(), "prompt_tokens": sum(len(p) for p in prompts),
        "hf_judge": {**_named(hf.rates(), "judgments"), "computed_tokens": computed,
                     "computed_tokens_per_s": computed / hf.wall, "computed_tokens_per_cpu_s": computed / hf.cpu},
        "naive_generate": {**_named(naive.rates(), "judgments"), "batch_size": args.naive_batch_size,
                           "max_new_tokens": args.new_tokens, "generated_tokens": run["generated"],
                           "unparsed": sum(v is None for v in run["naive_verdicts"]),
                           "same_verdict_as_hf_judge": sum(naive_verdicts.get(k) == v for k, v in hf_verdicts.items())},
        "raw_forward": {**{f"batch_{b}": _named(clocks[f"raw_b{b}"].rates(), "tokens") for b in RAW_BATCHES},
                        "length": run["length"], "tokens_per_s": raw.count / raw.wall,
                        "tokens_per_cpu_s": raw.count / raw.cpu},
        "speedup_vs_naive": naive.wall / hf.wall,
        "speedup_vs_naive_cpu": naive.cpu / hf.cpu,
        "computed_vs_raw": (computed / hf.wall) / (raw.count / raw.wall),
        "computed_vs_raw_cpu": (computed / hf.cpu) / (raw.count / raw.cpu),
    }
    report["targets_met"] = {"speedup_vs_naive>=2": report["speedup_vs_naive"] >= 2.0,
                             "computed_vs_raw>=0.9": report["computed_vs_raw"] >= 0.9}
    return report


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    import torch

    from rlaif_audit.default_plugins.evaluators.hf_judge import HFJudge
    from rlaif_audit.judging.labeling import judge_items
    from rlaif_audit.data.pairs import read_pairs

    if args.threads:
        torch.set_num_threads(args.threads)
    items = judge_items(read_pairs(args.data, limit=args.pairs).pairs)
    judge = HFJudge(model=args.model, batch_size=args.batch_size, share_prefix=bool(args.share_prefix))
    judge.load()
    prompts = [judge.builder.encode(item).ids for item in items]
    list(judge.judge(items[:2]))  # warm-up
    report = summarize(args, judge, items, prompts, measure(args, judge, items, prompts))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
