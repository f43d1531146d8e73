"""The run configuration: typed keys, the "default" and "smoke" presets, TOML files and CLI overrides."""

from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, get_origin, get_type_hints

from rlaif_audit.auditing.runner import DEFAULT_TIMEOUT_S as AUDITOR_TIMEOUT_S
from rlaif_audit.errors import ConfigError, InputError
from rlaif_audit.judging.labeling import BATCH_TIMEOUT_S


@dataclass(frozen=True)
class Key:
    """One configuration key: its type, default, help text and value check (read from a RunConfig field)."""

    type: type
    default: Any
    help: str
    check: Callable[[Any], str | None] | None = None


def _positive(value: Any) -> str | None:
    """A problem unless the value is > 0."""
    return None if value > 0 else "must be > 0"


def _non_negative(value: Any) -> str | None:
    """A problem unless the value is >= 0."""
    return None if value >= 0 else "must be >= 0"


def _choice(*valid: str) -> Callable[[Any], str | None]:
    """A check that the value is one of ``valid``."""
    return lambda value: None if value in valid else f"must be one of: {', '.join(valid)}"


def _unit_interval(value: Any) -> str | None:
    """A problem unless the value is in (0, 1]."""
    return None if 0 < value <= 1 else "must be in (0, 1]"


def _fraction(value: Any) -> str | None:
    """A problem unless the value is in (0, 1)."""
    return None if 0 < value < 1 else "must be in (0, 1)"


def _even(value: Any) -> str | None:
    """A problem unless the value is an even number >= 2."""
    return None if value >= 2 and value % 2 == 0 else "must be an even number >= 2 (candidates are paired)"


def _dropout(value: Any) -> str | None:
    """A problem unless the value is in [0, 1)."""
    return None if 0 <= value < 1 else "must be in [0, 1)"


def _nonempty(value: Any) -> str | None:
    """A problem unless the list has at least one item."""
    return None if value else "must name at least one module"


SUCCESSIONS = ("pinned", "policy", "reward-model")


