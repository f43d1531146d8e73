"""`rlaif-audit run` end to end: run folder, hooks, reports, and kill -9 + --resume during labeling and training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

pytestmark = pytest.mark.slow  # real TRL training (tiny_model models) or the real SmolLM2

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "loop_driver.py"
STAGES = ("generate", "probes", "label", "reward_model", "policy", "audit")
RUN_STAGES = ("propagation",)  # run-level, after the last generation
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false"}


def overrides(tiny_model: str, **extra: Any) -> dict[str, Any]:
    """Smoke sizes on the tiny model; a paced judge so a kill can land mid-labeling; a checkpoint every step."""
    values = {"policy": tiny_model, "evaluator": "paced-hf-judge",
              "evaluator_options": {"model": tiny_model, "delay": 0.25, "batch_size": 2},
              "label_batch_size": 2, "rl_steps": 4, "save_steps": 1, "n_bootstrap": 100}
    return values | extra


def driver(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(DRIVER), *args], cwd=REPO, env=env or ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def kill_when(proc: subprocess.Popen, condition: Callable[[], bool], timeout: float = 300) -> None:
    """SIGKILL the process as soon as ``condition()`` holds (fails if it ends first)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended before the kill point:\n{proc.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def judgments(folder: Path) -> list[tuple[str, str, float, str]]:
    """The label stage's judgments, validated (a duplicate is an error), as sorted comparable tuples."""
    from rlaif_audit.data.judgment_file import read_judgments

    frame = read_judgments(folder / "gen-0" / "judgments.jsonl")
    return sorted(zip(frame.pair_id, frame.order, frame.p_first, frame.verdict))


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def policy_weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "gen-0" / "policy" / "model.safetensors"))


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> Path:
    """An uninterrupted run with a hook recorder and an observer that raises."""
    folder = tmp_path_factory.mktemp("loop") / "reference"
    finish(driver("start", str(folder), json.dumps(overrides(tiny_model)), env={**ENV, "LOOP_DRIVER_RAISE": "1"}))
    return folder


def test_run_folder_layout_and_manifest(reference_run: Path) -> None:
    gen = reference_run / "gen-0"
    for name in ("candidates.jsonl", "pairs.jsonl", "judgments.jsonl", "preferences.jsonl", "policy_log.jsonl",
                 "reward_model/model.safetensors", "policy/model.safetensors", "audit/policy_samples.jsonl"):
        assert (gen / name).exists(), name
    assert not (gen / "policy_checkpoints").exists() and not (gen / "reward_model_checkpoints").exists()
    assert not list(gen.rglob("*.bin")), "no pickle files beside the checkpoints"
    found = manifest(reference_run)
    assert found["status"] == "done" and found["config"]["seed"] == 0
    assert set(found["seeds"]["gen-0"]) == {"generate", "rm-split", "reward_model", "policy", "audit"}
    assert list(found["stages"]) == [f"gen-0/{s}" for s in STAGES] + [f"run/{s}" for s in RUN_STAGES]
    for record in found["stages"].values():
        assert record["seconds"] > 0 and record["peak_rss_mb"] > 0
    assert {"torch", "transformers", "trl"} <= set(found["versions"])
    assert found["stages"]["gen-0/generate"]["outputs"]["policy_weights_sha256"]
    assert found["stages"]["gen-0/policy"]["outputs"]["weights_sha256"]


def hook_calls(run: Path, hook: str) -> list[dict[str, Any]]:
    """The recorder plugin's log of one hook in the reference run."""
    return [c for c in map(json.loads, lines(Path(str(run) + ".hooks.jsonl"))) if c["hook"] == hook]


def plugin_failures(run: Path, hook: str) -> list[dict[str, Any]]:
    return [f for f in manifest(run)["plugin_failures"] if f["hook"] == hook]


def test_hook_on_stage_start(reference_run: Path) -> None:
    assert [c["stage"] for c in hook_calls(reference_run, "on_stage_start")] == [*STAGES, *RUN_STAGES]


def test_hook_on_stage_end(reference_run: Path) -> None:
    calls = hook_calls(reference_run, "on_stage_end")
    assert [c["stage"] for c in calls] == [*STAGES, *RUN_STAGES]
    assert all(c["marker"] and c["seconds"] > 0 for c in calls), "called after the marker, with the stage's stats"
    failures = plugin_failures(reference_run, "on_stage_end")  # the raising observer cost nothing but a record
    assert [f["plugin"] for f in failures] == ["loop-driver-raiser"] * (len(STAGES) + len(RUN_STAGES))
    assert failures[0]["error"] == "RuntimeError: observer bug after generate" and failures[0]["generation"] == 0


