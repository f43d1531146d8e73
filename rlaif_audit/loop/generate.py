"""Stage 1, generate: the policy samples K candidates per training prompt (batched, seeded); pairs are formed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.records.fileio import read_jsonl, write_jsonl
from rlaif_audit.loop.prompts import RUN_PROMPTS, messages, run_prompts
from rlaif_audit.records.types import PreferencePair

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run

CANDIDATES = "candidates.jsonl"
PAIRS = "pairs.jsonl"


def chat_inputs(tokenizer: Any, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of each prompt as a one-turn chat, ready for the assistant's reply."""
    return [tokenizer.apply_chat_template(messages(p), add_generation_prompt=True, tokenize=True, return_dict=False)
            for p in prompts]


def _pad_left(batch: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(ids) for ids in batch)
    ids = torch.tensor([[pad_id] * (width - len(row)) + row for row in batch])
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in batch])
    return ids, mask


def sample_responses(model: Any, tokenizer: Any, prompts: Sequence[str], n: int, *, temperature: float,
                     top_p: float, max_new_tokens: int, batch_size: int, seed: int) -> list[list[list[int]]]:
    """``n`` sampled responses (new token ids, up to and without the end token) per prompt.

    Prompts are batched by length to limit padding; each batch is seeded from
    ``seed`` and its index, so the result does not depend on earlier batches.
    """
    import torch

    encoded = chat_inputs(tokenizer, prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results: list[list[list[int]]] = [[] for _ in prompts]
    stop_ids = _stop_ids(model, tokenizer)
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
    return results


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured] if configured is not None else []
    return sorted({*ids, tokenizer.eos_token_id} - {None})


def _cut(tokens: list[int], stop_ids: list[int]) -> list[int]:
    for index, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[:index]
    return tokens


def load_policy(path: Path) -> tuple[Any, Any]:
    """A causal LM (eval mode, on the device) and its tokenizer with a pad token."""
    from rlaif_audit.judging.models import default_device, load_causal_lm

    model, tokenizer = load_causal_lm(path)
    return model.to(default_device()), tokenizer


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


def read_pairs_file(path: Path) -> list[PreferencePair]:
    """The preference pairs a generate stage wrote."""
    return [PreferencePair(**row) for row in read_jsonl(path)]


def run_generate(run: Run, generation: int) -> dict[str, Any]:
    """Sample candidates for the training prompts; write candidates.jsonl and pairs.jsonl."""
    from rlaif_audit.records.provenance import file_hash
    from rlaif_audit.records.provenance import weights_hash

    config, folder = run.config, run.gen_dir(generation)
    prompts = run_prompts(run, "train")
    policy_path = run.input_policy(generation)
    model, tokenizer = load_policy(policy_path)
    samples = sample_responses(model, tokenizer, [p["prompt"] for p in prompts], config.candidates_per_prompt,
                               temperature=config.temperature, top_p=config.top_p,
                               max_new_tokens=config.max_new_tokens, batch_size=config.gen_batch_size,
                               seed=run.seed(generation, "generate"))
    rows = candidate_rows(prompts, samples, tokenizer, generation)
    pairs, identical = pair_candidates(rows, generation)
    write_jsonl(folder / CANDIDATES, rows)
    write_jsonl(folder / PAIRS, [pair.to_dict() for pair in pairs])
    run.notify("on_candidates", generation, candidates=rows)
    new_tokens = sum(row["n_tokens"] for row in rows)
    return {"prompts": len(prompts), "candidates": len(rows), "pairs": len(pairs), "identical_pairs_dropped": identical,
            "new_tokens": new_tokens, "policy": str(policy_path), "policy_weights_sha256": weights_hash(policy_path),
            "prompts_hash": file_hash(run.folder / RUN_PROMPTS), "candidates_hash": file_hash(folder / CANDIDATES)}
