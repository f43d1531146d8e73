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

from rlaif_audit.errors import EvaluatorDrift
from rlaif_audit.loop.ai_feedback import generation_evaluator, read_pairs_file
from rlaif_audit.loop.layout import (DRIFT, PROBE_JUDGMENTS, PROBE_PAIRS, SELF_PREFERENCE,
                                     SELF_PREFERENCE_REFERENCE, generation_folder)
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
    if run.config.evaluator_succession == "policy" and run.config.self_preference and generation > 0:
        outputs["self_preference"] = self_preference(run, generation)
    return outputs


def self_preference(run: Run, generation: int) -> dict[str, Any]:
    """Preference leakage (Li et al. 2025) in a policy-succession chain: generation g's evaluator is generation
    g−1's tuned policy, so the previous generation's audit samples hold its own responses (``policy_text``) beside
    the reference's (``reference_text``) on the same held-out prompts. Both this evaluator and gen-0's judge those
    pairs in both orders; the excess is this evaluator's own-response win rate minus gen-0's on the same pairs,
    with a pair-clustered bootstrap CI (:func:`rlaif_audit.auditing.propagation.analyse`)."""
    from rlaif_audit.auditing.propagation import analyse
    from rlaif_audit.auditing.probe_set import read_generations
    from rlaif_audit.judging.probes import judge_probes, pairs_path, self_preference_suite
    from rlaif_audit.loop.layout import AUDIT_SAMPLES, POLICY
    from rlaif_audit.records.fileio import read_jsonl

    rows = [row for row in read_jsonl(run.path(generation - 1, AUDIT_SAMPLES))
            if row["policy_text"] != row["reference_text"]]
    if not rows:
        return {"status": "skipped", "reason": f"gen-{generation - 1}'s audit samples hold no pair of different "
                                               "policy and reference responses"}
    suite = self_preference_suite([row["prompt"] for row in rows], [row["policy_text"] for row in rows],
                                  [row["reference_text"] for row in rows], seed=run.config.seed,
                                  own_model=f"{generation_folder(generation - 1)}/{POLICY}",
                                  other_model="the policy it started from")
    own_path, ref_path = run.path(generation, SELF_PREFERENCE), run.path(generation, SELF_PREFERENCE_REFERENCE)
    for path, judge_generation in ((own_path, generation), (ref_path, 0)):
        evaluator = generation_evaluator(run, judge_generation)
        try:
            judge_probes(run.pm, evaluator, [suite], path, progress=run.progress)
        finally:
            evaluator.close()
    inputs, _ = read_generations(str(pairs_path(own_path)), [str(own_path)], str(ref_path), 0.05)
    result = analyse(inputs.probes, inputs.generations, reference=inputs.reference,
                     n_bootstrap=run.config.n_bootstrap, seed=run.config.seed)
    excess = result.per_generation["self_preference_excess"][0]
    # without a reference the measure is the own-response win rate − ½: each evaluator's rate, CI shifted by ½
    alone = analyse(inputs.probes, [inputs.generations[0], inputs.reference], n_bootstrap=run.config.n_bootstrap,
                    seed=run.config.seed).per_generation["self_preference_excess"]
    rates = {}
    for key, metric in zip(("own_win_rate", "own_win_rate_gen0_evaluator"), alone):
        shifted = metric.to_dict()
        shifted["value"] = None if shifted["value"] is None else shifted["value"] + 0.5
        shifted["ci"] = None if shifted["ci"] is None else [None if x is None else x + 0.5 for x in shifted["ci"]]
        rates[key] = shifted
    return {"status": "ok", "pairs": len(suite.pairs), "excess": excess.to_dict(), **rates,
            "definition": "own-response win rate of this generation's evaluator minus gen-0's evaluator's, on the "
                          "previous generation's audit pairs (own policy vs the policy it started from), both "
                          "orders, two-order rule; pair-clustered bootstrap 95% CI",
            "judgments": SELF_PREFERENCE, "reference_judgments": SELF_PREFERENCE_REFERENCE}


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
