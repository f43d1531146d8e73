"""`rlaif-audit run` configuration: presets, TOML keys, CLI options, and the errors a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rlaif_audit.errors import ConfigError, InputError
from rlaif_audit.loop.config import KEYS, build_config, defaults, read_toml, to_toml


def invoke(*args: str):
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), ["run", *args])


def test_presets_hold_only_known_keys_and_smoke_is_smaller() -> None:
    default, smoke = defaults("default"), defaults("smoke")
    assert set(default) == set(KEYS) == set(smoke)
    assert smoke["num_prompts"] < default["num_prompts"] and smoke["rl_steps"] < default["rl_steps"]
    assert default["policy"] == "smollm2" and default["evaluator"] == "hf-judge"


def test_toml_round_trip_keeps_every_value(tmp_path: Path) -> None:
    values = defaults("smoke") | {"evaluator_options": {"model": "x", "batch_size": 4}, "auditors": ["position"]}
    path = tmp_path / "run.toml"
    path.write_text(to_toml(values))
    assert read_toml(path) == values


def test_unknown_toml_key_names_file_line_key_and_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('policy = "smollm2"\n\nrl_stepz = 3\n')
    with pytest.raises(InputError) as caught:
        read_toml(path)
    message = str(caught.value)
    assert f"{path}:3" in message and "'rl_stepz'" in message and "Did you mean 'rl_steps'" in message


def test_ill_typed_toml_key_names_line_and_type(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('seed = 1\nrl_steps = "three"\n')
    with pytest.raises(InputError) as caught:
        read_toml(path)
    assert caught.value.line == 2 and caught.value.field == "rl_steps" and "integer" in str(caught.value)


def test_bool_is_not_an_integer_and_ints_become_floats(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("rl_steps = true\n")
    with pytest.raises(InputError, match="rl_steps"):
        read_toml(path)
    path.write_text("beta = 0\n")
    assert read_toml(path) == {"beta": 0.0}


def test_values_out_of_range_and_bad_combinations_are_refused() -> None:
    with pytest.raises(ConfigError, match="reward"):
        build_config(overrides={"reward": "vibes"})
    with pytest.raises(ConfigError, match="candidates_per_prompt"):
        build_config(overrides={"candidates_per_prompt": 3})
    with pytest.raises(ConfigError, match="multiple of num_generations"):
        build_config(overrides={"rl_batch_size": 6, "num_generations": 4})
    with pytest.raises(ConfigError, match="'generations': must be > 0"):
        build_config(overrides={"generations": 0})
    with pytest.raises(ConfigError, match="evaluator_succession"):
        build_config(overrides={"evaluator_succession": "inherited"})
    with pytest.raises(ConfigError, match="needs reward = 'model'"):
        build_config(overrides={"evaluator_succession": "reward-model", "reward": "direct"})
    with pytest.raises(ConfigError, match="on_drift"):
        build_config(overrides={"on_drift": "ignore"})
    assert build_config(overrides={"generations": 3}).generations == 3


def test_toml_preset_then_file_then_cli(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('preset = "smoke"\nrl_steps = 5\n')
    config = build_config(path, overrides={"seed": 7})
    assert (config.num_prompts, config.rl_steps, config.seed) == (defaults("smoke")["num_prompts"], 5, 7)


def test_cli_unknown_toml_key_exits_2_without_creating_the_run(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("num_promts = 4\n")
    result = invoke("--config", str(path), "-o", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "num_promts" in result.output and f"{path}:1" in result.output
    assert not (tmp_path / "r").exists()


def test_cli_option_type_error_exits_2(tmp_path: Path) -> None:
    result = invoke("--rl-steps", "many", "-o", str(tmp_path / "r"))
    assert result.exit_code == 2 and "--rl-steps" in result.output


def test_cli_every_key_is_an_option() -> None:
    from rlaif_audit.commands.run import command

    flags = {opt for param in command.params for opt in param.opts}
    missing = [k for k in KEYS if k != "evaluator_options" and f"--{k.replace('_', '-')}" not in flags]
    assert not missing and "-O" in flags


def test_cli_resume_refuses_new_options_and_missing_runs(tmp_path: Path) -> None:
    result = invoke("--resume", str(tmp_path), "--seed", "3")
    assert result.exit_code == 2 and "--seed" in result.output
    result = invoke("--resume", str(tmp_path))
    assert result.exit_code == 2 and "manifest.json" in result.output


def test_cli_refuses_to_overwrite_a_run(tmp_path: Path) -> None:
    from rlaif_audit.loop.run import create_run
    from rlaif_audit.host import get_plugin_manager

    create_run(tmp_path / "r", build_config(preset="smoke"), get_plugin_manager())
    result = invoke("--preset", "smoke", "-o", str(tmp_path / "r"))
    assert result.exit_code == 2 and "--resume" in result.output


def test_prompt_file_errors_name_line_and_field(tmp_path: Path) -> None:
    from rlaif_audit.loop.prompts import bundled_prompts, read_prompts

    rows = read_prompts(bundled_prompts())
    assert len(rows) == 100 and {r["category"] for r in rows} == {"helpful", "harmless"}
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"id": "a", "prompt": "hi"}\n{"id": "b", "prompt": ""}\n')
    with pytest.raises(InputError) as caught:
        read_prompts(bad)
    assert caught.value.line == 2 and caught.value.field == "prompt"


def test_bad_toml_and_bad_preset_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('seed = 1\npreset = "huge"\n')
    with pytest.raises(InputError) as caught:
        build_config(path)
    assert caught.value.line == 2 and "smoke" in str(caught.value)
    path.write_text("seed = = 1\n")
    with pytest.raises(InputError, match="not valid TOML") as caught:
        read_toml(path)
    assert caught.value.line == 1


def test_config_is_a_frozen_dataclass_whose_fields_are_the_keys() -> None:
    import dataclasses

    from rlaif_audit.loop.config import RunConfig

    assert [f.name for f in dataclasses.fields(RunConfig)] == list(KEYS)
    assert all(KEYS[f.name].help == f.metadata["help"] and f.metadata["help"] for f in dataclasses.fields(RunConfig))
    assert (KEYS["rl_steps"].type, KEYS["beta"].type, KEYS["auditors"].type) == (int, float, list)
    config = build_config(preset="smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.rl_steps = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.rl_stepz  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(TypeError, match="rl_stepz"):
        RunConfig(rl_stepz=3)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="Option 'seed': must be >= 0"):
        RunConfig(seed=-1)
    assert RunConfig(beta=0).beta == 0.0 and isinstance(RunConfig(beta=0).beta, float)
    assert RunConfig().to_dict() == defaults("default")


def test_stages_are_the_documented_six_in_order_and_import_no_other_stage() -> None:
    import ast

    from rlaif_audit.loop import audit, generate, label, policy, probes, propagation, reward
    from rlaif_audit.loop.stages import RUN_STAGES, STAGES

    assert [s.name for s in STAGES] == ["generate", "probes", "label", "reward_model", "policy", "audit"]
    assert [s.run for s in STAGES] == [generate.run_generate, probes.run_probes, label.run_label,
                                       reward.run_reward_model, policy.run_policy, audit.run_audit]
    assert [(s.name, s.run) for s in RUN_STAGES] == [("propagation", propagation.run_propagation)]
    assert [s.name for s in STAGES if s.all_processes] == ["reward_model", "policy"]
    modules = (audit, generate, label, policy, probes, propagation, reward)
    stage_modules = {m.__name__ for m in modules}
    for module in modules:
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not imported & stage_modules, f"{module.__name__} imports {imported & stage_modules}"


def test_manifest_names_each_generations_evaluator_by_succession(tmp_path: Path) -> None:
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.loop.run import create_run

    pm = get_plugin_manager()
    for succession, gen1 in (("pinned", ("hf-judge", None)), ("policy", ("hf-judge", "gen-0/policy")),
                             ("reward-model", ("reward-model", "gen-0/reward_model"))):
        config = build_config(preset="smoke", overrides={"generations": 3, "evaluator_succession": succession,
                                                         "evaluator_options": {"model": "smollm2", "template": "t.txt"}})
        evaluators = create_run(tmp_path / succession, config, pm).manifest["evaluators"]
        assert list(evaluators) == ["gen-0", "gen-1", "gen-2"]
        assert (evaluators["gen-0"]["evaluator"], evaluators["gen-0"]["model_from"]) == ("hf-judge", None)
        assert (evaluators["gen-1"]["evaluator"], evaluators["gen-1"]["model_from"]) == gen1
        if succession == "policy":  # the same rubric, the previous generation's policy as the model
            assert evaluators["gen-2"]["options"] == {"template": "t.txt"}
            assert evaluators["gen-2"]["model_from"] == "gen-1/policy"


def test_run_path_reaches_a_generations_files_by_their_layout_names(tmp_path: Path) -> None:
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.loop import layout
    from rlaif_audit.loop.run import create_run

    run = create_run(tmp_path / "r", build_config(preset="smoke"), get_plugin_manager())
    assert run.path(0, layout.PAIRS) == tmp_path / "r" / "gen-0" / "pairs.jsonl"
    assert run.path(0, layout.POLICY_SAMPLES) == tmp_path / "r" / "gen-0" / "audit" / "policy_samples.jsonl"
    assert run.marker(0, "label") == tmp_path / "r" / "gen-0" / "stages" / "label.done.json"
    assert (tmp_path / "r" / layout.MANIFEST).exists() and (tmp_path / "r" / layout.CONFIG).exists()
    assert set(run.manifest["seeds"]) == {"seed", "gen-0"}


def test_the_label_timeout_key_reaches_the_loops_labeling(tmp_path: Path) -> None:
    """A loop label stage whose evaluator hangs on its first batch writes that batch as timed-out failures after
    ``label_timeout`` seconds and labels the rest (before, the loop always waited the built-in 600 s)."""
    import threading
    import time
    from types import SimpleNamespace

    from rlaif_audit.data.judgment_file import read_judgments
    from rlaif_audit.judging.evaluator import Evaluator
    from rlaif_audit.loop.ai_feedback import judge_pairs
    from rlaif_audit.records.types import Judgment, PreferencePair

    release = threading.Event()

    class HangsFirst(Evaluator):
        name = "hangs-first"
        description = "test evaluator"
        options: dict = {}
        calls = 0

        def identity(self) -> dict:
            return {"evaluator": self.name}

        def judge(self, items):
            HangsFirst.calls += 1
            if HangsFirst.calls == 1:
                release.wait(30)
            return iter([Judgment(item.pair_id, item.order, 0.7, "first", "ok", "{}") for item in items])

    pairs = [PreferencePair(f"p{i}", [{"role": "user", "content": f"q{i}"}], f"a{i}", f"b{i}") for i in range(8)]
    config = build_config(preset="smoke", overrides={"label_timeout": 0.5, "label_batch_size": 4})
    run = SimpleNamespace(config=config, progress=False)
    started = time.monotonic()
    try:
        outputs = judge_pairs(run, HangsFirst(), pairs, tmp_path / "j.jsonl")
    finally:
        release.set()
    assert time.monotonic() - started < 20
    frame = read_judgments(tmp_path / "j.jsonl")
    assert outputs["judgments"] == 16 and (frame.parse_status == "failed").sum() == 4
    assert build_config(preset="smoke", overrides={"label_timeout": 0}).label_timeout == 0
    with pytest.raises(ConfigError, match="auditor_timeout"):
        build_config(preset="smoke", overrides={"auditor_timeout": -1})


def test_only_the_command_layer_imports_commands() -> None:
    """The CLI commands sit on top: the loop, auditing, data and reporting layers never import rlaif_audit.commands
    (the cores that both a command and the loop use live below it, e.g. data.export and auditing.probe_set)."""
    import ast

    import rlaif_audit

    package = Path(rlaif_audit.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("commands/") or relative == "cli.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{relative}:{node.lineno} {n}" for n in names if n.startswith("rlaif_audit.commands")]
    assert not offenders, offenders
