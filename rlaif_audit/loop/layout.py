"""Every file and folder name of a run folder, in one place (the tree is drawn in docs/run.md).

Names inside a generation are relative to its folder ``gen-N/``; reach them with
:meth:`rlaif_audit.loop.run.Run.path`.
"""

from __future__ import annotations

# The run folder
MANIFEST = "manifest.json"
CONFIG = "config.toml"
PROMPTS = "prompts.jsonl"  # the prompts used, frozen at the start, with their split
RUN_REPORT = "report"  # the run's top-level report: every generation side by side, the propagation audit
RUN_SCOPE = "run"  # the manifest's key prefix of the run-level stages (run/propagation)

# A generation's folder, gen-N/
MARKERS = "stages"  # completion markers, <stage>.done.json
CANDIDATES = "candidates.jsonl"
PAIRS = "pairs.jsonl"
JUDGMENTS = "judgments.jsonl"
PREFERENCES = "preferences.jsonl"
REWARD_MODEL = "reward_model"
REWARD_MODEL_CHECKPOINTS = "reward_model_checkpoints"
POLICY = "policy"
POLICY_CHECKPOINTS = "policy_checkpoints"
POLICY_LOG = "policy_log.jsonl"
AUDIT = "audit"
AUDIT_SAMPLES = f"{AUDIT}/samples.jsonl"
AUDIT_JUDGMENTS = f"{AUDIT}/judgments.jsonl"
POLICY_SAMPLES = f"{AUDIT}/policy_samples.jsonl"
PROBES = "probes"
PROBE_PAIRS = f"{PROBES}/judgments.pairs.jsonl"  # the probe pairs judged (suites, anchors), beside them
PROBE_JUDGMENTS = f"{PROBES}/judgments.jsonl"
DRIFT = f"{PROBES}/drift.json"  # pinned runs: this generation's probe judgments against gen-0's
SELF_PREFERENCE = f"{PROBES}/self_preference.jsonl"  # policy succession, gen >= 1: own (gen g-1 policy) vs reference
SELF_PREFERENCE_REFERENCE = f"{PROBES}/self_preference.reference.jsonl"  # the same pairs judged by gen-0's evaluator

# Written into audit/, policy/ and reward_model/ (the report formats and the model card)
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
MODEL_CARD = "README.md"


def generation_folder(generation: int) -> str:
    """The folder name of a generation: ``gen-0``, ``gen-1``, ..."""
    return f"gen-{generation}"


def relative_path(generation: int, name: str) -> str:
    """A generation's file or folder relative to the run folder (``gen-0/policy``), as the reports cite it."""
    return f"{generation_folder(generation)}/{name}"


def marker(stage: str) -> str:
    """A stage's completion marker inside its generation's folder."""
    return f"{MARKERS}/{stage}.done.json"


def stage_key(generation: int | None, stage: str) -> str:
    """The manifest's key of a stage of a generation (``gen-0/label``), or of a run-level stage
    (``run/propagation``, generation None), in its stages and attempts tables."""
    return f"{RUN_SCOPE if generation is None else generation_folder(generation)}/{stage}"