def _key(default: Any, help: str, check: Callable[[Any], str | None] | None = None) -> Any:
    """A RunConfig field: its default, its help text (``rlaif-audit run --help``) and its value check."""
    metadata = {"help": help, "check": check}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class RunConfig:
    """A validated run configuration: one typed field per key, each checked when the config is built.

    Build it with :func:`build_config` (preset, then TOML file, then CLI overrides).
    Each field's help text and value check are in its metadata; :data:`KEYS` is
    derived from the fields.
    """

    policy: str = _key("smollm2", "Policy: 'smollm2' (SmolLM2-135M-Instruct), a model folder or a .gguf file.")
    evaluator: str = _key("hf-judge", "Evaluator plugin that labels the pairs (see `rlaif-audit evaluators`).")
    evaluator_options: dict[str, Any] = _key(
        {}, "Evaluator options (TOML table [evaluator_options]; CLI -O key=value).")
    prompts: str = _key("", "Prompt file (JSONL with 'prompt'); empty: the 100 short-answer prompts shipped with "
                        "rlaif-audit.")
    num_prompts: int = _key(56, "Prompts used from the prompt file (0: all), after a seeded shuffle.", _non_negative)
    eval_prompts: int = _key(16, "Prompts held out from training for the policy-side audits.", _positive)
    candidates_per_prompt: int = _key(2, "Candidates K the policy samples per prompt (paired 0-1, 2-3, ...).", _even)
    temperature: float = _key(0.8, "Sampling temperature (generation, RL rollouts, audit samples).", _positive)
    top_p: float = _key(0.95, "Nucleus sampling top-p.", _unit_interval)
    max_new_tokens: int = _key(96, "Maximum new tokens per response.", _positive)
    gen_batch_size: int = _key(16, "Prompts per generate() batch.", _positive)
    seed: int = _key(0, "Seed of every random choice (shuffles, sampling, training).", _non_negative)
    reward: str = _key("model", "'model': a TRL reward model trained on the AI labels; 'direct': d-RLAIF.",
                       _choice("model", "direct"))
    algorithm: str = _key("grpo", "RL algorithm: grpo (GRPOTrainer) or rloo (RLOOTrainer).", _choice("grpo", "rloo"))
    label_batch_size: int = _key(16, "Judgments per evaluator call; each batch is fsynced before the next.",
                                 _positive)
    label_timeout: float = _key(BATCH_TIMEOUT_S, "Seconds an evaluator batch may take (0: no limit); a batch past "
                                "it is written as failed judgments, and 3 in a row stop the stage.", _non_negative)
    auditor_timeout: float = _key(AUDITOR_TIMEOUT_S, "Seconds one auditor may take (0: no limit); one past it is "
                                  "reported as an error, the other auditors' results are kept.", _non_negative)
    rm_epochs: float = _key(1.0, "Reward-model training epochs.", _positive)
    rm_learning_rate: float = _key(5e-5, "Reward-model learning rate.", _positive)
    rm_batch_size: int = _key(8, "Reward-model training batch size (pairs).", _positive)
    rm_eval_fraction: float = _key(0.2, "Share of AI-labeled pairs held out to measure the reward model.", _fraction)
    rl_steps: int = _key(3, "RL optimiser steps.", _positive)
    rl_learning_rate: float = _key(5e-6, "RL learning rate.", _positive)
    num_generations: int = _key(4, "Completions per prompt in each RL step (the GRPO/RLOO group).", _positive)
    rl_batch_size: int = _key(8, "Completions per RL step (a multiple of num_generations).", _positive)
    beta: float = _key(0.04, "KL penalty coefficient to the reference policy.", _non_negative)
    save_steps: int = _key(2, "Save a resumable TRL checkpoint every N optimiser steps (not at the last).", _positive)
    human_data: str = _key("", "Human-labeled pair set to score the reward model against (path or hub id).")
    human_limit: int = _key(200, "Pairs read from human_data.", _positive)
    audit_samples: int = _key(2, "Samples per held-out prompt from the policy and from the reference.", _positive)
    auditors: list[str] = _key([], "Auditors to run (empty: every registered auditor).")
    n_bootstrap: int = _key(2000, "Bootstrap resamples behind each confidence interval.", _positive)
    generations: int = _key(2, "RLAIF generations (gen-0, gen-1, ...); each starts from the previous policy.",
                            _positive)
    evaluator_succession: str = _key(
        "policy", "Evaluator of generation g+1: 'pinned' (the configured one every generation), 'policy' (gen g's "
        "trained policy as hf-judge, same rubric) or 'reward-model' (gen g's trained reward model).",
        _choice(*SUCCESSIONS))
    on_drift: str = _key("warn", "Pinned runs: 'warn' or 'stop' when the evaluator's probe judgments or identity "
                         "differ from gen-0's.", _choice("warn", "stop"))
    probe_suites: list[str] = _key([], "Probe suites every generation's evaluator judges (empty: every registered "
                                   "suite; see `rlaif-audit probes`).")
    probe_limit: int = _key(0, "Pairs per probe suite (0: all), a seeded subset stratified by probe kind; the "
                            "same subset in every generation.", _non_negative)
    self_preference: bool = _key(True, "Policy succession: each generation's evaluator and gen-0's judge the previous "
                                 "generation's audit samples (its own policy's vs the reference's), for the excess "
                                 "preference for its own outputs.")
    anchor_data: str = _key("", "Human-labeled pairs added as human-anchor probes (path or hub id, any reader "
                            "format); empty: none.")
    anchor_limit: int = _key(100, "Pairs read from anchor_data.", _positive)
    keep_checkpoints: bool = _key(False, "Keep the TRL training checkpoints after a stage completes.")
    sampling_engine: str = _key(
        "fast", "Generate-stage and audit sampling: 'fast' (KV-cache decode loop), 'generate' (transformers), "
        "'openai' (an OpenAI-compatible server, e.g. vLLM; generate stage only).", _choice("fast", "generate", "openai"))
    sampling_batch_rows: int = _key(256, "Rows (prompts × candidates) per batch of the fast sampling engine.",
                                    _positive)
    sampling_base_url: str = _key("", "Base URL of the OpenAI-compatible server (sampling_engine = 'openai').")
    sampling_model: str = _key("", "Model name on that server (empty: the first listed by /v1/models).")
    sampling_concurrency: int = _key(16, "Requests in flight to that server.", _positive)
    rl_generation_batch_size: int = _key(0, "Completions TRL generates per call in the RL stage (0: TRL's default).",
                                         _non_negative)
    rl_continuous_batching: bool = _key(False, "RL rollouts with transformers' continuous batching "
                                               "(TRL use_transformers_continuous_batching).")
    rollout_engine: str = _key(
        "fast", "RL rollouts on the transformers path: 'fast' (the KV-cache decode loop inside TRL's trainer) or "
        "'trl' (TRL's model.generate); vLLM and continuous batching always use TRL's path.", _choice("fast", "trl"))
    use_vllm: bool = _key(False, "RL rollouts with vLLM (TRL use_vllm; needs a GPU and the vllm package).")
    vllm_mode: str = _key("colocate", "vLLM for RL rollouts: 'colocate' (in the trainer) or 'server' "
                                      "(`trl vllm-serve`).", _choice("colocate", "server"))
    vllm_server_url: str = _key("", "Base URL of `trl vllm-serve` (vllm_mode = 'server'; empty: TRL's default).")
    report_to: list[str] = _key([], "Experiment trackers the TRL trainers log to, passed as TrainingArguments' "
                                "report_to (e.g. [\"tensorboard\"], [\"trackio\"], [\"wandb\"]; empty: none).")
    # TRL passthrough: LoRA (peft_config) and the Hub (TrainingArguments' push_to_hub keys), docs/run.md
    lora_r: int = _key(0, "LoRA rank of the policy and reward-model training, passed to TRL as peft_config (0: full "
                       "fine-tuning; > 0 needs the peft package). The saved policy/ and reward_model/ are full "
                       "models, the adapters merged in.", _non_negative)
    lora_alpha: int = _key(16, "LoRA scaling alpha (lora_r > 0).", _positive)
    lora_dropout: float = _key(0.05, "LoRA dropout (lora_r > 0).", _dropout)
    lora_target_modules: list[str] = _key(["all-linear"], "Modules LoRA adapts (lora_r > 0): peft's 'all-linear' or "
                                          "module names such as q_proj, v_proj.", _nonempty)
    push_to_hub: bool = _key(False, "Push the trained policy (and reward model) to the Hugging Face Hub as TRL does "
                             "(TrainingArguments' push_to_hub); needs hub_model_id.")
    hub_model_id: str = _key("", "Hub repository of the policy (push_to_hub); the reward model goes to "
                             "<hub_model_id>-reward-model.")
    hub_private_repo: bool = _key(True, "Create the Hub repositories private (push_to_hub).")

    def __post_init__(self) -> None:
        """Coerce and check every value (the message names the key), then the checks across keys."""
        for name in KEYS:
            try:
                object.__setattr__(self, name, check_value(name, getattr(self, name)))
            except ValueError as exc:
                raise ConfigError(f"Option '{name}': {exc}") from exc
        check_combination(self)

    def to_dict(self) -> dict[str, Any]:
        """Every key and its value, in the order of :data:`KEYS` (as written to config.toml and the manifest)."""
        return {name: copy.deepcopy(getattr(self, name)) for name in KEYS}


