"""The reward-model evaluator on a tiny sequence-classification Llama: P(first) = sigmoid(r_first − r_second)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from rlaif_audit.default_plugins.evaluators.reward_model import RewardModelJudge
from rlaif_audit.auditing.estimators import sigmoid
from rlaif_audit.errors import ConfigError
from rlaif_audit.judging.labeling import judge_items
from rlaif_audit.judging import models
from rlaif_audit.records.types import PreferencePair


def make_pairs() -> list[PreferencePair]:
    return [
        PreferencePair("p0", [{"role": "user", "content": "How do I boil an egg?"}], "Boil it ten minutes.", "No."),
        PreferencePair("p1", [{"role": "user", "content": "Hi " * 40}], "Hello! " * 12, "Hey."),
        PreferencePair("p2", [], "A reply without context.", ""),
    ]


def direct_reward(folder: str, context: list[dict[str, str]], response: str) -> float:
    """The model's score of one conversation, computed alone (no batch, no padding)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    messages = [*context, {"role": "assistant", "content": response}]
    ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    with torch.inference_mode():
        return float(model(torch.tensor([ids])).logits[0, 0])


def test_both_orders_are_complementary_and_match_direct_scores(tiny_reward_model: str) -> None:
    pairs = make_pairs()
    judge = RewardModelJudge(model=tiny_reward_model, batch_size=2)
    judgments = {(j.pair_id, j.order): j for j in judge.judge(judge_items(pairs))}
    assert len(judgments) == 2 * len(pairs)
    for pair in pairs:
        ab, ba = judgments[(pair.id, "ab")], judgments[(pair.id, "ba")]
        assert 0.0 <= ab.p_first <= 1.0 and ab.p_first + ba.p_first == pytest.approx(1.0, abs=1e-9)
        r_a, r_b = (direct_reward(tiny_reward_model, pair.context, text) for text in (pair.a, pair.b))
        assert ab.p_first == pytest.approx(sigmoid(r_a - r_b), abs=1e-4)
        raw = json.loads(ab.raw)
        assert raw["r_first"] == pytest.approx(r_a, abs=1e-4) and raw["truncated_tokens"] == [0, 0]
        assert ab.verdict == ("first" if ab.p_first > 0.5 else "second")


def test_sigmoid_is_stable() -> None:
    assert sigmoid(0.0) == 0.5 and sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0
    assert sigmoid(2.0) == pytest.approx(1 / (1 + math.exp(-2.0)))


def test_truncation_is_recorded(tiny_reward_model: str) -> None:
    pair = PreferencePair("long", [{"role": "user", "content": "word " * 300}], "yes", "no")
    judgments = list(RewardModelJudge(model=tiny_reward_model, max_length=64).judge(judge_items([pair])))
    assert all(min(json.loads(j.raw)["truncated_tokens"]) > 0 for j in judgments)


def test_identity_follows_the_weights(tiny_reward_model: str, tmp_path: Path) -> None:
    other = tmp_path / "rm"
    shutil.copytree(models.tiny_reward_model(seed=1), other)
    first = RewardModelJudge(model=tiny_reward_model)
    assert first.identity_hash() == RewardModelJudge(model=tiny_reward_model, batch_size=3).identity_hash()
    assert first.identity_hash() != RewardModelJudge(model=str(other)).identity_hash()
    assert len(first.identity()["weights_sha256"]) == 64


def test_a_causal_lm_with_several_outputs_is_refused(tmp_path: Path, tiny_model: str) -> None:
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path / "two-labels"
    config = AutoConfig.from_pretrained(tiny_model)
    config.num_labels = 2
    AutoModelForSequenceClassification.from_config(config).save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(str(folder))
    judge = RewardModelJudge(model=str(folder))
    with pytest.raises(ConfigError, match="2 outputs"):
        list(judge.judge(judge_items(make_pairs())))


def test_missing_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="-O model=PATH"):
        RewardModelJudge()
    with pytest.raises(ConfigError, match="no config.json"):
        RewardModelJudge(model=str(tmp_path))


def test_registered_as_a_builtin_plugin(pm) -> None:  # noqa: ANN001 - pytest fixture
    from rlaif_audit.host import evaluators

    assert evaluators(pm).get("reward-model") is RewardModelJudge
