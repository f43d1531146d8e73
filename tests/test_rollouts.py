"""loop/rollouts.py: TRL GRPO/RLOO rollouts on the fast engine return what TRL's generate path returns (structure,
greedy ids, EOS cuts), keep TRL's path for what the engine does not cover, and train (tiny config-built model)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from rlaif_audit.loop import rollouts
from rlaif_audit.loop.decode import Sampling
from rlaif_audit.loop.rollouts import cut_after_eos, engine_sampling, fast_trainer_class

TRL_KWARGS = {"max_new_tokens": 8, "do_sample": True, "pad_token_id": 2, "bos_token_id": 1, "eos_token_id": [2],
              "temperature": 0.8, "top_p": 0.95, "top_k": 0, "min_p": None, "repetition_penalty": 1.0,
              "cache_implementation": None}
PROMPTS = ["What is the capital of France?", "Name a prime number.", "Say hello in one long sentence, please."]


def test_engine_settings_follow_trl_generation_kwargs() -> None:
    assert engine_sampling(TRL_KWARGS) == Sampling(temperature=0.8, top_p=0.95, top_k=0, max_new_tokens=8)
    assert engine_sampling({**TRL_KWARGS, "top_k": 20}).top_k == 20
    assert engine_sampling({**TRL_KWARGS, "do_sample": False}) == Sampling(temperature=0.0, max_new_tokens=8)


@pytest.mark.parametrize("change", [{"min_p": 0.1}, {"repetition_penalty": 1.2}, {"suppress_tokens": [5]},
                                    {"cache_implementation": "static"}, {"num_beams": 2}, {"top_k": None},
                                    {"temperature": None}])
def test_settings_the_engine_cannot_reproduce_keep_trl_path(change: dict[str, Any]) -> None:
    assert engine_sampling({**TRL_KWARGS, **change}) is None


def test_cut_after_eos_keeps_the_first_end_token() -> None:
    assert cut_after_eos([5, 6, 2, 7, 2], [2]) == [5, 6, 2]
    assert cut_after_eos([5, 9, 6], [2, 9]) == [5, 9]
    assert cut_after_eos([5, 6], [2]) == [5, 6]


def _trainer(trainer_class: Any, config_class: Any, tmp_path: Path, **options: Any) -> Any:
    from datasets import Dataset
    from transformers import AutoTokenizer

    from rlaif_audit.judging.models import tiny_model
    from rlaif_audit.loop.prompts import messages

    policy = str(tiny_model())
    args = config_class(output_dir=str(tmp_path / "out"), seed=0, report_to=[], use_cpu=True, save_strategy="no",
                        logging_steps=1, disable_tqdm=True, max_steps=1, per_device_train_batch_size=4,
                        num_generations=2, max_completion_length=8, learning_rate=1e-2, beta=0.04,
                        gradient_checkpointing=False, **options)
    dataset = Dataset.from_list([{"prompt": messages(p)} for p in PROMPTS * 2])
    return trainer_class(model=policy, reward_funcs=lambda completions, **_: [float(len(str(c))) for c in completions],
                         args=args, train_dataset=dataset, processing_class=AutoTokenizer.from_pretrained(policy))


def _grpo(tmp_path: Path, **options: Any) -> Any:
    from trl import GRPOConfig, GRPOTrainer

    return _trainer(fast_trainer_class(GRPOTrainer), GRPOConfig, tmp_path, **options)


def _lively(trainer: Any) -> Any:
    """Redraw the tiny model's weight matrices with std 0.5 (seeded): at the default init its greedy output is one
    token repeated, which would make the greedy comparison below too weak to catch a position or cache bug."""
    import torch

    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for weights in trainer.model.parameters():
            if weights.dim() > 1:
                weights.copy_(torch.randn(weights.shape, generator=generator) * 0.5)
    return trainer


def _prompt_ids(trainer: Any, repeat: int = 2) -> list[list[int]]:
    """Chat prompts' ids, each ``repeat`` times in a row (as TRL's RepeatSampler orders a batch)."""
    from rlaif_audit.loop.sampling import chat_inputs

    return [ids for ids in chat_inputs(trainer.processing_class, PROMPTS) for _ in range(repeat)]


def _trl(trainer: Any, prompt_ids: list[list[int]]) -> Any:
    """TRL's own transformers-path generation on the same trainer."""
    from trl import GRPOTrainer

    return GRPOTrainer._generate_single_turn(trainer, prompt_ids, None, {}, 2)


