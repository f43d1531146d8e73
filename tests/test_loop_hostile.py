"""`rlaif-audit run` under hostile input and damage: the whole config checked before the run folder exists,
observers that cannot change the run, safetensors only, damaged run folders, failed writes, leftover TRL checkpoints,
and (slow) kill -9 at moments over every stage through scripts/chaos_run.py."""

from __future__ import annotations

import errno
import json
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rlaif_audit import hookimpl
from rlaif_audit.errors import ConfigError, InputError, RlaifAuditError
from rlaif_audit.loop.config import build_config
from rlaif_audit.loop.run import create_run, open_run

REPO = Path(__file__).resolve().parents[1]
SENTINEL_ENV = "RLAIF_AUDIT_TEST_UNPICKLED"


def invoke(*args: str) -> Any:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), list(args))


def pm() -> Any:
    from rlaif_audit.host import get_plugin_manager

    return get_plugin_manager()


def smoke(**overrides: Any) -> Any:
    """The smoke preset (the bundled policy: nothing is loaded to check or create a run)."""
    return build_config(preset="smoke", overrides=overrides)


def new_run(tmp_path: Path, **overrides: Any) -> Any:
    return create_run(tmp_path / "run", smoke(**overrides), pm())


class Unpickled:
    """Unpickling this writes a file: proof that a pickle was loaded."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (Path(self.path), "unpickled"))

    def __init__(self, path: Path) -> None:
        self.path = str(path)


def pickle_only_model(folder: Path, sentinel: Path) -> Path:
    """A model folder with config.json and only a pickled pytorch_model.bin (that marks being unpickled)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Unpickled(sentinel)))
    return folder


# ---------------------------------------------------------------------------------------- validate before any work

@pytest.mark.parametrize("overrides, words", [
    ({"auditors": ["positon"]}, ["auditors", "positon", "position"]),
    ({"probe_suites": ["no-such-suite"]}, ["probe_suites", "no-such-suite"]),
    ({"evaluator": "hf-jugde"}, ["hf-jugde", "hf-judge"]),
    ({"evaluator_options": {"modle": "x"}}, ["modle", "model"]),
    ({"prompts": "missing-prompts.jsonl"}, ["missing-prompts.jsonl"]),
    ({"human_data": "missing-human.jsonl"}, ["missing-human.jsonl"]),
    ({"anchor_data": "missing-anchors.jsonl"}, ["missing-anchors.jsonl"]),
    ({"policy": "no/such/model"}, ["policy", "no/such/model"]),
])
def test_a_bad_run_config_is_refused_before_the_run_folder_exists(tmp_path: Path, overrides: dict[str, Any],
                                                                   words: list[str]) -> None:
    started = time.monotonic()
    with pytest.raises(RlaifAuditError) as caught:
        new_run(tmp_path, **overrides)
    assert time.monotonic() - started < 5
    assert all(word in str(caught.value) for word in words), str(caught.value)
    assert not (tmp_path / "run").exists(), "nothing written"


def test_a_bad_prompt_file_is_refused_with_its_line_before_the_run_folder_exists(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "a"}\n{"prompt": 3}\n')
    with pytest.raises(InputError) as caught:
        new_run(tmp_path, prompts=str(prompts))
    assert caught.value.line == 2 and caught.value.field == "prompt"
    assert not (tmp_path / "run").exists()


def test_cli_typo_in_auditors_fails_in_seconds_with_nothing_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("rlaif_audit.loop.run.execute", lambda run: pytest.fail("the run started"))
    started = time.monotonic()
    result = invoke("run", "--preset", "smoke", "--auditors", "positon", "-o", str(tmp_path / "run"))
    assert time.monotonic() - started < 5
    assert result.exit_code == 2 and "Option 'auditors': Auditor 'positon' not found" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option, value", [("--temperature", "inf"), ("--temperature", "nan"),
                                           ("--rm-learning-rate", "inf"), ("--beta", "nan")])
