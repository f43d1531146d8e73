"""Stage 2, probes: the generation's evaluator judges the probe suites in both orders; pinned runs check drift.

The suites are the registered ones (``probe_suites`` config key; empty: all), plus human anchors from
``anchor_data``. Every generation judges the same probe pairs, so the run-level propagation stage can compare
generations pair by pair. In a ``pinned`` run, each generation after gen-0 compares its probe judgments and its
evaluator identity with gen-0's (:func:`rlaif_audit.auditing.drift.check_drift`); ``on_drift`` says whether a
drift warns or stops the run before the generation's evaluator labels anything.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rlaif_audit.auditing.drift import EvaluatorDrift
from rlaif_audit.loop.ai_feedback import generation_evaluator, read_pairs_file
from rlaif_audit.loop.layout import DRIFT, PROBE_JUDGMENTS, PROBE_PAIRS, generation_folder
from rlaif_audit.records.fileio import atomic_write_json

if TYPE_CHECKING:
    from rlaif_audit.judging.probes import ProbeSuite
    from rlaif_audit.loop.run import Run
    from rlaif_audit.records.types import HumanLabel

DriftStop = EvaluatorDrift
"""What a probes stage raises when ``on_drift = "stop"`` and the pinned evaluator drifted."""


def run_suites(run: Run) -> tuple[list[ProbeSuite], list[HumanLabel]]:
    """The run's probe suites (configured or all registered) and the anchor suite's human labels."""
    from rlaif_audit.judging.probes import anchor_suite, resolve_suites

    suites = [suite.subset(run.config.probe_limit, run.config.seed)
              for suite in resolve_suites(run.pm, run.config.probe_suites or None)]
    labels: list[HumanLabel] = []
    if run.config.anchor_data:
        anchors, labels = anchor_suite(run.config.anchor_data, run.config.anchor_limit, seed=run.config.seed)
        suites.append(anchors)
    return suites, labels


def run_probes(run: Run, generation: int) -> dict[str, Any]:
    """Judge the probe suites with the generation's evaluator; in a pinned run, check drift against gen-0."""
    from rlaif_audit.judging.probes import judge_probes
    from rlaif_audit.records.provenance import file_hash

    suites, labels = run_suites(run)
    path = run.path(generation, PROBE_JUDGMENTS)
    evaluator = generation_evaluator(run, generation)
    try:
        judge_probes(run.pm, evaluator, suites, path, labels=labels, progress=run.progress)
        outputs: dict[str, Any] = {"evaluator": evaluator.name, "evaluator_id": evaluator.identity_hash()}
    finally:
        evaluator.close()
    outputs.update({"suites": [{k: v for k, v in s.summary().items() if k != "description"} for s in suites],
                    "pairs": sum(len(s.pairs) for s in suites), "judgments_hash": file_hash(path)})
    if run.config.evaluator_succession == "pinned" and generation > 0:
        outputs["drift"] = drift_check(run, generation)
    return outputs


def drift_check(run: Run, generation: int) -> dict[str, Any]:
    """Gen-0's probe judgments and evaluator identity against this generation's (drift.json); act on_drift."""
    from rlaif_audit.auditing.drift import act_on_drift, check_drift

    evaluators = run.manifest.get("evaluators", {})
    result = check_drift(run.path(0, PROBE_JUDGMENTS), run.path(generation, PROBE_JUDGMENTS),
                         evaluators.get(generation_folder(0), {}).get("identity"),
                         evaluators.get(generation_folder(generation), {}).get("identity"),
                         pairs=read_pairs_file(run.path(generation, PROBE_PAIRS)), seed=run.config.seed,
                         n_bootstrap=run.config.n_bootstrap)
    record = result.to_dict()
    atomic_write_json(run.path(generation, DRIFT), record)

    def warn(message: str) -> None:
        text = f"{generation_folder(generation)}: the pinned evaluator drifted from gen-0: {message}"
        print(f"warning: {text}", file=sys.stderr)
        run.manifest.setdefault("warnings", []).append({"generation": generation, "stage": "probes",
                                                        "warning": text})
        run.save_manifest()

    try:
        act_on_drift(result, run.config.on_drift, warn)
    except EvaluatorDrift as exc:
        raise DriftStop(f"{generation_folder(generation)}: the pinned evaluator drifted from gen-0, so the run "
                        f"stopped before this generation labels anything: {exc}. Details: "
                        f"{run.path(generation, DRIFT)}") from exc
    return {"drifted": result.drifted, "message": result.message, "report": DRIFT,
            "flip_rate": record["metrics"].get("flip_rate")}