def _add_end_token(trainer: Any, token: int) -> None:
    """Make ``token`` an end token for TRL's generate (its generation config) and its EOS cut alike."""
    ends = [*trainer.eos_token_ids, token]
    trainer.eos_token_ids = ends
    trainer.generation_kwargs["eos_token_id"] = ends
    trainer.generation_config.eos_token_id = ends


def test_greedy_rollouts_equal_trl_generate_including_eos_cuts(tmp_path: Path) -> None:
    """With do_sample False both paths are deterministic: same ids row by row, and with a frequent token made an
    end token, the same early cuts (the end token kept, nothing after it)."""
    trainer = _lively(_grpo(tmp_path, generation_kwargs={"do_sample": False}))
    prompt_ids = _prompt_ids(trainer)
    expected, expected_logprobs = _trl(trainer, prompt_ids)
    got, logprobs = trainer._generate_single_turn(prompt_ids, None, {}, 2)
    assert logprobs is None and expected_logprobs is None
    assert got == expected
    assert all(len(row) == 8 for row in got)  # the random tiny model never ends on its own
    assert len({tuple(row) for row in got}) == len(PROMPTS) and len(set(got[0])) > 4
    row, cut = next((r, i) for r, ids in enumerate(expected) for i, token in enumerate(ids)
                    if i > 0 and token not in ids[:i])
    end = expected[row][cut]
    _add_end_token(trainer, end)
    expected, _ = _trl(trainer, prompt_ids)
    got, _ = trainer._generate_single_turn(prompt_ids, None, {}, 2)
    assert got == expected
    assert len(got[row]) == cut + 1 and got[row][-1] == end and got[row].count(end) == 1


def test_sampled_rollouts_have_trl_structure(tmp_path: Path) -> None:
    import torch

    trainer = _grpo(tmp_path)
    prompt_ids = _prompt_ids(trainer)
    torch.manual_seed(0)
    expected, _ = _trl(trainer, prompt_ids)
    torch.manual_seed(0)
    got, logprobs = trainer._generate_single_turn(prompt_ids, None, {}, 2)
    assert logprobs is None
    assert len(got) == len(expected) == len(prompt_ids)
    assert all(isinstance(row, list) and all(type(t) is int for t in row) and 0 < len(row) <= 8 for row in got)
    torch.manual_seed(0)
    assert trainer._generate_single_turn(prompt_ids, None, {}, 2)[0] == got  # seeded: reproducible


def test_unsupported_options_call_trl_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = _grpo(tmp_path, generation_kwargs={"do_sample": False, "repetition_penalty": 1.3})
    monkeypatch.setattr(rollouts, "decode", lambda *a, **k: pytest.fail("the engine ran"))
    got, _ = trainer._generate_single_turn(_prompt_ids(trainer), None, {}, 2)
    assert got == _trl(trainer, _prompt_ids(trainer))[0]


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_an_rl_step_trains_on_the_fast_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              algorithm: str) -> None:
    import torch
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    calls: list[int] = []
    decode = rollouts.decode
    monkeypatch.setattr(rollouts, "decode", lambda *a, **k: calls.append(1) or decode(*a, **k))
    trainer_class, config_class = (GRPOTrainer, GRPOConfig) if algorithm == "grpo" else (RLOOTrainer, RLOOConfig)
    trainer = _trainer(fast_trainer_class(trainer_class), config_class, tmp_path)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    result = trainer.train()
    assert calls, "the rollouts did not run on the engine"
    assert math.isfinite(result.training_loss)
    changed = [name for name, p in trainer.model.named_parameters() if not torch.equal(p.detach(), before[name])]
    assert changed


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_the_policy_stage_picks_the_trainer_by_rollout_engine(algorithm: str) -> None:
    import trl

    from rlaif_audit.errors import ConfigError
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.policy import _trainer_classes
    from rlaif_audit.loop.rollouts import FastRollouts

    plain = trl.GRPOTrainer if algorithm == "grpo" else trl.RLOOTrainer
    assert build_config(preset="smoke").rollout_engine == "fast"
    _, fast = _trainer_classes(algorithm, build_config(preset="smoke").rollout_engine)
    assert issubclass(fast, plain) and issubclass(fast, FastRollouts)
    assert fast.returns_logprobs is (algorithm == "grpo")
    assert _trainer_classes(algorithm, "trl")[1] is plain
    with pytest.raises(ConfigError, match="rollout_engine"):
        build_config(preset="smoke", overrides={"rollout_engine": "vllm"})
