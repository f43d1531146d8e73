"""`rlaif-audit run --resume` says, before any work, what it skips and what it continues from (a TRL checkpoint,
a partial judgment file), and records it in the manifest's ``resumed`` entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

DONE_UP_TO_LABEL = "gen-0: generate, probes, label done (skipped)"


@pytest.fixture(scope="module")
def labeled_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> Path:
    """A real two-generation tiny run folder whose gen-0 ran generate, probes and label, then stopped."""
    from rlaif_audit.host import get_plugin_manager
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.run import create_run, run_stage
    from rlaif_audit.loop.stages import STAGES

    config = build_config(preset="smoke", overrides={"policy": tiny_model, "evaluator_options": {"model": tiny_model},
                                                     "generations": 2, "n_bootstrap": 100, "label_batch_size": 2})
    run = create_run(tmp_path_factory.mktemp("resume") / "run", config, get_plugin_manager())
    run.progress = False
    for stage in STAGES[:3]:
        run_stage(run, 0, stage)
    return run.folder


@pytest.fixture
def folder(labeled_run: Path, tmp_path: Path) -> Path:
    """A copy of the labeled run each test may damage."""
    return Path(shutil.copytree(labeled_run, tmp_path / "run"))


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def resume(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Result, list[str]]:
    """`rlaif-audit run --resume FOLDER` with the stages replaced by a stop: (its result, the stderr lines it printed
    before the first stage would have run)."""
    from rlaif_audit.cli import build_cli

    started: list[int] = []

    def stop(run: Any) -> None:
        started.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr("rlaif_audit.loop.run.execute", stop)
    result = CliRunner().invoke(build_cli(), ["run", "--resume", str(folder), "-q"])
    assert result.exit_code == 130 and started, result.output
    before = result.stderr.split("Interrupted.")[0]
    return result, [line for line in before.splitlines() if line.strip()]


def fake_checkpoint(folder: Path, step: int, complete: bool = True) -> None:
    """A TRL checkpoint folder; a complete one has the trainer state transformers writes last."""
    folder = folder / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if complete:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))


def mark_done(folder: Path, stage: str, generation: int | None = 0) -> None:
    """A stage's completion marker, as run_stage writes it (no outputs)."""
    path = folder / ("stages" if generation is None else f"gen-{generation}/stages") / f"{stage}.done.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"stage": stage, "generation": generation, "outputs": {}}))


def test_partial_judgment_file_is_reported(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    judgments = folder / "gen-0" / "judgments.jsonl"
    kept = judgments.read_text().splitlines()[:6]
    judgments.write_text("\n".join(kept) + "\n" + '{"pair_id": "torn')  # killed mid-write: 6 whole judgments
    (folder / "gen-0" / "stages" / "label.done.json").unlink()
    _, printed = resume(folder, monkeypatch)
    source = "resumes from a partial judgment file (6 judgments already there: gen-0/judgments.jsonl)"
    assert printed[1:] == [f"gen-0: generate, probes done (skipped); label {source}", "gen-1: not started",
                           "run: not started", f"continuing with gen-0/label, which {source}"]
    entry = manifest(folder)["resumed"][-1]
    assert entry["continues_with"] == "gen-0/label"
    assert entry["continues_from"] == {"judgments": 6, "files": {"gen-0/judgments.jsonl": 6}}
    assert entry["generations"]["gen-0"]["done"] == ["generate", "probes"]
    assert entry["generations"]["gen-1"] == {"done": [], "next": "generate", "from": None}


def test_reward_model_checkpoint_is_named(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoints = folder / "gen-0" / "reward_model_checkpoints"
    fake_checkpoint(checkpoints, 1)
    fake_checkpoint(checkpoints, 2)
    fake_checkpoint(checkpoints, 3, complete=False)  # killed mid-save: the resume continues from checkpoint-2
    _, printed = resume(folder, monkeypatch)
    assert printed[1] == f"{DONE_UP_TO_LABEL}; reward_model resumes from checkpoint-2 of the reward model"
    assert printed[-1] == "continuing with gen-0/reward_model, which resumes from checkpoint-2 of the reward model"
    assert manifest(folder)["resumed"][-1]["continues_from"] == {
        "checkpoint": "checkpoint-2", "of": "the reward model", "path": "gen-0/reward_model_checkpoints"}
    assert (checkpoints / "checkpoint-3").is_dir(), "reporting removes nothing; the stage itself cleans up"


def test_policy_checkpoint_and_fresh_stage(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mark_done(folder, "reward_model")
    fake_checkpoint(folder / "gen-0" / "policy_checkpoints", 4)
    _, printed = resume(folder, monkeypatch)
    assert printed[1] == ("gen-0: generate, probes, label, reward_model done (skipped); policy resumes from "
                          "checkpoint-4 of the policy")
    shutil.rmtree(folder / "gen-0" / "policy_checkpoints")
    _, printed = resume(folder, monkeypatch)
    assert printed[1] == "gen-0: generate, probes, label, reward_model done (skipped); policy starts afresh"
    assert manifest(folder)["resumed"][-1]["continues_from"] is None


def test_finished_run_and_old_time_entries(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rlaif_audit.loop.resume import resume_time
    from rlaif_audit.loop.stages import STAGE_NAMES

    for generation in (0, 1):
        for stage in STAGE_NAMES:
            mark_done(folder, stage, generation)
    mark_done(folder, "propagation", None)
    values = manifest(folder)
    values["resumed"] = ["2026-01-01T00:00:00+00:00"]  # a manifest written before the entries were objects
    (folder / "manifest.json").write_text(json.dumps(values))
    _, printed = resume(folder, monkeypatch)
    every = ", ".join(STAGE_NAMES)
    assert printed[1:] == [f"gen-0: {every} done (skipped)", f"gen-1: {every} done (skipped)",
                           "run: propagation done (skipped)", "every stage is done: nothing to resume"]
    entries = manifest(folder)["resumed"]
    assert resume_time(entries[0]) == "2026-01-01T00:00:00+00:00"
    assert resume_time(entries[1]) == entries[1]["time"] > "2026" and entries[1]["continues_with"] is None
