"""TRL passthrough keys: LoRA (``lora_*`` as TRL's peft_config) and the Hub keys (``push_to_hub``,
``hub_model_id``, ``hub_private_repo``) reach the trainers; the preflight refuses inconsistent ones."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

SMOKE_HUB = {"push_to_hub": True, "hub_model_id": "someone/policy", "hub_private_repo": False}


def run_cli(*args: str) -> Result:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), ["run", "--preset", "smoke", *args])


def test_lora_without_peft_is_refused_before_the_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else find_spec(name, *a))
    result = run_cli("--lora-r", "4", "-o", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert "Option 'lora_r': LoRA (lora_r = 4) needs the peft package" in result.output
    assert not (tmp_path / "run").exists()


def test_push_to_hub_needs_hub_model_id(tmp_path: Path) -> None:
    result = run_cli("--push-to-hub", "true", "-o", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    assert "Option 'push_to_hub': pushing to the Hugging Face Hub needs hub_model_id" in result.output
    assert not (tmp_path / "run").exists()


@pytest.fixture
def hub_run(tmp_path: Path, tiny_model: str) -> Any:
    """A new tiny run folder with the Hub keys set and LoRA on."""
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.run import create_run

    config = build_config(preset="smoke", overrides={"policy": tiny_model, "evaluator_options": {"model": tiny_model},
                                                     "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0,
                                                     "lora_target_modules": ["q_proj", "v_proj"], **SMOKE_HUB})
    run = create_run(tmp_path / "run", config, get_plugin_manager())
    run.progress = False
    return run


def test_hub_and_lora_keys_reach_the_policy_trainer(hub_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import trl

    from rlaif_audit.loop.policy import build_trainer

    received: dict[str, Any] = {}

    class Captured:
        """Stands in for GRPOTrainer (a real one would create the Hub repository): keeps what it is given."""

        def __init__(self, **kwargs: Any) -> None:
            received.update(kwargs)

        def pop_callback(self, callback: Any) -> None:
            return None

        def remove_callback(self, callback: Any) -> None:
            return None

    monkeypatch.setattr(trl, "GRPOTrainer", Captured)
    build_trainer(hub_run, 0, reward_func=lambda **_: [0.0], reward_tokenizer=None)
    args, lora = received["args"], received["peft_config"]
    assert isinstance(args, trl.GRPOConfig)
    assert (args.push_to_hub, args.hub_model_id, args.hub_private_repo) == (True, "someone/policy", False)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, lora.task_type) == (4, 8, 0.0, "CAUSAL_LM")
    assert set(lora.target_modules) == {"q_proj", "v_proj"}


def test_reward_model_hub_repository_and_lora(hub_run: Any, tmp_path: Path) -> None:
    from trl import RewardConfig

    from rlaif_audit.loop.training import REWARD_MODEL_HUB_SUFFIX, peft_config, trainer_arguments

    args = RewardConfig(**trainer_arguments(hub_run, tmp_path / "ckpt", 0, hub_suffix=REWARD_MODEL_HUB_SUFFIX))
    assert (args.push_to_hub, args.hub_model_id, args.hub_private_repo) == (True, "someone/policy-reward-model",
                                                                            False)
    lora = peft_config(hub_run, "SEQ_CLS")
    assert lora.task_type == "SEQ_CLS" and lora.modules_to_save == ["score"]


def test_defaults_push_nothing_and_train_in_full(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from trl import GRPOConfig

    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.training import peft_config, trainer_arguments

    run = SimpleNamespace(config=build_config(preset="smoke"), progress=False)
    assert GRPOConfig(**trainer_arguments(run, tmp_path, 0)).push_to_hub is False
    assert peft_config(run, "CAUSAL_LM") is None
    assert build_config(overrides={"lora_target_modules": ["all-linear"], "lora_r": 2}).lora_target_modules == [
        "all-linear"]


@pytest.mark.slow  # real TRL training: a reward model and one GRPO step on the tiny model (about 30 s on 2 cores)
def test_lora_trains_only_adapters_and_saves_a_full_policy(tmp_path: Path, tiny_model: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.loop import policy, reward
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.run import create_run, run_stage
    from rlaif_audit.loop.stages import STAGES

    config = build_config(preset="smoke", overrides={
        "policy": tiny_model, "evaluator_options": {"model": tiny_model}, "n_bootstrap": 100, "lora_r": 4,
        "rl_steps": 1, "rl_learning_rate": 1e-2, "rm_learning_rate": 1e-2})
    run = create_run(tmp_path / "run", config, get_plugin_manager())
    run.progress = False
    trainable: dict[str, dict[str, int]] = {}
    for module in (policy, reward):
        def counting(trainer: Any, checkpoints: Path, real: Any = module.train_resumably,
                     name: str = module.__name__) -> dict[str, Any]:
            trainable[name] = {n: p.numel() for n, p in trainer.model.named_parameters() if p.requires_grad}
            return real(trainer, checkpoints)

        monkeypatch.setattr(module, "train_resumably", counting)
    for stage in STAGES[:5]:  # generate, probes, label, reward_model, policy
        run_stage(run, 0, stage)
    layers = AutoModelForCausalLM.from_pretrained(tiny_model).config.num_hidden_layers
    # all-linear: q, k, v, o, gate, up, down in each layer, an A and a B matrix each
    assert len(trainable["rlaif_audit.loop.policy"]) == layers * 7 * 2
    assert all(".lora_A." in n or ".lora_B." in n for n in trainable["rlaif_audit.loop.policy"])
    assert [n for n in trainable["rlaif_audit.loop.reward"] if "lora_" not in n] == [
        "base_model.model.score.modules_to_save.default.weight"]  # the new score head, in full
    base = load_file(str(Path(tiny_model) / "model.safetensors"))
    saved = load_file(str(run.path(0, "policy") / "model.safetensors"))
    assert sorted(saved) == sorted(base), "a full model, the adapters merged in"
    assert float((saved["model.layers.0.mlp.up_proj.weight"] - base["model.layers.0.mlp.up_proj.weight"]).abs()
                 .max()) > 0, "the merged adapters changed the weights"
    assert (saved["model.embed_tokens.weight"] == base["model.embed_tokens.weight"]).all(), "not a LoRA target"
    assert type(AutoModelForCausalLM.from_pretrained(str(run.path(0, "policy")))).__name__ == "LlamaForCausalLM"
