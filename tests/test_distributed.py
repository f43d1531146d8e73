"""Several processes (`torchrun --nproc_per_node 2`, gloo on the CPU): one rule for the main process, and a loop run
where rank 0 writes the folder, the others wait and load it, and both train (DDP)."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE",
       "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
LAUNCHER_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "PMI_SIZE",
                "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
PROBE = """
import json, os, sys
from rlaif_audit import processes
from rlaif_audit.loop.config import build_config
from rlaif_audit.loop.run import Run
run = Run(__import__("pathlib").Path("."), build_config(preset="smoke"), {}, None)
row = {"rank": os.environ["RANK"], "index": processes.process_index(), "n": processes.num_processes(),
       "is_main": processes.is_main(), "run_is_main": run.is_main,
       "shared": processes.share_from_main(int(os.environ["RANK"]) + 100)}
processes.wait_for_everyone()
with open(sys.argv[1] + "." + os.environ["RANK"], "w") as handle:
    json.dump(row, handle)
import torch.distributed
if torch.distributed.is_initialized():  # a clean gloo teardown: no abort at interpreter exit
    processes.wait_for_everyone()
    torch.distributed.destroy_process_group()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun(*args: str) -> list[str]:
    """`python -m torch.distributed.run --nproc_per_node 2` on a free port (tests may run side by side)."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
            str(free_port()), *args]


@pytest.fixture
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No launcher environment and no accelerate state set up before or left after the test."""
    from accelerate.state import AcceleratorState

    for name in LAUNCHER_ENV:
        monkeypatch.delenv(name, raising=False)
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def test_one_process_is_the_main_one(fresh_state: None) -> None:
    from rlaif_audit import processes

    assert (processes.process_index(), processes.num_processes(), processes.is_main()) == (0, 1, True)
    processes.wait_for_everyone()  # a no-op, no process group
    assert processes.share_from_main({"a": 1}) == {"a": 1}


def test_a_stray_rank_without_a_launcher_is_the_main_process(fresh_state: None, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    """RANK=1 left in the environment, no launcher: one process, as the TRL trainers see it, so the run writes its
    folder and the reward function its plain-named files (main: Run read RANK and wrote nothing)."""
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.run import Run
    from rlaif_audit.trl import reward_function

    monkeypatch.setenv("RANK", "1")
    assert Run(tmp_path, build_config(preset="smoke"), {}, None).is_main
    reward = reward_function("synthetic", log_dir=tmp_path)
    assert reward.judgments_path == tmp_path / "judgments.jsonl"


def test_every_rank_agrees_with_torchrun(tmp_path: Path) -> None:
    """Under torchrun (gloo): rank r is process r of 2, the run's main process is rank 0 only, and every rank
    receives rank 0's value."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")
    out = tmp_path / "rank"
    done = subprocess.run(torchrun(str(script), str(out)), cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [json.loads(Path(f"{out}.{rank}").read_text()) for rank in (0, 1)]
    assert [(r["index"], r["n"], r["is_main"], r["run_is_main"], r["shared"]) for r in rows] == [
        (0, 2, True, True, 100), (1, 2, False, False, 100)]


# ------------------------------------------------------------------------------------- the loop on two processes


def run_args(tiny_model: str, folder: Path, *extra: str) -> list[str]:
    return torchrun("-m", "rlaif_audit.cli", "run", "--preset", "smoke", "--policy", tiny_model, "--evaluator",
                    "hf-judge", "-O", f"model={tiny_model}", "-o", str(folder), "-q", *extra)


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def check_finished(folder: Path, out: str) -> dict[str, Any]:
    """Status done, one marker per stage with the main process's outputs, no file of rank 1's, DDP training."""
    found = manifest(folder)
    assert found["status"] == "done"
    markers = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.done.json"))
    assert markers == sorted([*(f"gen-0/stages/{s}.done.json" for s in
                                ("generate", "probes", "label", "reward_model", "policy", "audit")),
                              "stages/propagation.done.json"])
    for stage in ("reward_model", "policy"):  # rank 1 returns no outputs: its marker would have none
        outputs = json.loads((folder / f"gen-0/stages/{stage}.done.json").read_text())["outputs"]
        assert outputs["weights_sha256"] and found["stages"][f"gen-0/{stage}"]["outputs"] == outputs
    assert not [p for p in folder.rglob("*") if "rank1" in p.name]
    rm = found["stages"]["gen-0/reward_model"]["outputs"]
    per_epoch = math.ceil(rm["metrics"]["train_pairs"] / (2 * found["config"]["rm_batch_size"]))
    assert rm["metrics"]["global_step"] == per_epoch * found["config"]["rm_epochs"], "both ranks share the batches"
    assert out.count("run folder:") == 1 and out.count(f"run: {folder} (done)") == 1  # rank 1 prints nothing
    return found


@pytest.mark.slow
def test_torchrun_two_processes_run_to_the_end(tiny_model: str, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    done = subprocess.run(run_args(tiny_model, folder), cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    found = check_finished(folder, done.stdout + done.stderr)
    assert "resumed" not in found, "rank 1 opens the folder rank 0 made, and never writes the manifest"
    assert set(found["attempts"].values()) == {1}


def kill_workers(launcher: subprocess.Popen) -> None:
    """SIGKILL torchrun's workers (each runs in its own session: killing torchrun alone leaves them running)."""
    children = subprocess.run(["ps", "--ppid", str(launcher.pid), "-o", "pid="], capture_output=True, text=True)
    for pid in map(int, children.stdout.split()):
        os.kill(pid, signal.SIGKILL)
    launcher.wait(timeout=60)


def complete_checkpoint(folder: Path) -> bool:
    for state in folder.glob("gen-0/policy_checkpoints/checkpoint-*/trainer_state.json"):
        try:
            json.loads(state.read_text())
            return True
        except (OSError, ValueError):
            continue
    return False


@pytest.mark.slow
def test_torchrun_resume_after_a_kill_in_training(tiny_model: str, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    launcher = subprocess.Popen(run_args(tiny_model, folder, "--rl-steps", "8", "--save-steps", "1"), cwd=tmp_path,
                                env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not complete_checkpoint(folder):
        assert launcher.poll() is None and time.monotonic() < deadline, "the run ended before the kill point"
        time.sleep(0.02)
    kill_workers(launcher)
    assert not (folder / "gen-0/stages/policy.done.json").exists(), "the kill landed after the policy stage"
    done = subprocess.run(torchrun("-m", "rlaif_audit.cli", "run", "--resume", str(folder), "-q"), cwd=tmp_path,
                          env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    found = check_finished(folder, done.stdout + done.stderr)
    assert found["stages"]["gen-0/policy"]["outputs"]["resumed_from"].startswith("checkpoint-")
    assert found["stages"]["gen-0/policy"]["outputs"]["global_step"] == 8
    assert found["attempts"]["gen-0/generate"] == 1 and found["attempts"]["gen-0/policy"] == 2
