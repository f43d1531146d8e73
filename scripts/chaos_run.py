"""Crash proofs of `rlaif-audit run`: SIGKILL at moments spread over every stage, resume, compare.

An uninterrupted reference run (tiny models, smoke sizes, as tests/test_loop.py builds them, through
tests/loop_driver.py) is made first; then for each kill moment a fresh run is started, killed with SIGKILL when the
moment comes, resumed (``--resume``) until it finishes, and checked against the reference:

* the same final judgments (label stage, probes, audit), candidates, pairs and preferences;
* every checkpoint loads (policy and reward model: safetensors, and the policy as a transformers model) and holds
  the reference's weights (allclose 1e-6); the policy log has each step once;
* no pickle file anywhere in the run folder (``*.bin``, ``*.pt``, ``*.pth``, ``*.pkl``, ``*.ckpt``), no TRL
  checkpoint folder, no temporary file;
* the reports are complete (report.json, .md, .html beside the policy, the reward model's and the run's report) with
  the reference's auditors and statuses; the manifest says done.

Usage::

    python scripts/chaos_run.py [--workdir DIR] [--moments generate-mid,policy-marker,...]

It prints a table of the moments, and ``moments: N, passed: P, failed: F``; exit 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "loop_driver.py"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false",
       "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
PICKLES = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.ckpt", "*.pickle")
JUDGMENT_FILES = ("gen-0/judgments.jsonl", "gen-0/probes/judgments.jsonl", "gen-0/audit/judgments.jsonl")
ROW_FILES = ("gen-0/candidates.jsonl", "gen-0/pairs.jsonl", "gen-0/preferences.jsonl", "prompts.jsonl")
REPORTS = ("gen-0/policy/report.json", "gen-0/policy/report.md", "gen-0/policy/report.html",
           "gen-0/reward_model/report.json", "report/report.json")


def overrides(model: str) -> dict[str, Any]:
    """Smoke sizes on the tiny model; a paced judge so a kill lands mid-labeling; a TRL checkpoint every step."""
    return {"policy": model, "evaluator": "paced-hf-judge",
            "evaluator_options": {"model": model, "delay": 0.1, "batch_size": 2},
            "label_batch_size": 2, "rl_steps": 4, "save_steps": 1, "n_bootstrap": 100}


def driver(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(DRIVER), *args], cwd=REPO, env={**ENV, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 1800) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def marker(folder: Path, stage: str) -> Path:
    return folder / ("stages" if stage == "propagation" else "gen-0/stages") / f"{stage}.done.json"


def started(folder: Path, stage: str) -> bool:
    key = "run/propagation" if stage == "propagation" else f"gen-0/{stage}"
    return key in read_manifest(folder).get("attempts", {})


@dataclass
class Moment:
    """A kill moment: a name, the stage it falls in, and a condition on the run folder (polled every 20 ms)."""

    name: str
    stage: str
    condition: Callable[[Path], bool]
    env: dict[str, str] | None = None
    """For the killed attempt: the driver's ``LOOP_DRIVER_SCRATCH_DELAY`` holds the removal of a stage's TRL
    checkpoints for a few seconds after its marker, so the kill lands between the two."""


def mid(stage: str, seconds: float) -> Callable[[Path], bool]:
    """True ``seconds`` after the stage started (the stage's attempt is in the manifest)."""
    since: dict[str, float] = {}

    def condition(folder: Path) -> bool:
        if "t" not in since and started(folder, stage):
            since["t"] = time.monotonic()
        return "t" in since and time.monotonic() - since["t"] >= seconds

    return condition


def lines_at_least(relative: str, n: int) -> Callable[[Path], bool]:
    return lambda folder: len((folder / relative).read_text().splitlines()) >= n if (folder / relative).exists() \
        else False


HOLD = {"LOOP_DRIVER_SCRATCH_DELAY": "5"}


def moments(durations: dict[str, float]) -> list[Moment]:
    """Ten moments over every stage: mid-stage (at a share of the reference's stage time) and right at markers."""
    def at(stage: str, share: float) -> Callable[[Path], bool]:
        return mid(stage, share * durations.get(stage, 1.0))

    return [
        Moment("generate-mid", "generate", at("generate", 0.5)),
        Moment("probes-mid", "probes", at("probes", 0.5)),
        Moment("label-mid", "label", lines_at_least("gen-0/judgments.jsonl", 4)),
        Moment("label-marker", "label", lambda f: marker(f, "label").exists()),
        Moment("reward_model-mid", "reward_model", at("reward_model", 0.6)),
        Moment("reward_model-marker", "reward_model", lambda f: marker(f, "reward_model").exists(), HOLD),
        Moment("policy-checkpoint", "policy",
               lambda f: (f / "gen-0/policy_checkpoints/checkpoint-2/trainer_state.json").exists()),
        Moment("policy-marker", "policy", lambda f: marker(f, "policy").exists(), HOLD),
        Moment("audit-mid", "audit", at("audit", 0.5)),
        Moment("propagation-start", "propagation", lambda f: started(f, "propagation")),
    ]


def kill_when(proc: subprocess.Popen, folder: Path, condition: Callable[[Path], bool], timeout: float) -> str:
    """SIGKILL the process when the condition holds; 'killed', or why not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition(folder):
                break
        except (OSError, ValueError):
            pass
        if proc.poll() is not None:
            return "ended before the kill point"
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return "kill point never reached"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return "killed"


def judgments(path: Path) -> list[tuple[Any, ...]]:
    from rlaif_audit.data.judgment_file import read_judgments

    frame = read_judgments(path)
    return sorted(zip(frame.pair_id, frame.order, frame.p_first, frame.verdict))


def rows(path: Path) -> list[str]:
    return sorted(path.read_text(encoding="utf-8").splitlines())


def weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def auditor_statuses(path: Path) -> dict[str, str]:
    report = json.loads(path.read_text())
    return {name: outcome.get("status") for name, outcome in report.get("auditors", {}).items()}


def compare(folder: Path, reference: Path) -> list[str]:
    """Every difference from the reference run and every broken promise (empty: the moment passed)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    problems = []
    if read_manifest(folder).get("status") != "done":
        problems.append("manifest status is not done")
    for name in JUDGMENT_FILES:
        if judgments(folder / name) != judgments(reference / name):
            problems.append(f"{name} differs")
    for name in ROW_FILES:
        if rows(folder / name) != rows(reference / name):
            problems.append(f"{name} differs")
    for name in ("policy", "reward_model"):
        found, expected = weights(folder / "gen-0" / name), weights(reference / "gen-0" / name)
        if found.keys() != expected.keys() or not all(torch.allclose(found[k], expected[k], atol=1e-6) for k in found):
            problems.append(f"gen-0/{name} weights differ")
    AutoModelForCausalLM.from_pretrained(str(folder / "gen-0" / "policy"), use_safetensors=True)  # raises if not
    AutoModelForSequenceClassification.from_pretrained(str(folder / "gen-0" / "reward_model"), use_safetensors=True)
    steps = [json.loads(line)["step"] for line in (folder / "gen-0/policy_log.jsonl").read_text().splitlines()]
    if steps != sorted(set(steps)):
        problems.append(f"policy log steps {steps}")
    pickles = [str(p.relative_to(folder)) for pattern in PICKLES for p in folder.rglob(pattern)]
    if pickles:
        problems.append(f"pickle files: {pickles[:4]}")
    stray = [str(p.relative_to(folder)) for p in folder.rglob("*")
             if ".tmp-" in p.name or p.name in {"policy_checkpoints", "reward_model_checkpoints"}]
    if stray:
        problems.append(f"left over: {stray[:4]}")
    for name in REPORTS:
        if not (folder / name).is_file() or not (folder / name).stat().st_size:
            problems.append(f"{name} missing")
    for name in ("gen-0/policy/report.json", "report/report.json"):
        if (folder / name).is_file() and auditor_statuses(folder / name) != auditor_statuses(reference / name):
            problems.append(f"{name}: auditors or statuses differ")
    return problems


def reference_run(workdir: Path, config: dict[str, Any]) -> tuple[Path, dict[str, float]]:
    folder = workdir / "reference"
    if not (folder / "manifest.json").exists() or read_manifest(folder).get("status") != "done":
        code, out = finish(driver("start", str(folder), json.dumps(config)))
        if code:
            raise SystemExit(f"the reference run failed:\n{out[-3000:]}")
    stages = read_manifest(folder)["stages"]
    return folder, {key.split("/")[-1]: float(record["seconds"]) for key, record in stages.items()}


def try_moment(moment: Moment, workdir: Path, reference: Path, config: dict[str, Any]) -> dict[str, Any]:
    folder = workdir / moment.name
    started_at = time.monotonic()
    killed = kill_when(driver("start", str(folder), json.dumps(config), env=moment.env), folder, moment.condition,
                       timeout=1200)
    at_kill = read_manifest(folder)
    stages_done = list(at_kill.get("stages", {}))  # in the order they completed
    running = [key for key in at_kill.get("attempts", {}) if key not in stages_done]
    leftovers = sorted(str(p.relative_to(folder)) for p in folder.glob("gen-0/*_checkpoints"))
    resumes, code, out = 0, 1, ""
    if killed == "killed":  # one resume must finish the run
        resumes, (code, out) = 1, finish(driver("resume", str(folder)))
    if killed != "killed":
        problems = [killed]
    elif code:
        problems = [f"resume exit {code}: {out.strip().splitlines()[-1] if out.strip() else ''}"]
    else:
        try:
            problems = compare(folder, reference)
        except Exception as exc:  # noqa: BLE001 - a missing or unreadable output is a failed moment
            problems = [f"{type(exc).__name__}: {exc}"]
    return {"moment": moment.name, "stage": moment.stage, "stages_done_at_kill": len(stages_done),
            "running_at_kill": running[0] if running else f"after {stages_done[-1] if stages_done else 'start'} marker",
            "checkpoint_folders_at_kill": leftovers,
            "resumes": resumes, "seconds": round(time.monotonic() - started_at, 1),
            "passed": not problems, "problems": problems}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=None, help="Folder for the runs (default: a new temporary folder).")
    parser.add_argument("--moments", default="", help="Comma-separated moment names (default: all).")
    parser.add_argument("--json", default=None, help="Also write the results as JSON here.")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from rlaif_audit.judging.models import tiny_model

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="chaos-run-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config = overrides(str(tiny_model()))
    reference, durations = reference_run(workdir, config)
    chosen = [m for m in moments(durations) if not args.moments or m.name in args.moments.split(",")]
    results = []
    print("| moment | running at the kill | checkpoint folders at the kill | resumes | time | result | problems |")
    for moment in chosen:
        result = try_moment(moment, workdir, reference, config)
        results.append(result)
        print(f"| {result['moment']:<20} | {result['running_at_kill']:<24} | "
              f"{','.join(result['checkpoint_folders_at_kill']) or '-':<26} | {result['resumes']} | "
              f"{result['seconds']:>6}s | {'PASS' if result['passed'] else 'FAIL'} | {'; '.join(result['problems'])}",
              flush=True)
    passed = sum(r["passed"] for r in results)
    print(f"\nmoments: {len(results)}, passed: {passed}, failed: {len(results) - passed}")
    print(f"stages killed in: {', '.join(sorted({r['stage'] for r in results}))}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