def _field_key(item: Field[Any], hint: Any) -> Key:
    """The Key of a RunConfig field: the plain type of its annotation, its default, help text and check."""
    default = item.default_factory() if item.default is MISSING else item.default
    return Key(get_origin(hint) or hint, default, item.metadata["help"], item.metadata["check"])


def _keys() -> dict[str, Key]:
    """Every configuration key, derived from the RunConfig fields, in their order."""
    hints = get_type_hints(RunConfig)
    return {item.name: _field_key(item, hints[item.name]) for item in fields(RunConfig)}


KEYS: dict[str, Key] = _keys()

SMOKE = {
    "num_prompts": 12, "eval_prompts": 4, "max_new_tokens": 16, "gen_batch_size": 8, "label_batch_size": 4,
    "rm_batch_size": 4, "rm_eval_fraction": 0.25, "rl_steps": 2, "num_generations": 2, "rl_batch_size": 4,
    "save_steps": 2, "audit_samples": 1, "n_bootstrap": 200, "human_limit": 16, "generations": 1,
    "anchor_limit": 16, "probe_limit": 12,
}
PRESETS: dict[str, dict[str, Any]] = {"default": {}, "smoke": SMOKE}


def defaults(preset: str = "default") -> dict[str, Any]:
    """The values of a preset; an unknown preset is an error naming the valid ones."""
    if preset not in PRESETS:
        raise ConfigError(f"Preset '{preset}' not found. Available: {', '.join(PRESETS)}")
    values = {name: copy.deepcopy(key.default) for name, key in KEYS.items()}
    values.update(PRESETS[preset])
    return values


