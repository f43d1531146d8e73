"""`rlaif-audit check REPORT_DIR --gates gates.toml`: named gates, exit codes, BH over flag gates, JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner


def run_cli(args: list) -> object:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


def bias_row(metric: str, p_value: float | None, reason: str | None = None) -> dict:
    return {"metric": metric, "null": 0.5, "value": 0.6, "ci": [0.55, 0.65], "n": 400, "p_value": p_value,
            "p_adjusted": None, "flagged": None, "reason": reason, "finding": f"bias in {metric}"}


def write_report(folder: Path, flag_p: dict[str, float] | None = None) -> Path:
    """A report.json with known numbers: kappa 0.5 [0.42, 0.58], consistent 0.85 [0.78, 0.9], verdicts, bias tests."""
    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.reporting.report import AuditorOutcome, Report

    flags = flag_p or {"first_slot_preference": 0.3}
    report = Report(title="known", auditors={
        "agreement": AuditorOutcome(status="ok", metrics={"cohen_kappa": Metric(0.5, (0.42, 0.58), 200)}),
        "position": AuditorOutcome(status="ok", metrics={"consistent": Metric(0.85, (0.78, 0.9), 200)},
                                   tables={"bias_tests": [bias_row(name, p) for name, p in flags.items()]}),
        "propagation": AuditorOutcome(status="ok", metrics={}, tables={"verdicts": [
            {"measure": "padded_wins_rate", "verdict": "amplifying"}, {"measure": "known_answer_accuracy",
                                                                         "verdict": "stable"}]}),
        "reward-model": AuditorOutcome(status="skipped", reason="no reward model"),
    })
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report.to_dict()), encoding="utf-8")
    return folder


def gates_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "gates.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_passing_gates_exit_0_with_a_table(tmp_path):
    report = write_report(tmp_path / "r")
    gates = gates_file(tmp_path, '[gates]\nkappa = "agreement.cohen_kappa >= 0.4"\n'
                                 'known = \'propagation.known_answer_accuracy.verdict != "amplifying"\'\n'
                                 'slot = "position.first_slot_preference not flagged"\n')
    result = run_cli(["check", report, "--gates", gates])
    assert result.exit_code == 0, result.output
    assert "kappa  PASS" in result.output and "3 passed, 0 failed" in result.output


@pytest.mark.parametrize("expression, passed", [
    ("agreement.cohen_kappa >= 0.4", True),        # the CI's lower bound 0.42 clears 0.4
    ("agreement.cohen_kappa >= 0.45", False),      # value 0.5 would pass; the lower bound 0.42 does not
    ("agreement.cohen_kappa >= 0.45 on value", True),
    ("position.consistent >= 0.8 on ci_low", False),   # 0.78 < 0.8
    ("position.consistent >= 0.8 on value", True),
    ("position.consistent <= 0.88", False),        # the upper bound 0.9 by default
    ("position.consistent <= 0.88 on ci_low", True),
    ('propagation.padded_wins_rate.verdict != "amplifying"', False),
    ('propagation.padded_wins_rate.verdict == "amplifying"', True),
    ("reward-model.accuracy_vs_humans >= 0.5", False),  # skipped auditor: not measured, a real failure
])
def test_each_gate_kind_passes_or_fails_on_known_numbers(tmp_path, expression, passed):
    report = write_report(tmp_path / "r")
    gates = gates_file(tmp_path, f"[gates]\ng = {json.dumps(expression)}\n")
    result = run_cli(["check", report, "--gates", gates])
    assert result.exit_code == (0 if passed else 1), result.output
    assert ("g     PASS" if passed else "g     FAIL") in result.output


def test_flag_gates_are_benjamini_hochberg_adjusted_together(tmp_path):
    from scipy.stats import false_discovery_control

    raw = {"m1": 0.02, "m2": 0.04, "m3": 0.5, "m4": 0.6}
    report = write_report(tmp_path / "r", raw)
    body = "[gates]\n" + "".join(f'{name} = "position.{name} not flagged"\n' for name in raw)
    result = run_cli(["check", report, "--gates", gates_file(tmp_path, body), "--junit", tmp_path / "j.xml"])
    expected = dict(zip(raw, false_discovery_control(list(raw.values()), method="bh")))
    assert min(raw.values()) < 0.05 and min(expected.values()) > 0.05, "alone, m1 and m2 would fail"
    assert result.exit_code == 0, result.output
    assert f"p = {expected['m1']:.3g}" in result.output
    one = run_cli(["check", report, "--gates", gates_file(tmp_path, '[gates]\nm1 = "position.m1 not flagged"\n')])
    assert one.exit_code == 1 and "m1    FAIL" in one.output, one.output


def test_junit_xml_has_one_testcase_per_gate_and_parses(tmp_path):
    report = write_report(tmp_path / "r")
    gates = gates_file(tmp_path, '[gates]\nkappa = "agreement.cohen_kappa >= 0.4"\n'
                                 'consistency = "position.consistent >= 0.8 on ci_low"\n'
                                 'padding = \'propagation.padded_wins_rate.verdict != "amplifying"\'\n')
    junit = tmp_path / "out" / "gates.xml"
    junit.parent.mkdir()
    result = run_cli(["check", report, "--gates", gates, "--junit", junit])
    assert result.exit_code == 1 and "1 passed, 2 failed" in result.output
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["kappa", "consistency", "padding"] and suite.get("failures") == "2"
    assert cases["kappa"].find("failure") is None and cases["padding"].find("failure") is not None
    junitparser = pytest.importorskip("junitparser")
    xml = junitparser.JUnitXml.fromfile(str(junit))
    parsed = {case.name: case.is_passed for suite in xml for case in suite}
    assert parsed == {"kappa": True, "consistency": False, "padding": False}


@pytest.mark.parametrize("body, expected", [
    ('[gates]\nk = "agreement.cohen_kapa >= 0.4"\n',
     "auditor 'agreement' has no metric 'cohen_kapa'. Known metrics: cohen_kappa"),
    ('[gates]\nk = "agreemnt.cohen_kappa >= 0.4"\n', "no auditor 'agreemnt'. Known auditors: agreement, position"),
    ('[gates]\nk = "propagation.padded.verdict != \\"amplifying\\""\n',
     "Known verdict measures: known_answer_accuracy, padded_wins_rate"),
    ('[gates]\nk = "position.slot not flagged"\n', "Known bias tests: first_slot_preference"),
    ('[gates]\nk = "agreement.cohen_kappa => 0.4"\n', "gates.k: expected AUDITOR.METRIC OP NUMBER"),
    ('[gates]\nk = 3\n', "gates.k: expected a string expression"),
    ('gate = 1\n', "unknown key(s) gate"),
    ('fdr = 2\n[gates]\nk = "agreement.cohen_kappa >= 0.4"\n', "fdr: expected a number between 0 and 1"),
    ('[gates\n', "not valid TOML"),
])
def test_bad_gates_exit_2_before_any_check(tmp_path, body, expected):
    report = write_report(tmp_path / "r")
    junit = tmp_path / "j.xml"
    result = run_cli(["check", report, "--gates", gates_file(tmp_path, body), "--junit", junit])
    assert result.exit_code == 2 and expected in result.output, result.output
    assert "PASS" not in result.output and "FAIL" not in result.output and not junit.exists()


def test_a_folder_without_report_json_is_exit_2(tmp_path):
    gates = gates_file(tmp_path, '[gates]\nk = "agreement.cohen_kappa >= 0.4"\n')
    result = run_cli(["check", tmp_path / "nothing", "--gates", gates])
    assert result.exit_code == 2 and "no report.json" in result.output


def test_check_reads_a_report_audit_wrote(tmp_path):
    from rlaif_audit.testing import write_synthetic_pairs

    data = write_synthetic_pairs(tmp_path / "pairs.jsonl", 60, seed=3)
    judged = tmp_path / "j.jsonl"
    assert run_cli(["label", data, "-e", "synthetic", "-o", judged, "-q", "-O", "position_bias=2"]).exit_code == 0
    assert run_cli(["audit", judged, "--data", data, "-o", tmp_path / "r", "--n-bootstrap", "50",
                    "--auditors", "agreement,position"]).exit_code == 0
    gates = gates_file(tmp_path, '[gates]\nslot = "position.first_slot_preference not flagged"\n'
                                 'kappa = "agreement.cohen_kappa >= -1 on ci_low"\n')
    result = run_cli(["check", tmp_path / "r", "--gates", gates])
    assert result.exit_code == 1 and "slot   FAIL" in result.output and "kappa  PASS" in result.output, result.output
