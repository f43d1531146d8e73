"""Stage 1, generate: the policy samples K candidates per training prompt (batched, seeded); pairs are formed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlaif_audit.loop.layout import CANDIDATES, PAIRS, PROMPTS
from rlaif_audit.progress import stage_progress
from rlaif_audit.loop.prompts import messages, run_prompts
from rlaif_audit.loop.sampling import config_samples
from rlaif_audit.records.fileio import write_jsonl
from rlaif_audit.records.types import PreferencePair

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run


def candidate_rows(prompts: list[dict[str, Any]], samples: list[list[list[int]]], tokenizer: Any,
                   generation: int) -> list[dict[str, Any]]:
    """One row per candidate: prompt id and text, candidate id and index, response text and token count."""
    rows = []
    for prompt, responses in zip(prompts, samples):
        for index, tokens in enumerate(responses):
            rows.append({"prompt_id": prompt["id"], "prompt": prompt["prompt"],
                         "candidate_id": f"{prompt['id']}-c{index}", "index": index,
                         "text": tokenizer.decode(tokens, skip_special_tokens=True).strip(),
                         "n_tokens": len(tokens), "generation": generation})
    return rows


def pair_candidates(rows: list[dict[str, Any]], generation: int) -> tuple[list[PreferencePair], int]:
    """Disjoint pairs of one prompt's candidates (0-1, 2-3, ...); identical texts are dropped and counted."""
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_prompt.setdefault(row["prompt_id"], []).append(row)
    pairs, identical = [], 0
    for prompt_id, group in by_prompt.items():
        group.sort(key=lambda r: r["index"])
        for first, second in zip(group[0::2], group[1::2]):
            if first["text"] == second["text"]:
                identical += 1
                continue
            pairs.append(PreferencePair(
                id=f"g{generation}-{prompt_id}-{first['index']}v{second['index']}", context=messages(first["prompt"]),
                a=first["text"], b=second["text"],
                metadata={"prompt_id": prompt_id, "candidate_a": first["candidate_id"],
                          "candidate_b": second["candidate_id"]}))
    return pairs, identical


@stage_progress("generate")
def run_generate(run: Run, generation: int) -> dict[str, Any]:
    """Sample candidates for the training prompts; write candidates.jsonl and pairs.jsonl."""
    from rlaif_audit.records.provenance import file_hash, weights_hash

    config = run.config
    prompts = run_prompts(run, "train")
    policy_path = run.input_policy(generation)
    samples, tokenizer, engine = config_samples(config, policy_path, [p["prompt"] for p in prompts],
                                                config.candidates_per_prompt, run.seed(generation, "generate"),
                                                progress=run.progress)
    rows = candidate_rows(prompts, samples, tokenizer, generation)
    pairs, identical = pair_candidates(rows, generation)
    write_jsonl(run.path(generation, CANDIDATES), rows)
    write_jsonl(run.path(generation, PAIRS), [pair.to_dict() for pair in pairs])
    run.notify("on_candidates", generation, candidates=rows)
    new_tokens = sum(row["n_tokens"] for row in rows)
    return {"prompts": len(prompts), "candidates": len(rows), "pairs": len(pairs), "identical_pairs_dropped": identical,
            "new_tokens": new_tokens, "sampling": engine, "policy": str(policy_path),
            "policy_weights_sha256": weights_hash(policy_path),
            "prompts_hash": file_hash(run.folder / PROMPTS),
            "candidates_hash": file_hash(run.path(generation, CANDIDATES))}