def _type_name(key: Key) -> str:
    """How an error message names the key's type."""
    return {dict: "table", list: "list of strings", float: "number", int: "integer", bool: "boolean"}.get(
        key.type, "string")


def check_value(name: str, value: Any) -> Any:
    """The value coerced to the key's type (int → float); a message on a wrong type or a bad value."""
    key = KEYS[name]
    if key.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if key.type is int and isinstance(value, bool) or not isinstance(value, key.type):
        raise ValueError(f"must be a {_type_name(key)}, got {type(value).__name__} {value!r}")
    if key.type is list and not all(isinstance(item, str) for item in value):
        raise ValueError(f"must be a list of strings, got {value!r}")
    bad_number = _bad_number(name, value)  # `--temperature inf` reaches here from the CLI as float('inf')
    if bad_number:
        raise ValueError(bad_number[1])
    problem = key.check(value) if key.check else None
    if problem:
        raise ValueError(f"{problem}, got {value!r}")
    return value


def unknown_key_message(name: str) -> str:
    """'unknown key' with the closest valid key and the list of valid keys."""
    close = difflib.get_close_matches(name.replace("-", "_"), KEYS, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"unknown key '{name}'.{hint} Valid keys: {', '.join(KEYS)}"


def _key_line(text: str, name: str) -> int | None:
    """The line of a TOML file that sets ``name`` (a key or a table), for error messages."""
    pattern = re.compile(rf"^\s*(\[\s*)?[\"']?{re.escape(name)}[\"']?\s*(=|\])")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def read_toml(path: Path | str) -> dict[str, Any]:
    """The keys of a run TOML file, checked (``preset`` included when set); errors name the file, line and key.

    Any byte sequence gives the keys or an InputError: bytes that are not UTF-8, TOML too deeply nested or with an
    integer of more than 4,300 digits, a number that is not finite (``inf``, ``nan``) or an integer outside the
    64-bit range anywhere in the file (evaluator options included) are refused like bad TOML.
    """
    import tomllib

    from rlaif_audit.records.fileio import read_utf8

    path = Path(path)
    text = read_utf8(path, "config file")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"at line (\d+)", str(exc))  # Python < 3.14 has no exc.lineno
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise InputError(str(path), f"not valid TOML: {message}", line=int(where[1]) if where else None) from exc
    except RecursionError:
        raise InputError(str(path), "not valid TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        limit = str(exc).split(":")[0]
        raise InputError(str(path), f"not valid TOML: a number has too many digits ({limit})") from None
    checked = {}
    for name, value in raw.items():
        line = _key_line(text, name)
        bad_number = _bad_number(name, value)
        if bad_number:
            raise InputError(str(path), bad_number[1], line=_key_line(text, bad_number[0].split(".")[-1]) or line,
                             field=bad_number[0])
        if name == "preset":
            if not isinstance(value, str) or value not in PRESETS:
                raise InputError(str(path), f"unknown preset {value!r}; valid: {', '.join(PRESETS)}", line, name)
        elif name not in KEYS:
            raise InputError(str(path), unknown_key_message(name), line=line, field=name)
        try:
            checked[name] = value if name == "preset" else check_value(name, value)
        except ValueError as exc:
            raise InputError(str(path), str(exc), line=line, field=name) from exc
    return checked


INT64 = (-(2**63), 2**63 - 1)


def _bad_number(name: str, value: Any) -> tuple[str, str] | None:
    """(dotted key, problem) of the first number in ``value`` that is not finite or is an integer outside 64 bits."""
    import math

    stack: list[tuple[str, Any]] = [(name, value)]
    while stack:
        key, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return key, f"must be a finite number, got {item!r}"
        if isinstance(item, int) and not isinstance(item, bool) and not INT64[0] <= item <= INT64[1]:
            return key, f"is out of range: an integer must fit in 64 bits, got one of {len(str(abs(item)))} digits"
        if isinstance(item, dict):
            stack.extend((f"{key}.{sub}", child) for sub, child in item.items())
        elif isinstance(item, list):
            stack.extend((key, child) for child in item)
    return None


def check_combination(config: RunConfig) -> None:
    """Checks that involve several keys."""
    batch, group = config.rl_batch_size, config.num_generations
    if group < 2:
        raise ConfigError(f"num_generations must be >= 2 (GRPO and RLOO compare completions), got {group}")
    if batch % group:
        raise ConfigError(f"rl_batch_size ({batch}) must be a multiple of num_generations ({group})")
    if config.evaluator_succession == "reward-model" and config.reward != "model":
        raise ConfigError("evaluator_succession = 'reward-model' needs reward = 'model' (a direct-reward run "
                          "trains no reward model to succeed the evaluator)")
    from rlaif_audit.loop.sampling import check_rollouts  # the RL generation keys (sampling engines' block)

    if problem := check_rollouts(config):
        raise ConfigError(problem)


def build_config(toml_path: Path | str | None = None, preset: str | None = None,
                 overrides: dict[str, Any] | None = None) -> RunConfig:
    """Preset values, then the TOML file's keys, then CLI overrides; every key checked as the config is built."""
    from_file = read_toml(toml_path) if toml_path is not None else {}
    values = defaults(preset or from_file.pop("preset", None) or "default")
    values.update(from_file)
    for name, value in (overrides or {}).items():
        if name not in KEYS:
            raise ConfigError(unknown_key_message(name))
        values[name] = value
    return RunConfig(**values)


def parse_cli_value(name: str, raw: str) -> Any:
    """A CLI string turned into the key's type ('--rl-steps 3' → 3)."""
    key = KEYS[name]
    try:
        if key.type is bool:
            lowered = raw.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(raw)
            return lowered in {"1", "true", "yes", "on"}
        if key.type is list:
            return [item.strip() for item in raw.split(",") if item.strip()]
        return key.type(raw)
    except ValueError as exc:
        raise ConfigError(f"Option '--{name.replace('_', '-')}': cannot read {raw!r} as {_type_name(key)}") from exc


def to_toml(values: dict[str, Any]) -> str:
    """A config as TOML text (plain keys first, then the evaluator_options table)."""
    lines = []
    for name, value in values.items():
        if isinstance(value, dict):
            continue
        lines.append(f"{name} = {_toml_value(value)}")
    for name, value in values.items():
        if isinstance(value, dict):
            lines.append(f"\n[{name}]")
            lines.extend(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    """One TOML value: booleans, numbers, lists and strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))

