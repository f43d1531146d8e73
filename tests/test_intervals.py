"""Issue 9, defects 3, 4 and 10 (ci_method): marked intervals, abstaining flags, FDR across flags, ECE without CI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.special import expit

from rlaif_audit.auditing.context import build_context
from rlaif_audit.default_plugins.auditors.calibration import CalibrationAuditor
from rlaif_audit.default_plugins.auditors.length import LengthAuditor
from rlaif_audit.testing import synthetic_frames, synthetic_judgments, write_synthetic_pairs

LIST_TEXT = "Steps:\n- open the valve\n- wait a minute"
PLAIN_TEXT = "Open the valve and wait a minute."


def list_pairs(n: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``n`` pairs where A has a list, B none; the judge prefers A in both orders, the human prefers B."""
    ids = [f"p{i}" for i in range(n)]
    pairs = pd.DataFrame({"pair_id": ids, "a": [LIST_TEXT] * n, "b": [PLAIN_TEXT] * n})
    labels = pd.DataFrame({"pair_id": ids, "preferred": ["b"] * n, "annotator": ["h0"] * n})
    judgments = pd.DataFrame({
        "pair_id": ids + ids, "order": ["ab"] * n + ["ba"] * n, "p_first": [0.9] * n + [0.1] * n,
        "verdict": ["first"] * n + ["second"] * n, "parse_status": "ok", "raw": None, "latency_s": 0.0,
        "evaluator": "handmade", "evaluator_id": ""})
    return judgments, pairs, labels


def lists_result(n: int) -> Any:
    judgments, pairs, labels = list_pairs(n)
    return LengthAuditor().audit(build_context(judgments, pairs, labels, n_bootstrap=200))


# ------------------------------------------------------------------------------------- defect 3: marked intervals


def test_one_pair_gives_no_zero_width_interval_and_no_flag() -> None:
    # issue 9: `lists_excess = 1.000 [1.000, 1.000], n=1, flagged` must not happen
    result = lists_result(1)
    excess = result.metrics["lists_excess"]
    assert excess.value == 1.0 and excess.n == 1
    low, high = excess.ci
    assert high - low > 0.5  # Wilson at the boundary over one pair, mapped onto [−1, 1]: [−0.587, 1]
    assert low == pytest.approx(2 * 0.20654931 - 1, abs=1e-6)
    assert "n<30" in excess.note
    assert result.tables["flags"] == []
    row = next(r for r in result.tables["bias_tests"] if r["metric"] == "lists_excess")
    assert row["flagged"] is None and "n=1 < 30" in row["reason"]


def test_excess_at_its_boundary_gets_the_wilson_fallback_and_is_flagged_with_enough_pairs() -> None:
    from rlaif_audit.auditing.stats import boundary_interval

    result = lists_result(50)
    excess = result.metrics["lists_excess"]
    assert excess.value == 1.0
    assert excess.ci == pytest.approx(boundary_interval(1.0, (-1.0, 1.0), 50))
    assert excess.ci[0] < 0.9 and excess.note == ""
    assert [flag["metric"] for flag in result.tables["flags"]] == ["lists_excess"]


def test_a_zero_width_bootstrap_interval_is_marked_degenerate() -> None:
    from rlaif_audit.auditing.stats import SumBootstrap, family_rng

    values = np.column_stack([np.full(40, 3.0), np.ones(40)])  # every resample gives the same ratio
    boot = SumBootstrap(values, n_bootstrap=200, rng=family_rng(0, "test"))
    metric = boot.metric(lambda s: s[..., 0] / s[..., 1], 40)
    assert metric.ci == (3.0, 3.0) and metric.note == "degenerate"
    assert metric.to_dict()["ci_note"] == "degenerate"
    small = SumBootstrap(np.column_stack([np.arange(5.0), np.ones(5)]), n_bootstrap=200, rng=family_rng(0, "t"))
    assert small.metric(lambda s: s[..., 0] / s[..., 1], 5).note == "n<30"


