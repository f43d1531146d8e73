"""The sampling engines behind the generate and audit stages: fast, generate (unchanged samples) and openai."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from http_judge_server import JudgeServer, Reply

from rlaif_audit.errors import ConfigError
from rlaif_audit.loop.config import build_config
from rlaif_audit.loop.openai_sampling import OpenAISampler, SamplingServerError
from rlaif_audit.loop.sampling import chat_inputs, config_samples, sample_responses

PROMPTS = ["Hi", "Write a haiku about the sea and the wind", "Why is the sky blue?", "Name a colour",
           "Explain photosynthesis in one long sentence please", "2+2?"]
SETTINGS = {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 6}


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    from rlaif_audit.judging.models import load_causal_lm, tiny_model

    return load_causal_lm(tiny_model())


def test_generate_engine_gives_the_samples_of_before(tiny: tuple[Any, Any]) -> None:
    """engine='generate' draws what the stage drew before the fast path: generate, seed·1_000_003 + batch index."""
    from rlaif_audit.loop.sampling import _cut, _pad_left, _stop_ids

    model, tokenizer = tiny
    got = sample_responses(model, tokenizer, PROMPTS, 2, batch_size=4, seed=3, engine="generate", **SETTINGS)
    encoded = chat_inputs(tokenizer, PROMPTS)
    order, expected, stops = sorted(range(len(PROMPTS)), key=lambda i: len(encoded[i])), {}, _stop_ids(model, tokenizer)
    for batch_index, start in enumerate(range(0, len(order), 4)):
        members = order[start:start + 4]
        ids, mask = _pad_left([encoded[i] for i in members], tokenizer.pad_token_id)
        torch.manual_seed(3 * 1_000_003 + batch_index)
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, top_k=0, num_return_sequences=2,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=stops, **SETTINGS)
        for row, tokens in enumerate(out[:, ids.shape[1]:].tolist()):
            expected.setdefault(members[row // 2], []).append(_cut(tokens, stops))
    assert got == [expected[i] for i in range(len(PROMPTS))]


def test_fast_engine_returns_each_prompts_candidates_in_prompt_order(tiny: tuple[Any, Any]) -> None:
    """Several length-sorted batches of rows: each prompt gets its own K candidates (near-greedy: checkable)."""
    model, tokenizer = tiny
    near_greedy = {**SETTINGS, "temperature": 1e-4}
    got = sample_responses(model, tokenizer, PROMPTS, 2, batch_size=1, seed=0, batch_rows=4, **near_greedy)
    alone = [sample_responses(model, tokenizer, [p], 2, batch_size=1, seed=9, batch_rows=4, **near_greedy)[0]
             for p in PROMPTS]
    assert got == alone and all(len(group) == 2 for group in got)


def test_fast_engine_seeds_are_reproducible(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    first, again, other = (sample_responses(model, tokenizer, PROMPTS, 2, batch_size=4, seed=s, batch_rows=6,
                                            **SETTINGS) for s in (1, 1, 2))
    assert first == again and first != other


def test_openai_engine_samples_each_candidate_with_its_own_seed(tiny: tuple[Any, Any], tmp_path: Path) -> None:
    """Against a loopback server: one request per candidate, the settings and seeds sent, texts as token ids."""
    from rlaif_audit.judging.models import tiny_model

    tokenizer = tiny[1]
    with JudgeServer(lambda prompt, attempt, body: Reply(text=f" {prompt} #{body['seed']} ")) as server:
        config = build_config(preset="smoke", overrides={"sampling_engine": "openai", "sampling_base_url": server.url,
                                                         "sampling_concurrency": 3, **SETTINGS})
        samples, _, engine = config_samples(config, tiny_model(), PROMPTS[:3], 2, seed=5)
        bodies = [seen.body for seen in server.chat_requests()]
    assert engine == {"engine": "openai", "base_url": server.url, "server_model": "judge-model"}
    texts = [[tokenizer.decode(ids) for ids in group] for group in samples]
    assert texts == [[f"{p} #{5 * 1_000_003 + i * 2 + j}" for j in range(2)] for i, p in enumerate(PROMPTS[:3])]
    assert len(bodies) == 6 and all(b["n"] == 1 and b["model"] == "judge-model" and b["max_tokens"] == 6 and
                                    b["temperature"] == 0.8 and b["top_p"] == 0.95 for b in bodies)
    assert bodies[0]["messages"][-1] == {"role": "user", "content": PROMPTS[bodies[0]["seed"] % 1_000_003 // 2]}


def test_openai_engine_retries_a_busy_server_then_names_a_hard_failure() -> None:
    def respond(prompt: str, attempt: int, body: dict[str, Any]) -> Reply:
        if prompt == "bad":
            return Reply(status=400, message="max_tokens too large")
        return Reply(status=503) if attempt < 2 else Reply(text="ok")

    with JudgeServer(respond) as server:
        sampler = OpenAISampler(server.url, "m", concurrency=1)
        assert sampler.texts(["fine"], 1, seed=0, **{**SETTINGS, "max_new_tokens": 6}) == [["ok"]]
        with pytest.raises(SamplingServerError, match=r"chat/completions: HTTP 400.*max_tokens too large"):
            sampler.texts(["bad"], 1, seed=0, **SETTINGS)


def test_openai_engine_needs_a_base_url() -> None:
    with pytest.raises(ConfigError, match="sampling_base_url"):
        OpenAISampler("")


def test_sampling_engine_is_checked() -> None:
    with pytest.raises(ConfigError, match="sampling_engine.*fast, generate, openai"):
        build_config(overrides={"sampling_engine": "vllm"})


def test_rollout_options_reach_trls_config(tmp_path: Path) -> None:
    """The RL generation keys become GRPOConfig/RLOOConfig fields TRL accepts; unset keys leave TRL's defaults."""
    from trl import GRPOConfig, RLOOConfig

    from rlaif_audit.loop.sampling import rollout_arguments

    assert rollout_arguments(build_config()) == {}
    config = build_config(overrides={"rl_generation_batch_size": 16, "use_vllm": True, "vllm_mode": "server",
                                     "vllm_server_url": "http://gpu-host:8000"})
    options = rollout_arguments(config)
    assert options == {"generation_batch_size": 16, "use_vllm": True, "vllm_mode": "server",
                       "vllm_server_base_url": "http://gpu-host:8000"}
    for config_class in (GRPOConfig, RLOOConfig):
        args = config_class(output_dir=str(tmp_path), per_device_train_batch_size=8, num_generations=4, use_cpu=True,
                            report_to=[], **options)
        assert (args.generation_batch_size, args.use_vllm, args.vllm_server_base_url) == (16, True,
                                                                                          "http://gpu-host:8000")
    paged = rollout_arguments(build_config(overrides={"rl_continuous_batching": True}))
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **paged)
    assert args.use_transformers_continuous_batching


