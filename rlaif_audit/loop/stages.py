"""The loop's six stages, in the order each generation runs them, and the run-level stages after the last
generation (docs/run.md describes each one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from rlaif_audit.loop import audit, generate, label, policy, probes, propagation, reward

if TYPE_CHECKING:
    from rlaif_audit.loop.run import Run


@dataclass(frozen=True)
class Stage:
    """One stage: its name (marker, manifest key, hook argument) and the function that runs it.

    ``run`` reads its inputs from the run folder, writes its outputs there and
    returns the outputs recorded in its completion marker. With
    ``all_processes`` every process of ``accelerate launch`` runs it (TRL's
    data-parallel training); otherwise only the main process does.
    """

    name: str
    run: Callable[[Run, int], dict[str, Any]]
    all_processes: bool = False


STAGES: tuple[Stage, ...] = (
    Stage("generate", generate.run_generate),
    Stage("probes", probes.run_probes),
    Stage("label", label.run_label),
    Stage("reward_model", reward.run_reward_model, all_processes=True),
    Stage("policy", policy.run_policy, all_processes=True),
    Stage("audit", audit.run_audit),
)
STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)
RUN_STAGES: tuple[Stage, ...] = (Stage("propagation", propagation.run_propagation),)
"""Stages run once, after every generation (generation None; markers in the run folder's stages/)."""
