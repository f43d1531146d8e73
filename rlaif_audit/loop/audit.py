"""Stage 5, audit and save: policy vs reference samples, the evaluator and policy-side audits, reports, model cards."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.auditing.auditor import POLICY_OPTION
from rlaif_audit.loop.ai_feedback import (debiased_preferences, generation_evaluator, judge_pairs, load_reward_model,
                                          read_pairs_file, score)
from rlaif_audit.loop.layout import (AUDIT, AUDIT_JUDGMENTS, AUDIT_SAMPLES, JUDGMENTS, PAIRS, POLICY, POLICY_LOG,
                                     POLICY_SAMPLES, REPORT_JSON, REWARD_MODEL)
from rlaif_audit.loop.prompts import messages, run_prompts
from rlaif_audit.loop.sampling import chat_inputs, load_policy, sample_responses
from rlaif_audit.loop.training import read_trainer_log
from rlaif_audit.progress import stage_progress
from rlaif_audit.records.fileio import read_jsonl, write_jsonl
from rlaif_audit.records.types import PreferencePair

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run


def sample_rows(policy: tuple[Any, Any], reference: tuple[Any, Any], prompts: Sequence[dict[str, Any]], n: int, *,
                temperature: float, top_p: float, max_new_tokens: int, batch_size: int, seed: int,
                engine: str = "fast", batch_rows: int = 256, progress: bool = False) -> list[dict[str, Any]]:
    """``n`` responses per prompt (``{"id", "prompt"}``) from the policy and the reference (same seeds): one row per
    prompt × sample with both texts, token ids, lengths and truncation (the policy-side auditors' samples)."""
    texts = [p["prompt"] for p in prompts]
    settings = {"temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens,
                "batch_size": batch_size, "seed": seed, "engine": engine, "batch_rows": batch_rows,
                "progress": progress}
    mine_groups = sample_responses(*policy, texts, n, **settings)
    theirs_groups = sample_responses(*reference, texts, n, **settings)
    tokenizer, rows = policy[1], []
    for prompt, mine_group, theirs_group in zip(prompts, mine_groups, theirs_groups):
        for index, (mine, theirs) in enumerate(zip(mine_group, theirs_group)):
            rows.append({"prompt_id": prompt["id"], "prompt": prompt["prompt"], "sample": index,
                         "policy_text": tokenizer.decode(mine, skip_special_tokens=True).strip(),
                         "reference_text": tokenizer.decode(theirs, skip_special_tokens=True).strip(),
                         "policy_ids": mine, "reference_ids": theirs,
                         "policy_tokens": len(mine), "reference_tokens": len(theirs),
                         "policy_truncated": len(mine) == max_new_tokens,
                         "reference_truncated": len(theirs) == max_new_tokens})
    return rows


def draw_samples(run: Run, generation: int, policy: tuple[Any, Any],
                 reference: tuple[Any, Any]) -> list[dict[str, Any]]:
    """audit_samples responses per held-out prompt from the tuned and the reference policy (same seeds)."""
    path = run.path(generation, AUDIT_SAMPLES)
    if path.exists():
        return read_jsonl(path)
    config = run.config
    rows = sample_rows(policy, reference, run_prompts(run, "eval"), config.audit_samples,
                       temperature=config.temperature, top_p=config.top_p, max_new_tokens=config.max_new_tokens,
                       batch_size=config.gen_batch_size, seed=run.seed(generation, "audit"),
                       engine="generate" if config.sampling_engine == "generate" else "fast",
                       batch_rows=config.sampling_batch_rows, progress=run.progress)
    write_jsonl(path, rows)
    return rows


def audit_pairs(generation: int, rows: Sequence[dict[str, Any]]) -> list[PreferencePair]:
    """Policy sample (A) vs reference sample (B) for the same prompt and sample index."""
    return [PreferencePair(id=f"g{generation}-audit-{r['prompt_id']}-s{r['sample']}", context=messages(r["prompt"]),
                           a=r["policy_text"], b=r["reference_text"],
                           metadata={"prompt_id": r["prompt_id"], "generator_a": f"gen-{generation}/policy",
                                     "generator_b": f"gen-{generation}/reference"})
            for r in rows]


def sequence_kl(policy: Any, reference: Any, prompt_ids: list[int], response_ids: list[int],
                temperature: float) -> tuple[float, float]:
    """(Σ_t KL(π(·|x,y<t) ‖ π_ref(·|x,y<t)), log π(y|x) − log π_ref(y|x)) at the sampling temperature."""
    import torch

    if not response_ids:
        return 0.0, 0.0
    ids = torch.tensor([prompt_ids + response_ids], device=policy.device)
    start = len(prompt_ids) - 1
    with torch.inference_mode():
        logp = torch.log_softmax(policy(ids).logits[0, start:-1].float() / temperature, dim=-1)
        logq = torch.log_softmax(reference(ids).logits[0, start:-1].float() / temperature, dim=-1)
    kl = (logp.exp() * (logp - logq)).sum().item()
    target = torch.tensor(response_ids, device=logp.device)[:, None]
    ratio = (logp.gather(1, target) - logq.gather(1, target)).sum().item()
    return kl, ratio


def add_kl(rows: list[dict[str, Any]], policy: tuple[Any, Any], reference: tuple[Any, Any],
           temperature: float) -> None:
    """KL of the policy to the reference along each policy sample (exact per token, summed over the response)."""
    prompts = sorted({r["prompt"] for r in rows})
    prompt_ids = dict(zip(prompts, chat_inputs(policy[1], prompts)))
    for row in rows:
        row["kl"], row["log_ratio"] = sequence_kl(policy[0], reference[0], prompt_ids[row["prompt"]],
                                                  row["policy_ids"], temperature)


def add_reward_scores(run: Run, generation: int, rows: list[dict[str, Any]]) -> None:
    """The reward model's score of each policy and reference sample (reward = model only)."""
    path = run.path(generation, REWARD_MODEL)
    if run.config.reward != "model" or not path.exists():
        return
    score_sides(rows, *load_reward_model(path))


def score_sides(rows: list[dict[str, Any]], model: Any, tokenizer: Any) -> None:
    """The reward model's score of each row's policy and reference sample (``rm_policy``, ``rm_reference``)."""
    for side in ("policy", "reference"):
        convs = [[*messages(r["prompt"]), {"role": "assistant", "content": r[f"{side}_text"]}] for r in rows]
        for row, value in zip(rows, score(model, tokenizer, convs)):
            row[f"rm_{side}"] = value


def attach_preferences(rows: list[dict[str, Any]], pairs: Sequence[PreferencePair], judgments: Path) -> None:
    """Each row's pair id and ``p_policy``: the pinned evaluator's position-debiased P(policy ≻ reference)."""
    p_policy = debiased_preferences(judgments)
    for row, pair in zip(rows, pairs):
        row["pair_id"], row["p_policy"] = pair.id, p_policy.get(pair.id)


def policy_side_data(run: Run, generation: int) -> list[dict[str, Any]]:
    """Per policy sample: texts, lengths, P(policy ≻ reference) by the pinned evaluator, RM scores, KL."""
    policy_samples = run.path(generation, POLICY_SAMPLES)
    if policy_samples.exists():
        return read_jsonl(policy_samples)
    policy, reference = load_policy(run.path(generation, POLICY)), load_policy(run.input_policy(generation))
    rows = draw_samples(run, generation, policy, reference)
    add_kl(rows, policy, reference, run.config.temperature)
    del policy, reference
    pairs = audit_pairs(generation, rows)
    evaluator = generation_evaluator(run, generation)
    try:
        judge_pairs(run, evaluator, pairs, run.path(generation, AUDIT_JUDGMENTS))
    finally:
        evaluator.close()
    attach_preferences(rows, pairs, run.path(generation, AUDIT_JUDGMENTS))
    add_reward_scores(run, generation, rows)
    write_jsonl(policy_samples, rows)
    return rows


def evaluator_context(run: Run, generation: int, policy_rows: list[dict[str, Any]]) -> Any:
    """The audit context: the generation's labeling judgments, plus the policy-side data under options['policy']."""
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.data.inputs import AuditInputs
    from rlaif_audit.loop.reports import stage_rows

    folder = run.gen_dir(generation)
    reward_model = run.stage_outputs(generation, "reward_model").get("metrics")
    policy = {"samples": policy_rows, "log": read_trainer_log(folder / POLICY_LOG), "reward": run.config.reward,
              "reward_model": reward_model, "stages": stage_rows(run), "generation": generation}
    inputs = AuditInputs.from_pairs(folder / JUDGMENTS, read_pairs_file(folder / PAIRS), [], str(folder / PAIRS))
    return build_context(inputs, seed=run.config.seed, n_bootstrap=run.config.n_bootstrap,
                         options={POLICY_OPTION: policy})


@stage_progress("audit")
def run_audit(run: Run, generation: int) -> dict[str, Any]:
    """Audit the evaluator and the trained policy; write the report beside each checkpoint."""
    from rlaif_audit.loop.reports import write_generation_reports
    from rlaif_audit.auditing.runner import run_auditors

    rows = policy_side_data(run, generation)
    ctx = evaluator_context(run, generation, rows)
    results = run_auditors(ctx, run.pm, run.config.auditors or None, timeout=run.config.auditor_timeout or None)
    report, written = write_generation_reports(run, generation, ctx, results)
    run.notify("on_generation_end", generation, report=report.to_dict())
    return {"report": str(Path(AUDIT) / REPORT_JSON), "written": written,
            "auditor_status": {name: result.status for name, result in results.items()}}