def test_a_plugins_unmarked_metric_is_marked_when_the_report_takes_it() -> None:
    from rlaif_audit.auditing.auditor import Auditor, AuditResult, Metric
    from rlaif_audit.reporting.report import AuditorOutcome

    result = AuditResult(metrics={"share": Metric(1.0, (1.0, 1.0), 12, "plugin's own")})
    outcome = AuditorOutcome.from_result(result, Auditor)
    assert outcome.metrics["share"].note == "degenerate; n<30"
    assert outcome.to_dict()["metrics"]["share"]["ci_note"] == "degenerate; n<30"


def test_report_formats_show_the_marks_and_both_p_values() -> None:
    from rlaif_audit.auditing.auditor import Auditor
    from rlaif_audit.default_plugins.formats.markdown import MarkdownReport
    from rlaif_audit.reporting.report import AuditorOutcome, Report

    result = lists_result(1)
    outcome = AuditorOutcome.from_result(result, Auditor)
    text = MarkdownReport().render(Report(auditors={"length": outcome}))
    row = next(line for line in text.splitlines() if line.startswith("| lists_excess |"))
    assert "[-0.587, 1.000] (n&lt;30)" in row  # Markdown-escaped "(n<30)"
    header = next(line for line in text.splitlines() if line.startswith("| metric | null |"))
    assert "p_value" in header and "p_adjusted" in header


# --------------------------------------------------------------------------- multiple-comparison control (BH)


