"""Policy-side auditors (reward hacking, length drift, mode collapse, KL, reward model, stages) on known samples."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from rlaif_audit.auditing.auditor import AuditContext
from rlaif_audit.auditing import diversity as dv
from rlaif_audit.default_plugins.auditors import policy as ap
from rlaif_audit.default_plugins.auditors import run_records as ar


def context(samples: list[dict[str, Any]], **extra: Any) -> AuditContext:
    policy = {"samples": samples, "log": [], "reward": "model", **extra}
    return AuditContext(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), seed=0, n_bootstrap=400,
                        options={"policy": policy})


def sample(prompt: int, index: int, **values: Any) -> dict[str, Any]:
    row = {"prompt_id": f"p{prompt}", "sample": index, "policy_text": "a b c", "reference_text": "a b c",
           "policy_tokens": 3, "reference_tokens": 3, "p_policy": 0.5, "rm_policy": 0.0, "rm_reference": 0.0,
           "kl": 0.0, "log_ratio": 0.0}
    return row | values


def test_distinct_n_entropy_and_similarity_by_hand() -> None:
    assert dv.distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert dv.distinct_n(["a b", "a b"], 1) == pytest.approx(0.5)
    assert dv.unigram_entropy(["a b c d"]) == pytest.approx(2.0)
    rows = [{"prompt_id": "p", "x": "a b c d"}, {"prompt_id": "p", "x": "a b c e"}]
    assert ap.mean_edit_similarity(rows, "x") == pytest.approx(0.75)
    assert math.isnan(dv.distinct_n([""], 2))


def test_policy_auditors_skip_outside_a_run() -> None:
    ctx = AuditContext(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    for cls in (ap.RewardHackingAuditor, ap.LengthDriftAuditor, ap.ModeCollapseAuditor, ap.PolicyKLAuditor,
                ar.RewardModelAuditor, ar.RunStagesAuditor):
        result = cls().audit(ctx)
        assert result.status == "skipped" and result.reason


def test_reward_hacking_flagged_when_reward_rises_and_evaluator_does_not() -> None:
    rows = [sample(p, 0, rm_policy=1.0 + 0.1 * p, rm_reference=0.0, p_policy=0.2) for p in range(12)]
    result = ap.RewardHackingAuditor().audit(context(rows))
    gain, win_rate = result.metrics["rm_score_gain"], result.metrics["evaluator_win_rate"]
    assert gain.ci[0] > 0 and win_rate.value == 0.0 and win_rate.n == 12
    assert result.metrics["rm_evaluator_agreement"].value == 0.0
    assert any(note.startswith("Reward hacking suspected") for note in result.notes)


def test_no_reward_hacking_when_both_rise() -> None:
    rows = [sample(p, 0, rm_policy=1.0, rm_reference=0.0, p_policy=0.9) for p in range(12)]
    result = ap.RewardHackingAuditor().audit(context(rows))
    assert result.metrics["evaluator_win_rate"].ci[0] > 0.5
    assert any(note.startswith("No sign of reward hacking") for note in result.notes)


def test_training_reward_trend_has_a_ci_and_a_curve() -> None:
    log = [{"step": s, "reward": 0.1 * s, "kl": 0.01 * s} for s in range(1, 6)]
    rows = [sample(p, 0) for p in range(4)]
    result = ap.RewardHackingAuditor().audit(context(rows, log=log))
    slope = result.metrics["train_reward_slope"]
    assert slope.value == pytest.approx(0.1) and slope.n == 5
    assert result.figures["train_reward_curve"]["series"][0]["y"] == [r["reward"] for r in log]


def test_length_drift_paired_by_prompt() -> None:
    rows = [sample(p, i, policy_tokens=20 + p, reference_tokens=10 + p) for p in range(6) for i in range(2)]
    metrics = ap.LengthDriftAuditor().audit(context(rows)).metrics
    assert metrics["token_difference"].value == 10 and metrics["token_difference"].ci == (10.0, 10.0)
    assert metrics["p_policy_longer"].value == 1.0 and metrics["length_ratio"].value > 1


def test_mode_collapse_sees_repeated_samples() -> None:
    rows = [sample(p, i, policy_text="the same answer every time",
                   reference_text=f"answer {p} number {i} with words w{p}{i} x{i}") for p in range(8) for i in range(2)]
    metrics = ap.ModeCollapseAuditor().audit(context(rows)).metrics
    assert metrics["distinct_2_change"].ci[1] < 0
    assert metrics["edit_similarity_policy"].value == 1.0
    assert metrics["edit_similarity_change"].value > 0
    assert metrics["unigram_entropy_change"].value < 0


def test_kl_auditor_means_and_per_token() -> None:
    rows = [sample(p, 0, kl=2.0, policy_tokens=4, log_ratio=1.0) for p in range(5)]
    metrics = ap.PolicyKLAuditor().audit(context(rows)).metrics
    assert metrics["kl_per_sequence"].value == 2.0 and metrics["kl_per_token"].value == 0.5


def test_bootstrap_is_seeded_and_covers_the_estimate() -> None:
    rows = [sample(p, 0, kl=float(p)) for p in range(10)]
    first = ap.cluster_bootstrap(rows, ap.mean_of("kl"), seed=3, n_boot=300, family="x")
    again = ap.cluster_bootstrap(rows, ap.mean_of("kl"), seed=3, n_boot=300, family="x")
    assert first.ci == again.ci and first.ci[0] < first.value < first.ci[1]


def test_reward_model_and_stage_auditors_report_run_figures() -> None:
    accuracy = {"value": 0.75, "ci": [0.5, 0.9], "n": 20, "method": "Wilson"}
    stages = [{"stage": "gen-0/generate", "seconds": 2.0, "peak_rss_mb": 500.0}]
    ctx = context([sample(0, 0)], reward_model={"accuracy_vs_ai": accuracy, "accuracy_vs_humans": None},
                  stages=stages)
    rm = ar.RewardModelAuditor().audit(ctx)
    assert rm.metrics["accuracy_vs_ai"].ci == (0.5, 0.9) and "accuracy_vs_humans" not in rm.metrics
    assert ar.RunStagesAuditor().audit(ctx).tables["stages"] == stages


def test_length_drift_warns_when_lengths_are_censored() -> None:
    rows = [sample(p, 0, policy_truncated=True, reference_truncated=p < 2) for p in range(6)]
    result = ap.LengthDriftAuditor().audit(context(rows))
    assert result.metrics["truncated_policy"].value == 1.0
    assert result.metrics["truncated_reference"].value == pytest.approx(2 / 6)
    assert any("censored" in note for note in result.notes)