def test_hook_on_candidates(reference_run: Path) -> None:
    candidates = lines(reference_run / "gen-0" / "candidates.jsonl")
    assert [c["n"] for c in hook_calls(reference_run, "on_candidates")] == [len(candidates)]


def test_hook_on_judgments(reference_run: Path) -> None:
    written = lines(reference_run / "gen-0" / "judgments.jsonl")
    assert [c["n"] for c in hook_calls(reference_run, "on_judgments")] == [len(written)]


def test_hook_on_reward_model(reference_run: Path) -> None:
    (call,) = hook_calls(reference_run, "on_reward_model")
    assert Path(call["path"]) == reference_run / "gen-0" / "reward_model"
    metrics = manifest(reference_run)["stages"]["gen-0/reward_model"]["outputs"]["metrics"]
    assert call["accuracy"] == metrics["accuracy_vs_ai"]["value"]



def test_the_trained_reward_model_serves_as_the_reward_model_evaluator(reference_run: Path) -> None:
    """The checkpoint beside the run loads as the `reward-model` evaluator, which reproduces the run's held-out
    accuracy against the AI labels."""
    from rlaif_audit.default_plugins.evaluators.reward_model import RewardModelJudge
    from rlaif_audit.records.types import JudgeItem

    gen = reference_run / "gen-0"
    held_out = [row for row in map(json.loads, lines(gen / "preferences.jsonl")) if row["split"] == "eval"]
    items = [JudgeItem(str(i), "ab", row["prompt"], row["chosen"][0]["content"], row["rejected"][0]["content"])
             for i, row in enumerate(held_out)]
    judgments = list(RewardModelJudge(model=str(gen / "reward_model")).judge(items))
    hits = sum(1.0 if j.p_first > 0.5 else 0.5 if j.p_first == 0.5 else 0.0 for j in judgments)
    metrics = manifest(reference_run)["stages"]["gen-0/reward_model"]["outputs"]["metrics"]
    assert len(judgments) == metrics["held_out_pairs"] > 0
    assert hits / len(judgments) == pytest.approx(metrics["accuracy_vs_ai"]["value"])

def test_hook_on_policy_log(reference_run: Path) -> None:
    calls = hook_calls(reference_run, "on_policy_log")
    assert [c["step"] for c in calls] == [1, 2, 3, 4] and all(c["reward"] is not None for c in calls)
    assert len(plugin_failures(reference_run, "on_policy_log")) == 4


def test_hook_on_generation_end(reference_run: Path) -> None:
    (call,) = hook_calls(reference_run, "on_generation_end")
    assert {"reward-hacking", "length-drift", "mode-collapse", "policy-kl", "position"} <= set(call["auditors"])


def test_report_beside_the_policy_has_timings_evaluator_and_policy_audits(reference_run: Path) -> None:
    policy = reference_run / "gen-0" / "policy"
    report = json.loads((policy / "report.json").read_text())
    auditors = report["auditors"]
    for name in ("position", "reward-hacking", "length-drift", "mode-collapse", "policy-kl", "reward-model",
                 "run-stages"):
        assert auditors[name]["status"] == "ok", (name, auditors[name].get("reason"))
    assert auditors["agreement"]["status"] == "skipped"  # AI-labeled candidates have no human labels
    win_rate = auditors["reward-hacking"]["metrics"]["evaluator_win_rate"]
    assert win_rate["n"] == 4 and win_rate["ci"] is not None
    stages = auditors["run-stages"]["tables"]["stages"]
    assert [row["stage"] for row in stages] == [f"gen-0/{s}" for s in STAGES[:-1]]
    assert report["run"]["checkpoints"]["policy"] == "gen-0/policy"
    markdown = (policy / "report.md").read_text()
    assert "### run-stages" in markdown and "### reward-hacking" in markdown and "### position" in markdown
    assert (policy / "report.html").exists()
    card = (policy / "README.md").read_text()
    assert "library_name: transformers" in card.split("\n---\n", 1)[0] and "\n## RLAIF audit\n" in card
    assert (reference_run / "gen-0" / "reward_model" / "report.json").exists()