def bh_by_hand(p_values: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values, written out: p_(i)·m/i, cumulative minimum from the largest."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = running
    return adjusted


def test_flags_use_benjamini_hochberg_adjusted_p_values_across_the_report() -> None:
    from rlaif_audit.auditing.auditor import Auditor
    from rlaif_audit.auditing.flags import adjust_report
    from rlaif_audit.reporting.report import AuditorOutcome

    def row(metric: str, p: float) -> dict[str, Any]:
        return {"metric": metric, "null": 0.0, "value": 0.2, "ci": [0.1, 0.3], "n": 100, "p_value": p,
                "p_adjusted": p, "flagged": p < 0.05, "reason": None, "finding": f"bias in {metric}"}

    first = AuditorOutcome(tables={"bias_tests": [row("a", 0.01), row("b", 0.04)]}, auditor=Auditor)
    second = AuditorOutcome(tables={"bias_tests": [row("c", 0.03), row("d", 0.2)]}, auditor=Auditor)
    note = adjust_report({"one": first, "two": second})
    # by hand: sorted 0.01, 0.03, 0.04, 0.2 → 0.04, 0.06, 0.0533, 0.2 → cumulative minimum 0.04, 0.0533, 0.0533, 0.2
    adjusted = [r["p_adjusted"] for o in (first, second) for r in o.tables["bias_tests"]]
    assert adjusted == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert [f["metric"] for f in first.tables["flags"]] == ["a"]  # b (raw 0.04) and c (raw 0.03) are not flagged
    assert second.tables["flags"] == []
    assert "Benjamini–Hochberg" in note and "4 bias tests" in note


def test_the_built_report_adjusts_every_auditors_tests_together(pm) -> None:
    from rlaif_audit.auditing.runner import run_auditors
    from rlaif_audit.reporting.builder import build_report

    pairs, labels = synthetic_frames(400, 5, human_noise=1.0, list_rate=0.5)
    judgments = synthetic_judgments(pairs, {"position_bias": 0.3, "length_pref": 0.3, "noise": 0.5, "seed": 5})
    ctx = build_context(judgments, pairs, labels, seed=5, n_bootstrap=300)
    report = build_report(ctx, run_auditors(ctx, pm, ["position", "length", "calibration"])).to_dict()
    rows = [r for name in ("position", "length", "calibration") for r in report["auditors"][name]["tables"]["bias_tests"]]
    tested = [r for r in rows if r["reason"] is None]
    assert len(tested) >= 5
    assert [r["p_adjusted"] for r in tested] == pytest.approx(bh_by_hand([r["p_value"] for r in tested]))
    for name in ("position", "length", "calibration"):
        flags = report["auditors"][name]["tables"]["flags"]
        expected = [r["metric"] for r in report["auditors"][name]["tables"]["bias_tests"]
                    if r["reason"] is None and r["p_adjusted"] < 0.05]
        assert [f["metric"] for f in flags] == expected
        assert all(f["p_adjusted"] >= f["p_value"] for f in flags)
    assert any("Benjamini–Hochberg" in note for note in report["method_notes"])


def test_the_bootstrap_p_value_inverts_the_percentile_interval() -> None:
    from rlaif_audit.auditing.stats import SumBootstrap, family_rng

    rng = np.random.default_rng(3)
    values = np.column_stack([rng.normal(0.15, 1.0, 300), np.ones(300)])
    boot = SumBootstrap(values, n_bootstrap=2000, rng=family_rng(1, "p"))
    mean = lambda s: s[..., 0] / s[..., 1]  # noqa: E731
    metric = boot.metric(mean, 300)
    replicates = mean(boot.replicates)
    for null in (metric.ci[0], metric.ci[1]):  # at either end of the 95% percentile CI, p ≈ 0.05
        assert boot.p_value(mean, null) == pytest.approx(0.05, abs=0.01)
    below = np.mean(replicates < 0.0)
    assert boot.p_value(mean, 0.0) == pytest.approx(2 * (below * 2000 + 1) / 2001)


# ------------------------------------------------------------------------------------------- defect 4: ECE


def calibrated_context(n: int, seed: int) -> Any:
    pairs, labels = synthetic_frames(n, seed, human_noise=1.0)
    judgments = synthetic_judgments(pairs, {"strength": 1.0, "noise": 0.0, "pair_noise": 0.0, "seed": seed})
    return build_context(judgments, pairs, labels, seed=seed, n_bootstrap=200)


def test_ece_and_mce_are_reported_without_an_interval() -> None:
    result = CalibrationAuditor().audit(calibrated_context(400, 1))
    for name in ("ece_equal_width", "ece_equal_mass", "mce", "ece_temperature"):
        metric = result.metrics[name]
        assert metric.value is not None and metric.ci is None and metric.note == "no valid interval", name
    for name in ("ece_debiased", "brier", "log_loss", "temperature"):
        assert result.metrics[name].ci is not None


def calibration_sample(n: int, seed: int, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Judge P = σ(z/temperature), binary human labels with P(A) = σ(z): calibrated at temperature 1."""
    rng = np.random.default_rng(seed)
    z = 1.5 * rng.standard_normal(n)
    return expit(z / temperature), (rng.uniform(size=n) < expit(z)).astype(float)


def test_debiased_ece_matches_its_definition() -> None:
    from rlaif_audit.default_plugins.auditors.calibration import debiased_ece

    p, human = calibration_sample(400, 0, 1.0)
    order = np.argsort(p, kind="stable")
    squared, variance = 0.0, 0.0
    for members in np.array_split(order, 10):  # equal-mass bins of 40 (no ties in p)
        gap = human[members] - p[members]
        k, s2 = len(members), gap.var(ddof=1)
        term = gap.mean() ** 2 - s2 / k
        squared += k / 400 * term
        variance += (k / 400) ** 2 * (4 * max(term, 0.0) * s2 / k + 2 * s2**2 / (k * (k - 1)))
    metric = debiased_ece(p, human, 10)
    assert metric.value == pytest.approx(np.sqrt(max(squared, 0.0)))
    assert metric.ci[1] == pytest.approx(np.sqrt(squared + 1.959963984540054 * np.sqrt(variance)))


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_debiased_ece_interval_covers_the_population_value(temperature: float) -> None:
    # issue 9: the plug-in ECE's bootstrap interval covered a calibrated judge's population ECE in 0% of samples
    from rlaif_audit.default_plugins.auditors.calibration import debiased_ece

    rng = np.random.default_rng(7)
    z = 1.5 * rng.standard_normal(1_000_000)  # the population: bins at its quantiles, exact P(A) as target
    p, soft = expit(z / temperature), expit(z)
    ids = np.minimum((np.argsort(np.argsort(p)) * 10) // len(p), 9)
    truth = np.sqrt(sum(np.mean(ids == b) * np.mean((soft - p)[ids == b]) ** 2 for b in range(10)))
    assert (truth == 0.0) == (temperature == 1.0)
    covered = 0
    for seed in range(200):
        metric = debiased_ece(*calibration_sample(400, seed, temperature), 10)
        covered += metric.ci[0] <= truth <= metric.ci[1]
    assert covered / 200 >= 0.93


def test_a_ci_gate_on_ece_is_refused_with_exit_2(tmp_path: Path) -> None:
    from rlaif_audit.cli import build_cli

    data = write_synthetic_pairs(tmp_path / "pairs.jsonl", 60, seed=2)
    judgments = tmp_path / "judgments.jsonl"
    runner = CliRunner()
    labeled = runner.invoke(build_cli(), ["label", str(data), "-e", "synthetic", "-o", str(judgments), "-q"])
    assert labeled.exit_code == 0, labeled.output
    result = runner.invoke(build_cli(), ["audit", str(judgments), "--data", str(data), "-o", str(tmp_path / "r"),
                                         "--gate", "calibration.ece_equal_width<=0.1"])
    assert result.exit_code == 2
    assert "without a confidence interval" in result.output
    assert "calibration.ece_equal_width.value" in result.output and "calibration.ece_debiased" in result.output
    assert not (tmp_path / "r").exists()  # refused before anything was written
    on_value = runner.invoke(build_cli(), ["audit", str(judgments), "--data", str(data), "-o", str(tmp_path / "v"),
                                           "--n-bootstrap", "50", "--gate", "calibration.ece_equal_width.value<=1"])
    assert on_value.exit_code == 0, on_value.output


# ------------------------------------------------------------------------------------- defect 10: --ci-method


def test_audit_takes_ci_method_bca(tmp_path: Path) -> None:
    from rlaif_audit.cli import build_cli

    data = write_synthetic_pairs(tmp_path / "pairs.jsonl", 80, seed=4)
    judgments = tmp_path / "judgments.jsonl"
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["label", str(data), "-e", "synthetic", "-o", str(judgments), "-q",
                                       "-O", "position_bias=0.5"]).exit_code == 0
    reports = {}
    for method in ("percentile", "bca"):
        out = tmp_path / method
        result = runner.invoke(build_cli(), ["audit", str(judgments), "--data", str(data), "-o", str(out),
                                             "--n-bootstrap", "300", "--ci-method", method, "--report-formats",
                                             "json"])
        assert result.exit_code == 0, result.output
        reports[method] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    bca = reports["bca"]["auditors"]["position"]["metrics"]["first_slot_preference"]
    percentile = reports["percentile"]["auditors"]["position"]["metrics"]["first_slot_preference"]
    assert "bootstrap bca 95% CI" in bca["method"] and "percentile" in percentile["method"]
    assert bca["value"] == percentile["value"]
    differ = [name for name, metric in reports["bca"]["auditors"]["agreement"]["metrics"].items()
              if metric["ci"] != reports["percentile"]["auditors"]["agreement"]["metrics"][name]["ci"]]
    assert differ  # the same resamples, another interval
    assert reports["bca"]["config"]["ci_method"] == "bca" and "--ci-method bca" in reports["bca"]["config"]["command"]
    wrong = runner.invoke(build_cli(), ["audit", str(judgments), "--data", str(data), "-o", str(tmp_path / "x"),
                                        "--ci-method", "studentized"])
    assert wrong.exit_code == 2 and "percentile" in wrong.output and "bca" in wrong.output
