"""rlaif_audit.trl: an evaluator as a TRL reward function (debiased, judgments written as training goes), the
AuditCallback, and a real GRPOTrainer run on a tiny model with both."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.special import expit

from rlaif_audit.errors import ConfigError
from rlaif_audit.trl import reward_function


def tagged(quality: float, words: str = "an answer") -> str:
    return f"{words} [quality: {quality:.4f}]"


def run_cli(args: list) -> object:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


def test_pairwise_reward_is_position_debiased_against_the_reference_column() -> None:
    """Synthetic judge with first-slot bias b = 2 and qualities q: P_first(ab) = σ(Δ + b), P_first(ba) = σ(b − Δ);
    the reward is 2·½[σ(Δ+b) + 1 − σ(b−Δ)] − 1. A judge shown one order only would reward an equal completion
    2σ(2) − 1 = 0.76 instead of 0."""
    reward = reward_function("synthetic", position_bias=2.0)
    deltas = np.array([0.0, 1.0, -0.5, 3.0])
    completions = [tagged(d) for d in deltas]
    references = [tagged(0.0, "the reference")] * len(deltas)
    got = reward(prompts=["q1", "q2", "q3", "q4"], completions=completions, completion_ids=None,
                 reference=references)
    expected = expit(deltas + 2.0) - expit(2.0 - deltas)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert got[0] == 0.0


def test_conversational_prompts_completions_and_a_fixed_baseline() -> None:
    reward = reward_function("synthetic", baseline=tagged(0.5, "baseline"))
    prompts = [[{"role": "user", "content": "hi"}]] * 2
    completions = [[{"role": "assistant", "content": tagged(0.5)}], [{"role": "assistant", "content": tagged(1.5)}]]
    got = reward(prompts=prompts, completions=completions, completion_ids=None)
    np.testing.assert_allclose(got, [0.0, expit(1.0) - expit(-1.0)], atol=1e-12)


def test_pairwise_without_a_reference_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="column 'reference'.*baseline"):
        reward_function("synthetic")(prompts=["q"], completions=["a"], completion_ids=None)


def test_failed_parse_gives_the_failure_reward_and_is_logged() -> None:
    logged: dict[str, float] = {}
    reward = reward_function("synthetic", fail_rate=1.0, failure_reward=-0.25)
    got = reward(prompts=["q", "r"], completions=["a", "b"], completion_ids=None, reference=["x", "y"],
                 log_metric=lambda name, value: logged.__setitem__(name, value))
    assert got == [-0.25, -0.25]
    assert logged == {"rlaif_audit_synthetic/parse_failures": 2.0}


def test_loop_lookup_by_prompt_id_gives_the_two_order_difference() -> None:
    """The loop's d-RLAIF reward (reference looked up by prompt id) is P_first(ab) − P_first(ba)."""
    from rlaif_audit.host import make_evaluator
    from rlaif_audit.judging.reward_function import EvaluatorReward

    reward = EvaluatorReward(make_evaluator("synthetic", {"position_bias": 0.7}), reference_column="prompt_id",
                             references={"p1": tagged(0.2, "ref"), "p2": tagged(-1.0, "ref")}, name="d_rlaif")
    got = reward(prompts=["q", "r"], completions=[tagged(1.0), tagged(1.0)], completion_ids=None,
                 prompt_id=["p1", "p2"])
    assert reward.__name__ == "d_rlaif"
    np.testing.assert_allclose(got, [expit(0.8 + 0.7) - expit(0.7 - 0.8), expit(2.0 + 0.7) - expit(0.7 - 2.0)],
                               atol=1e-12)