def test_kill_during_labeling_then_resume(tmp_path: Path, tiny_model: str, reference_run: Path) -> None:
    folder = tmp_path / "killed-labeling"
    path = folder / "gen-0" / "judgments.jsonl"
    proc = driver("start", str(folder), json.dumps(overrides(tiny_model)))
    kill_when(proc, lambda: len(lines(path)) >= 4)
    written = len(lines(path))
    assert 4 <= written < len(judgments(reference_run)), "killed mid-labeling"
    assert not (folder / "gen-0" / "stages" / "label.done.json").exists()
    finish(driver("resume", str(folder)))
    assert judgments(folder) == judgments(reference_run)
    assert manifest(folder)["status"] == "done" and manifest(folder)["attempts"]["gen-0/label"] == 2
    assert manifest(folder)["attempts"]["gen-0/generate"] == 1


def test_kill_during_training_then_resume_from_the_trl_checkpoint(tmp_path: Path, tiny_model: str,
                                                                  reference_run: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "killed-training"
    checkpoint = folder / "gen-0" / "policy_checkpoints" / "checkpoint-2" / "trainer_state.json"
    proc = driver("start", str(folder), json.dumps(overrides(tiny_model)))
    kill_when(proc, checkpoint.exists)
    assert not (folder / "gen-0" / "stages" / "policy.done.json").exists()
    finish(driver("resume", str(folder)))
    outputs = manifest(folder)["stages"]["gen-0/policy"]["outputs"]
    assert outputs["resumed_from"] in {"checkpoint-2", "checkpoint-3"} and outputs["global_step"] == 4
    assert judgments(folder) == judgments(reference_run)
    steps = [json.loads(line)["step"] for line in lines(folder / "gen-0" / "policy_log.jsonl")]
    assert steps == [1, 2, 3, 4], "each step logged once"
    model = AutoModelForCausalLM.from_pretrained(str(folder / "gen-0" / "policy"))
    out = model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 6)
    resumed, uninterrupted = policy_weights(folder), policy_weights(reference_run)
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.allclose(resumed[k], uninterrupted[k], atol=1e-6) for k in resumed)


def test_resume_of_a_finished_run_changes_nothing(tmp_path: Path, reference_run: Path) -> None:
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(reference_run, folder)
    before = {p: p.stat().st_mtime_ns for p in (folder / "gen-0").rglob("*") if p.is_file()}
    finish(driver("resume", str(folder)))
    assert {p: p.stat().st_mtime_ns for p in (folder / "gen-0").rglob("*") if p.is_file()} == before


def test_direct_reward_with_rloo(tmp_path: Path, tiny_model: str) -> None:
    folder = tmp_path / "direct"
    finish(driver("start", str(folder), json.dumps(overrides(
        tiny_model, reward="direct", algorithm="rloo", rl_steps=2, evaluator_options={"model": tiny_model}))))
    found = manifest(folder)
    assert "skipped" in found["stages"]["gen-0/reward_model"]["outputs"]
    assert not (folder / "gen-0" / "reward_model").exists()
    log = [json.loads(line) for line in lines(folder / "gen-0" / "policy_log.jsonl")]
    assert len(log) == 2 and all("rewards/d_rlaif/mean" in row for row in log)
    assert all(-1.0 <= row["rewards/d_rlaif/mean"] <= 1.0 for row in log)
    report = json.loads((folder / "gen-0" / "policy" / "report.json").read_text())
    assert report["auditors"]["reward-model"]["status"] == "skipped"
    assert "rm_score_gain" not in report["auditors"]["reward-hacking"]["metrics"]


def test_cli_smoke_preset_with_the_real_model(tmp_path: Path) -> None:
    """`rlaif-audit run --preset smoke`: the embedded SmolLM2 as policy and evaluator, tiny sizes."""
    folder = tmp_path / "smoke"
    result = subprocess.run([sys.executable, "-m", "rlaif_audit.cli", "run", "--preset", "smoke", "-o", str(folder),
                             "-q"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"policy checkpoint: {folder / 'gen-0' / 'policy'}" in result.stdout
    assert "evaluator win rate, policy vs reference" in result.stdout
    report = json.loads((folder / "gen-0" / "policy" / "report.json").read_text())
    assert report["auditors"]["policy-kl"]["metrics"]["kl_per_sequence"]["value"] > 0