def test_cli_non_finite_numbers_are_refused(tmp_path: Path, monkeypatch, option: str, value: str) -> None:
    monkeypatch.setattr("rlaif_audit.loop.run.execute", lambda run: pytest.fail("the run started"))
    result = invoke("run", "--preset", "smoke", option, value, "-o", str(tmp_path / "run"))
    assert result.exit_code == 2 and "must be a finite number" in result.output, result.output
    assert not (tmp_path / "run").exists()


def test_non_finite_evaluator_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="finite"):
        smoke(evaluator_options={"temperature": float("inf")})


# --------------------------------------------------------------------------------------------- safetensors only

def test_a_policy_folder_of_pickles_is_refused_before_anything_is_loaded(tmp_path: Path) -> None:
    sentinel = tmp_path / "unpickled"
    folder = pickle_only_model(tmp_path / "pickled", sentinel)
    with pytest.raises(ConfigError) as caught:
        new_run(tmp_path, policy=str(folder))
    assert "no safetensors weights" in str(caught.value) and "pytorch_model.bin" in str(caught.value)
    assert not sentinel.exists() and not (tmp_path / "run").exists()


def test_a_reward_model_folder_of_pickles_is_refused_before_anything_is_loaded(tmp_path: Path) -> None:
    sentinel = tmp_path / "unpickled"
    folder = pickle_only_model(tmp_path / "pickled-rm", sentinel)
    with pytest.raises(ConfigError, match="evaluator_options.model.*no safetensors"):
        new_run(tmp_path, evaluator="reward-model", evaluator_options={"model": str(folder)})
    assert not sentinel.exists() and not (tmp_path / "run").exists()


def test_label_refuses_an_evaluator_folder_of_pickles_with_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    sentinel = tmp_path / "unpickled"
    folder = pickle_only_model(tmp_path / "pickled", sentinel)
    out = tmp_path / "j.jsonl"
    result = invoke("label", "demo", "-e", "hf-judge", "-O", f"model={folder}", "-o", str(out), "-q")
    assert result.exit_code == 2 and "no safetensors weights" in result.output and "pytorch_model.bin" in result.output
    assert not sentinel.exists() and not out.exists()


def test_the_cli_refuses_a_policy_folder_of_pickles_with_exit_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("rlaif_audit.loop.run.execute", lambda run: pytest.fail("the run started"))
    sentinel = tmp_path / "unpickled"
    folder = pickle_only_model(tmp_path / "pickled", sentinel)
    result = invoke("run", "--preset", "smoke", "--policy", str(folder), "-o", str(tmp_path / "run"))
    assert result.exit_code == 2 and "no safetensors weights" in result.output
    assert not sentinel.exists() and not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------- read-only to plugins

class Meddler:
    """An observer that tries to change the run through every mutable field it is given."""

    @hookimpl
    def on_stage_start(self, run: Any, generation: int, stage: str) -> None:
        run.config.evaluator_options["model"] = "someone-else"
        run.config.auditors.append("agreement")
        run.config.probe_suites.append("bogus")
        object.__setattr__(run.config, "rl_steps", 1)
        run.manifest["config"]["rl_steps"] = 1
        run.manifest["status"] = "hijacked"
        run.manifest["stages"]["gen-0/generate"] = {"outputs": {}}
        run.save_manifest()  # refused: recorded as this plugin's failure

    @hookimpl
    def on_stage_end(self, run: Any, generation: int, stage: str, stats: dict[str, Any]) -> None:
        stats["outputs"]["scratch"] = ["../../elsewhere"]
        stats["seconds"] = -1