def test_judgments_are_appended_as_training_goes_and_audit_reads_them(tmp_path: Path) -> None:
    log_dir = tmp_path / "judged"
    prompts = [f"question {i}" for i in range(20)]
    rng = np.random.default_rng(0)
    for step in (1, 2):
        reward = reward_function("synthetic", position_bias=0.5, log_dir=log_dir)  # a fresh one resumes the file
        completions = [tagged(q) for q in rng.normal(size=20)]
        reward(prompts=prompts, completions=completions, completion_ids=None, trainer_state=SimpleNamespace(
            global_step=step), reference=[tagged(0.0, "ref")] * 20)
        reward(prompts=prompts, completions=completions, completion_ids=None, trainer_state=SimpleNamespace(
            global_step=step), reference=[tagged(0.0, "ref")] * 20)  # the same batch again: nothing new
    lines = (log_dir / "judgments.jsonl").read_text().splitlines()
    pairs = (log_dir / "pairs.jsonl").read_text().splitlines()
    assert len(pairs) == 40 and len(lines) == 80
    assert {json.loads(line)["order"] for line in lines} == {"ab", "ba"}
    assert all(json.loads(p)["metadata"]["step"] in (1, 2) for p in pairs)
    result = run_cli(["audit", log_dir / "judgments.jsonl", "--data", log_dir / "pairs.jsonl", "--n-bootstrap", 50,
                      "-o", tmp_path / "report"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["data"]["n_pairs"] == 40
    slot = report["auditors"]["position"]["metrics"]["first_slot_log_odds"]["value"]
    assert slot == pytest.approx(0.5, abs=1e-6)  # the bias injected, read back from the written judgments


def test_each_rank_writes_its_own_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rlaif_audit import processes

    monkeypatch.setattr(processes, "process_index", lambda: 1)  # rank 1 of a launch (tests/test_distributed.py)
    reward = reward_function("synthetic", log_dir=tmp_path)
    reward(prompts=["q"], completions=["a"], completion_ids=None, reference=["r"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "judgments.rank1.jsonl", "judgments.rank1.jsonl.identity.json", "pairs.rank1.jsonl"]
    assert reward.judgments_path == tmp_path / "judgments.rank1.jsonl"


def test_pointwise_reward_model_rewards_its_score(tiny_reward_model: str) -> None:
    from rlaif_audit.records.types import JudgeItem

    reward = reward_function("reward-model", model=tiny_reward_model)
    prompts, completions = ["Name a colour.", "Say hi."], ["Blue.", "Hello there, friend."]
    got = reward(prompts=prompts, completions=completions, completion_ids=None)
    judge = reward.evaluator
    for prompt, completion, value in zip(prompts, completions, got):
        item = JudgeItem("x", "ab", [{"role": "user", "content": prompt}], completion, "other")
        raw = json.loads(next(iter(judge.judge([item]))).raw)
        assert value == pytest.approx(raw["r_first"], abs=1e-5)


def test_hf_judge_reward_is_its_two_order_difference(tiny_model: str) -> None:
    """A tiny hf-judge as the reward: each reward is P_first(completion, ref) − P_first(ref, completion) of the same
    judge's own judgments of the two orders."""
    from rlaif_audit.judging.labeling import judge_items
    from rlaif_audit.records.types import PreferencePair

    reward = reward_function("hf-judge", model=tiny_model)
    prompts, completions = ["Name a colour.", "Say hi."], ["Blue.", "Hello there, friend."]
    got = reward(prompts=prompts, completions=completions, completion_ids=None, reference=["Red.", "Go away."])
    pairs = [PreferencePair(str(i), [{"role": "user", "content": p}], c, r)
             for i, (p, c, r) in enumerate(zip(prompts, completions, ["Red.", "Go away."]))]
    p_first = {(j.pair_id, j.order): j.p_first for j in reward.evaluator.judge(judge_items(pairs))}
    expected = [p_first[(str(i), "ab")] - p_first[(str(i), "ba")] for i in range(2)]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    reward.close()


def test_audit_callback_refuses_bad_settings_before_training() -> None:
    from rlaif_audit.errors import PluginError
    from rlaif_audit.trl import AuditCallback

    with pytest.raises(PluginError, match="Evaluator 'nope' not found. Available: .*synthetic"):
        AuditCallback(["q"], "nope")
    with pytest.raises(PluginError, match="Auditor 'lenght' not found"):
        AuditCallback(["q"], "synthetic", auditors=["lenght"])
    with pytest.raises(ConfigError, match="item 1 needs a non-empty text 'prompt'"):
        AuditCallback(["q", {"id": "x"}], "synthetic")
    callback = AuditCallback([{"prompt": "q", "id": "a"}, "r"], "synthetic")
    assert callback.prompts == [{"id": "a", "prompt": "q"}, {"id": "p1", "prompt": "r"}]


def test_callback_audit_of_an_unchanged_policy_reads_no_change(tmp_path: Path, tiny_model: str) -> None:
    """Policy = its frozen reference: the same seeds give the same samples, so KL is exactly 0, the length change 0
    and the (unbiased) evaluator's win rate ½; moving the weights makes the KL positive."""
    import torch

    from rlaif_audit.judging.models import load_causal_lm
    from rlaif_audit.trl import AuditCallback

    model, tokenizer = load_causal_lm(tiny_model)
    callback = AuditCallback(["Name an animal.", "Say goodbye.", "Count."], "synthetic", samples_per_prompt=2,
                             max_new_tokens=6, n_bootstrap=20)
    state = SimpleNamespace(is_world_process_zero=True, global_step=0)
    callback.on_train_begin(SimpleNamespace(output_dir=str(tmp_path)), state, None, model=model,
                            processing_class=tokenizer)
    folder = callback.audit(0, model, tokenizer, tmp_path / "same")
    auditors = json.loads((folder / "report.json").read_text())["auditors"]
    assert auditors["policy-kl"]["metrics"]["kl_per_sequence"]["value"] == 0.0
    assert auditors["length-drift"]["metrics"]["token_difference"]["value"] == 0.0
    assert auditors["reward-hacking"]["metrics"]["evaluator_win_rate"]["value"] == 0.5
    assert auditors["reward-hacking"]["metrics"]["evaluator_win_rate"]["n"] == 6
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    folder = callback.audit(1, model, tokenizer, tmp_path / "moved")
    auditors = json.loads((folder / "report.json").read_text())["auditors"]
    assert auditors["policy-kl"]["metrics"]["kl_per_sequence"]["value"] > 0.0
    assert sorted(callback.reports) == [0, 1]


GRPO_PROMPTS = ["Name a colour.", "Say hello.", "Count to three.", "Name a fruit."]


def test_grpo_trains_with_an_evaluator_reward_and_the_audit_callback(tmp_path: Path, tiny_model: str) -> None:
    """The issue's test: a tiny model, TRL GRPO for 2 steps, the synthetic evaluator as reward (judgments written),
    the AuditCallback; the saved checkpoint carries a report and the judgment file audits."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from rlaif_audit.trl import AuditCallback

    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": p}], "reference": tagged(0.0, "ref")}
                                 for p in GRPO_PROMPTS])
    reward = reward_function("synthetic", position_bias=1.0, log_dir=tmp_path / "judged")
    hf_reward = reward_function("hf-judge", model=tiny_model, log_dir=tmp_path / "hf-judged")
    callback = AuditCallback(["Name an animal.", "Say goodbye."], "synthetic", {"length_pref": 0.5},
                             samples_per_prompt=2, max_new_tokens=8, n_bootstrap=50, every_n_steps=1)
    args = GRPOConfig(output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=4,
                      num_generations=2, max_completion_length=8, logging_steps=1, save_strategy="steps",
                      save_steps=2, report_to=[], use_cpu=True, seed=0, learning_rate=1e-4, beta=0.1,
                      disable_tqdm=True, dataloader_num_workers=0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    trainer = GRPOTrainer(model=tiny_model, reward_funcs=[reward, hf_reward], args=args, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[callback])
    trainer.train()

    report_dir = tmp_path / "out" / "checkpoint-2" / "rlaif-audit"
    report = json.loads((report_dir / "report.json").read_text())
    auditors = report["auditors"]
    assert auditors["reward-hacking"]["status"] == "ok"
    assert auditors["length-drift"]["status"] == "ok"
    assert auditors["mode-collapse"]["status"] == "ok" and auditors["position"]["status"] == "ok"
    assert "run-stages" not in auditors and "agreement" not in auditors  # the default selection
    kl = auditors["policy-kl"]["metrics"]["kl_per_sequence"]["value"]
    assert kl > 0  # two optimiser steps moved the policy off its frozen initial copy
    assert auditors["reward-hacking"]["metrics"]["evaluator_win_rate"]["n"] == 4  # 2 prompts × 2 samples
    assert sorted(callback.reports) == [1, 2] and (tmp_path / "out" / "rlaif-audit" / "step-1" / "report.json").is_file()
    assert "train_reward_slope" in auditors["reward-hacking"]["metrics"] or len(callback.log) >= 2
    assert (report_dir / "report.md").is_file() and (report_dir / "judgments.jsonl").is_file()

    logged = [row for row in trainer.state.log_history if "rewards/rlaif_audit_hf_judge/mean" in row]
    assert len(logged) == 2 and all(-1.0 <= row["rewards/rlaif_audit_hf_judge/mean"] <= 1.0 for row in logged)
    for name in ("judged", "hf-judged"):
        judged = tmp_path / name
        lines = (judged / "judgments.jsonl").read_text().splitlines()
        assert len(lines) == 2 * len((judged / "pairs.jsonl").read_text().splitlines()) >= 2
        result = run_cli(["audit", judged / "judgments.jsonl", "--data", judged / "pairs.jsonl", "--n-bootstrap",
                          50, "-o", tmp_path / f"{name}-report"])
        assert result.exit_code == 0, result.output
        steps = {json.loads(line)["metadata"]["step"] for line in (judged / "pairs.jsonl").read_text().splitlines()}
        assert steps == {0, 1}  # the optimiser step each batch was judged at (TRL's state before the update)


def test_rloo_trains_with_an_evaluator_reward(tmp_path: Path, tiny_model: str) -> None:
    """TRL's RLOOTrainer calls the reward function with the same signature; standard (text) prompts, a baseline."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RLOOConfig, RLOOTrainer

    reward = reward_function("synthetic", baseline=tagged(0.0, "baseline"), log_dir=tmp_path / "judged")
    args = RLOOConfig(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=4,
                      num_generations=2, max_completion_length=6, logging_steps=1, save_strategy="no",
                      report_to=[], use_cpu=True, seed=0, disable_tqdm=True, dataloader_num_workers=0)
    trainer = RLOOTrainer(model=tiny_model, reward_funcs=[reward], args=args,
                          train_dataset=Dataset.from_list([{"prompt": p} for p in GRPO_PROMPTS]),
                          processing_class=AutoTokenizer.from_pretrained(tiny_model))
    trainer.train()
    assert any("rewards/rlaif_audit_synthetic/mean" in row for row in trainer.state.log_history)
    pairs = [json.loads(line) for line in (tmp_path / "judged" / "pairs.jsonl").read_text().splitlines()]
    assert pairs and all(pair["b"] == tagged(0.0, "baseline") for pair in pairs)
    assert pairs[0]["context"] == [{"role": "user", "content": pairs[0]["context"][0]["content"]}]
