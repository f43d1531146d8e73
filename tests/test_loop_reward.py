"""Reward-model scoring and accuracy against real human labels (HH-RLHF harmless) with a tiny model."""

from __future__ import annotations

from pathlib import Path

from rlaif_audit.loop.config import build_config
from rlaif_audit.loop.run import create_run


def test_reward_model_accuracy_against_human_labels(tmp_path: Path, hh_path: Path, pm, tiny_reward_model: str) -> None:
    from rlaif_audit.loop.ai_feedback import load_reward_model, score
    from rlaif_audit.loop.reward import accuracy_vs_humans

    config = build_config(preset="smoke", overrides={"human_data": str(hh_path), "human_limit": 12})
    run = create_run(tmp_path / "run", config, pm)
    model, tokenizer = load_reward_model(tiny_reward_model)
    result = accuracy_vs_humans(run, model, tokenizer)
    assert result["n"] == 12 and 0.0 <= result["value"] <= 1.0
    assert result["ci"][0] <= result["value"] <= result["ci"][1] and str(hh_path) in result["source"]
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    single = score(model, tokenizer, [conversation])
    batched = score(model, tokenizer, [conversation, [*conversation[:1], {"role": "assistant", "content": "x " * 50}]])
    assert abs(single[0] - batched[0]) < 1e-4, "right padding must not change a sequence's reward"


def test_no_human_data_means_no_human_accuracy(tmp_path: Path, pm) -> None:
    from rlaif_audit.loop.reward import accuracy_vs_humans

    run = create_run(tmp_path / "run", build_config(preset="smoke"), pm)
    assert accuracy_vs_humans(run, None, None) is None