def test_an_observer_that_mutates_run_config_and_manifest_changes_nothing(tmp_path: Path) -> None:
    manager = pm()
    manager.register(Meddler(), name="meddler")
    run = create_run(tmp_path / "run", smoke(evaluator_options={"model": "smollm2"}, rl_steps=2), manager)
    config_before, manifest_before = run.config.to_dict(), json.loads(json.dumps(run.manifest))
    run.notify("on_stage_start", 0, stage="generate")
    record = {"stage": "generate", "seconds": 1.0, "outputs": {}}
    run.notify("on_stage_end", 0, stage="generate", stats=record)
    assert run.config.to_dict() == config_before and run.config.rl_steps == 2
    assert run.config.evaluator_options == {"model": "smollm2"} and run.config.auditors == []
    on_disk = json.loads((run.folder / "manifest.json").read_text())
    for manifest in (run.manifest, on_disk):
        assert manifest["config"] == manifest_before["config"] and manifest["status"] == "running"
        assert "gen-0/generate" not in manifest["stages"]
    assert record == {"stage": "generate", "seconds": 1.0, "outputs": {}}
    (failure,) = [f for f in run.manifest["plugin_failures"] if f["plugin"] == "meddler"]
    assert failure["hook"] == "on_stage_start" and "read-only" in failure["error"]


# ------------------------------------------------------------------------------------------ damaged run folders

def resume_cli(folder: Path) -> Any:
    return invoke("run", "--resume", str(folder))


def test_resume_of_a_manifest_without_config_names_the_file(tmp_path: Path) -> None:
    run = new_run(tmp_path)
    manifest = json.loads((run.folder / "manifest.json").read_text())
    del manifest["config"]
    (run.folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError) as caught:
        open_run(run.folder, pm())
    assert caught.value.path == str(run.folder / "manifest.json") and caught.value.field == "config"
    result = resume_cli(run.folder)
    assert result.exit_code == 2 and "manifest.json" in result.output and "config" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("text", ['{"stage": "generate", "outp', "\xff\xfe not utf-8", "[1, 2]", '"done"',
                                  '{"outputs": []}'])
def test_resume_with_a_corrupt_stage_marker_names_the_marker(tmp_path: Path, text: str) -> None:
    run = new_run(tmp_path)
    marker = run.marker(0, "generate")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError) as caught:
        open_run(run.folder, pm())
    assert caught.value.path == str(marker)
    result = resume_cli(run.folder)
    assert result.exit_code == 2 and "generate.done.json" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("manifest", ["{not json", "[]", '{"format": "rlaif-audit-run/1", "config": {"seed": "x"}}',
                                      '{"format": "rlaif-audit-run/1", "config": {"rl_stepz": 3}}'])
def test_resume_of_a_damaged_manifest_is_exit_2(tmp_path: Path, manifest: str) -> None:
    run = new_run(tmp_path)
    (run.folder / "manifest.json").write_text(manifest)
    result = resume_cli(run.folder)
    assert result.exit_code == 2 and "manifest.json" in result.output and "Traceback" not in result.output


def test_resume_of_an_altered_config_is_refused(tmp_path: Path) -> None:
    run = new_run(tmp_path)
    manifest = json.loads((run.folder / "manifest.json").read_text())
    manifest["config"]["rl_steps"] = 1
    (run.folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="config_hash"):
        open_run(run.folder, pm())


