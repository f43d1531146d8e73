"""A plugin and a driver for the loop tests: a paced hf-judge, a hook recorder, a raising observer.

Run as a script so a test can kill it with SIGKILL::

    python tests/loop_driver.py start RUN_DIR '{"policy": "...", ...}'
    python tests/loop_driver.py resume RUN_DIR

Hook calls are appended to ``RUN_DIR.hooks.jsonl``; with ``LOOP_DRIVER_RAISE=1`` a second
plugin raises in ``on_stage_end`` and ``on_policy_log``; with ``LOOP_DRIVER_SCRATCH_DELAY=S`` a stage's scratch (TRL
checkpoints) is removed S seconds after its marker (a kill can land between the two).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from rlaif_audit import hookimpl
from rlaif_audit.default_plugins.evaluators.hf_judge import HFJudge
from rlaif_audit.judging.evaluator import Option
from rlaif_audit.records.types import JudgeItem, Judgment

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run

HOOK_LOG_ENV = "LOOP_DRIVER_HOOK_LOG"
SWAP_TEMPLATE_ENV = "LOOP_DRIVER_SWAP_TEMPLATE"  # a rubric file rewritten after gen-0 (the evaluator changes)
SWAPPED_TEMPLATE = ("Conversation:\n{conversation}\n\nReply A:\n{first}\n\nReply B:\n{second}\n\n"
                    "Which reply is better? Answer A or B.")


class PacedJudge(HFJudge):
    """hf-judge that waits ``delay`` seconds after each judgment, so a test can kill it mid-labeling."""

    name = "paced-hf-judge"
    description = "hf-judge with a pause after each judgment (tests)."
    options = {**HFJudge.options, "delay": Option("Seconds to wait after each judgment", 0.0, float)}

    def judge(self, items: Sequence[JudgeItem]) -> Iterator[Judgment]:
        for judgment in super().judge(items):
            time.sleep(self.config["delay"])
            yield judgment


def _record(hook: str, **fields: Any) -> None:
    path = os.environ.get(HOOK_LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"hook": hook, **fields}) + "\n")


class Recorder:
    """Records every loop hook call (name, generation, stage or sizes)."""

    @hookimpl
    def register_evaluators(self, register: Any) -> None:
        register(PacedJudge)

    @hookimpl
    def on_stage_start(self, run: Run, generation: int, stage: str) -> None:
        _record("on_stage_start", generation=generation, stage=stage)

    @hookimpl
    def on_stage_end(self, run: Run, generation: int, stage: str, stats: dict[str, Any]) -> None:
        _record("on_stage_end", generation=generation, stage=stage, seconds=stats["seconds"],
                marker=run.is_done(stats.get("generation", generation), stage))  # None: a run-level stage
        swap = os.environ.get(SWAP_TEMPLATE_ENV)
        if swap and generation == 0 and stage == "audit":
            Path(swap).write_text(SWAPPED_TEMPLATE, encoding="utf-8")

    @hookimpl
    def on_candidates(self, run: Run, generation: int, candidates: list[dict[str, Any]]) -> None:
        _record("on_candidates", generation=generation, n=len(candidates))

    @hookimpl
    def on_judgments(self, run: Run, generation: int, judgments: list[dict[str, Any]]) -> None:
        _record("on_judgments", generation=generation, n=len(judgments))

    @hookimpl
    def on_reward_model(self, run: Run, generation: int, path: str, metrics: dict[str, Any]) -> None:
        _record("on_reward_model", generation=generation, path=path, accuracy=metrics["accuracy_vs_ai"]["value"])

    @hookimpl
    def on_policy_log(self, run: Run, generation: int, step: int, logs: dict[str, float]) -> None:
        _record("on_policy_log", generation=generation, step=step, reward=logs.get("reward"))

    @hookimpl
    def on_generation_end(self, run: Run, generation: int, report: dict[str, Any]) -> None:
        _record("on_generation_end", generation=generation, auditors=sorted(report["auditors"]))


class Raiser:
    """An observer with a bug: it must be recorded in the manifest and cost nothing."""

    @hookimpl
    def on_stage_end(self, run: Run, generation: int, stage: str, stats: dict[str, Any]) -> None:
        raise RuntimeError(f"observer bug after {stage}")

    @hookimpl
    def on_policy_log(self, run: Run, generation: int, step: int, logs: dict[str, float]) -> None:
        raise ValueError("observer bug in a policy log")


def manager() -> Any:
    """The plugin manager of a test run: built-ins, the recorder, and the raiser when asked."""
    from rlaif_audit.host import get_plugin_manager

    pm = get_plugin_manager()
    pm.register(Recorder(), name="loop-driver-recorder")
    if os.environ.get("LOOP_DRIVER_RAISE") == "1":
        pm.register(Raiser(), name="loop-driver-raiser")
    return pm


SCRATCH_DELAY_ENV = "LOOP_DRIVER_SCRATCH_DELAY"  # seconds between a stage's marker and the removal of its scratch


def _delay_scratch_removal() -> None:
    """Hold the removal of a completed stage's scratch (TRL checkpoints), so a kill lands right after the marker."""
    from rlaif_audit.loop import run as run_module

    delay, remove = float(os.environ[SCRATCH_DELAY_ENV]), run_module.remove_tree

    def slow_remove(path: Path) -> None:
        if path.exists():
            time.sleep(delay)
        remove(path)

    run_module.remove_tree = slow_remove


def main(argv: list[str]) -> None:
    from rlaif_audit.loop.config import build_config
    from rlaif_audit.loop.run import create_run, execute, open_run

    if os.environ.get(SCRATCH_DELAY_ENV):
        _delay_scratch_removal()

    action, folder = argv[0], Path(argv[1])
    os.environ.setdefault(HOOK_LOG_ENV, str(folder) + ".hooks.jsonl")
    if action == "start":
        run = create_run(folder, build_config(preset="smoke", overrides=json.loads(argv[2])), manager())
    else:
        run = open_run(folder, manager())
    run.progress = False
    execute(run)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main(sys.argv[1:])