def test_rollout_batch_size_must_fit_the_rl_batch() -> None:
    with pytest.raises(ConfigError, match=r"rl_generation_batch_size \(12\) must be a multiple of rl_batch_size \(8\)"):
        build_config(overrides={"rl_generation_batch_size": 12})
    with pytest.raises(ConfigError, match="exclude each other"):
        build_config(overrides={"use_vllm": True, "rl_continuous_batching": True})


def test_rl_trainers_train_in_float32_on_the_cpu(tmp_path: Path) -> None:
    """GRPOConfig/RLOOConfig default to bf16=True (CPU autocast to bfloat16, far slower on an AVX2 CPU); the policy
    stage's arguments, which the RL benchmark shares, turn it off on the CPU and keep the run's RL sizes."""
    from trl import GRPOConfig, RLOOConfig

    from rlaif_audit.loop.policy import rl_arguments
    from rlaif_audit.loop.training import device_arguments

    assert GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[]).bf16  # TRL's default, the trap
    assert device_arguments() == {"use_cpu": True, "bf16": False}
    config = build_config(preset="smoke")
    for config_class in (GRPOConfig, RLOOConfig):
        args = config_class(output_dir=str(tmp_path), report_to=[], **device_arguments(), **rl_arguments(config))
        assert not args.bf16 and args.use_cpu
        assert (args.max_steps, args.per_device_train_batch_size, args.num_generations, args.max_completion_length) \
            == (config.rl_steps, config.rl_batch_size, config.num_generations, config.max_new_tokens)