@pytest.mark.parametrize("cut", ["mid-line", "at-a-line"])
def test_a_truncated_prompts_file_names_the_file(tmp_path: Path, cut: str) -> None:
    from rlaif_audit.loop.prompts import run_prompts

    run = new_run(tmp_path)
    frozen = run_prompts(run)
    path = run.folder / "prompts.jsonl"
    text = path.read_text()
    path.write_text(text[: len(text) // 2] if cut == "mid-line" else "".join(text.splitlines(True)[:-1]))
    resumed = open_run(run.folder, pm())
    with pytest.raises(InputError) as caught:
        run_prompts(resumed)
    assert caught.value.path == str(path)
    assert len(frozen) == 12


# ------------------------------------------------------------------------------------ leftover TRL checkpoints

@pytest.mark.parametrize("keep", [False, True])
def test_resume_removes_trl_checkpoints_left_by_a_kill_right_after_the_marker(tmp_path: Path, keep: bool) -> None:
    run = new_run(tmp_path, keep_checkpoints=keep)
    checkpoint = run.path(0, "policy_checkpoints") / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    for name in ("optimizer.pt", "rng_state.pth", "scheduler.pt", "training_args.bin"):
        (checkpoint / name).write_bytes(b"pickle")
    run.record_stage(0, "policy", {"stage": "policy", "outputs": {"scratch": ["policy_checkpoints"]}})
    open_run(run.folder, pm())  # --resume
    assert checkpoint.exists() == keep


def test_a_marker_that_names_a_path_as_scratch_is_refused(tmp_path: Path) -> None:
    run = new_run(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    run.record_stage(0, "policy", {"stage": "policy", "outputs": {"scratch": ["../../outside"]}})
    with pytest.raises(InputError, match="scratch"):
        open_run(run.folder, pm())
    assert outside.exists()


# ------------------------------------------------------------------------------------------------ failed writes

def test_a_file_that_cannot_be_written_ends_the_run_with_exit_1_naming_it(tmp_path: Path, monkeypatch) -> None:
    from rlaif_audit.loop.stages import Stage
    from rlaif_audit.records.fileio import atomic_write_text

    target = tmp_path / "run" / "gen-0" / "candidates.jsonl"

    def full_disk(run: Any, generation: int) -> dict[str, Any]:
        def no_space(*args: Any, **kwargs: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))

        monkeypatch.setattr("rlaif_audit.records.fileio.os.replace", no_space)
        atomic_write_text(target, "x\n")
        return {}

    monkeypatch.setattr("rlaif_audit.loop.run.STAGES", (Stage("generate", full_disk),))
    result = invoke("run", "--preset", "smoke", "-o", str(tmp_path / "run"))
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert f"cannot write {target}: No space left on device" in result.output and "--resume" in result.output
    assert not (tmp_path / "run" / "gen-0" / "stages" / "generate.done.json").exists()
    assert isinstance(result.exception, SystemExit)


def test_a_report_format_that_cannot_write_its_file_is_an_error_not_a_warning(tmp_path: Path) -> None:
    from rlaif_audit.loop.reports import check_report_writes
    from rlaif_audit.loop.run import RunWriteError
    from rlaif_audit.reporting.report import ReportError

    class Report:
        def __init__(self, *errors: str) -> None:
            self.report_errors = [ReportError(name, "builtin", error) for name, error in errors]

    check_report_writes(Report(("html", "ValueError: a plugin bug")), tmp_path)  # stays a recorded report error
    with pytest.raises(RunWriteError) as caught:
        check_report_writes(Report(("html", "ValueError: a plugin bug"),
                                   ("json", "OSError: [Errno 28] No space left on device")), tmp_path)
    assert caught.value.exit_code == 1 and "json report" in str(caught.value) and str(tmp_path) in str(caught.value)


# ---------------------------------------------------------------------------------------- kill -9 at every stage

@pytest.mark.slow
def test_chaos_kills_resume_to_the_uninterrupted_run(tmp_path: Path) -> None:
    """scripts/chaos_run.py with three moments: mid-labeling, mid-training at a TRL checkpoint, right at the
    policy marker (the TRL checkpoint folder left by the kill is removed by --resume)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("chaos_run", REPO / "scripts" / "chaos_run.py")
    chaos = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = chaos  # its dataclass resolves annotations through the module
    spec.loader.exec_module(chaos)
    out = tmp_path / "results.json"
    code = chaos.main(["--workdir", str(tmp_path), "--moments", "label-mid,policy-checkpoint,policy-marker",
                       "--json", str(out)])
    results = json.loads(out.read_text())
    assert [r["moment"] for r in results] == ["label-mid", "policy-checkpoint", "policy-marker"]
    assert code == 0 and all(r["passed"] for r in results), results
