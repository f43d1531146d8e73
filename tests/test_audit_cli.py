"""`rlaif-audit audit` as a user runs it: end to end, external formats, CI gates, and bad input (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

EXTERNAL = Path(__file__).parent / "data" / "external"
ALPACA = EXTERNAL / "alpaca_eval_annotations.json"
FASTCHAT = EXTERNAL / "mt_bench" / "model_judgment" / "gpt-4_pair.jsonl"


def run_cli(args: list[str]):
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


@pytest.fixture(scope="module")
def labeled(tmp_path_factory) -> dict[str, Path]:
    """120 synthetic pairs with human labels, labeled by the synthetic evaluator (first-slot bias) via `label`."""
    from rlaif_audit.testing import write_synthetic_pairs

    folder = tmp_path_factory.mktemp("labeled")
    data = write_synthetic_pairs(folder / "pairs.jsonl", 120, seed=7)
    out = {"data": data}
    for name, options in (("biased", ["position_bias=1.5", "noise=0.3"]), ("fair", ["noise=0.3"])):
        path = folder / f"{name}.jsonl"
        args = ["label", data, "-e", "synthetic", "-o", path, "-q"]
        for option in options:
            args += ["-O", option]
        result = run_cli(args)
        assert result.exit_code == 0, result.output
        out[name] = path
    return out


def audit(args: list[str]):
    return run_cli(["audit", *args, "--n-bootstrap", "100"])


def report_of(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------ end to end


def test_audit_end_to_end_with_gates(labeled, tmp_path):
    out = tmp_path / "report"
    result = audit([labeled["biased"], "--data", labeled["data"], "-o", out,
                    "--gate", "agreement.accuracy_without_ties>=0.55",
                    "--gate", "position.first_slot_preference<=0.5"])
    assert result.exit_code == 1, result.output  # the position gate fails
    for name in ("report.json", "report.md", "report.html", "review_queue.jsonl"):
        assert (out / name).is_file(), name
    report = report_of(out)
    first_slot = report["auditors"]["position"]["metrics"]["first_slot_preference"]
    assert first_slot["value"] > 0.75, "the judge's injected first-slot bias is found"
    assert report["gates"][0]["passed"] and not report["gates"][1]["passed"]
    low, high = first_slot["ci"]
    assert (f"position.first_slot_preference<=0.5: FAILED — value {first_slot['value']:.4g}, 95% CI "
            f"[{low:.4g}, {high:.4g}], n={first_slot['n']} (compared: the CI's upper bound)") in result.output
    assert f"report: {out / 'report.html'}" in result.output
    assert report["config"]["command"].startswith("rlaif-audit audit ") and "--gate" in report["config"]["command"]
    assert report["data"]["n_pairs"] == 120 and report["evaluator"]["name"] == "synthetic"


def test_gates_pass_and_fail_under_shorthand(labeled, tmp_path):
    result = audit([labeled["fair"], "--data", labeled["data"], "-o", tmp_path / "r", "--auditors", "agreement",
                    "--fail-under", "agreement.accuracy_without_ties=0.5",
                    "--gate", "agreement.accuracy_without_ties.value>0.6"])
    assert result.exit_code == 0, result.output
    assert "gate agreement.accuracy_without_ties>=0.5: passed" in result.output
    assert list(report_of(tmp_path / "r")["auditors"]) == ["agreement"]


def test_gate_on_a_metric_that_does_not_exist_is_misuse_naming_the_known_ones(labeled, tmp_path):
    result = audit([labeled["fair"], "--data", labeled["data"], "-o", tmp_path / "r", "--auditors", "agreement",
                    "--gate", "agreement.accuracy>=0.5"])
    assert result.exit_code == 2, result.output
    assert "auditor 'agreement' has no metric 'accuracy'. Known metrics: accuracy_ties_half" in result.output
    assert not (tmp_path / "r").exists(), "nothing is written for a misspelled gate"


def test_gate_on_an_unknown_auditor_is_refused_before_any_work(labeled, tmp_path):
    result = audit([labeled["fair"], "--data", labeled["data"], "-o", tmp_path / "r", "--gate", "agreemnt.x>=0.5"])
    assert result.exit_code == 2 and "no auditor 'agreemnt'. Known auditors: agreement, calibration" in result.output
    assert "evaluator:" not in result.output and not (tmp_path / "r").exists()


def test_compare_two_evaluators_on_the_same_pairs(labeled, tmp_path):
    result = audit([labeled["biased"], "--data", labeled["data"], "--compare", labeled["fair"], "-o", tmp_path / "r",
                    "--auditors", "agreement"])
    assert result.exit_code == 0, result.output
    report = report_of(tmp_path / "r")
    assert report["compare"]["judgments"]["path"] == str(labeled["fair"])
    assert report["compare"]["evaluator"]["identity_hashes"] != report["evaluator"]["identity_hashes"]
    assert "accuracy_difference" in report["auditors"]["agreement"]["metrics"]


def test_one_order_only_skips_position_and_still_reports(labeled, tmp_path):
    one_order = tmp_path / "ab_only.jsonl"
    one_order.write_text("".join(line + "\n" for line in labeled["biased"].read_text().splitlines()
                                 if json.loads(line)["order"] == "ab"))
    result = audit([one_order, "--data", labeled["data"], "-o", tmp_path / "r"])
    assert result.exit_code == 0, result.output
    report = report_of(tmp_path / "r")
    assert report["auditors"]["position"]["status"] == "skipped"
    assert "one order" in report["auditors"]["position"]["reason"]
    assert report["auditors"]["agreement"]["status"] == "ok"
    assert any("lack a usable judgment in both orders" in w for w in report["warnings"])


def test_human_labels_file_replaces_the_data_labels(labeled, tmp_path):
    data_ids = [json.loads(line)["id"] for line in labeled["data"].read_text().splitlines()]
    human = tmp_path / "human.jsonl"
    human.write_text("".join(json.dumps({"pair_id": pid, "preferred": pref, "annotator": who}) + "\n"
                             for pid in data_ids[:30] for pref, who in (("a", "ann1"), ("b", "ann2"))))
    result = audit([labeled["fair"], "--data", labeled["data"], "--human", human, "-o", tmp_path / "r",
                    "--auditors", "agreement"])
    assert result.exit_code == 0, result.output
    report = report_of(tmp_path / "r")
    assert report["data"]["n_labels"] == 60 and report["data"]["n_annotators"] == 2


# ------------------------------------------------------------------------------------------- external formats


def test_alpaca_eval_annotations_end_to_end(tmp_path):
    result = audit([ALPACA, "--human", EXTERNAL / "alpaca_eval_human.json", "-o", tmp_path / "r"])
    assert result.exit_code == 0, result.output
    report = report_of(tmp_path / "r")
    assert report["data"]["format"] == "alpaca_eval"
    (row,) = report["generators"]["head_to_head"]
    assert row["win_rate"] == pytest.approx(100 * 4.25 / 7) and row["n_total"] == 7
    assert report["auditors"]["position"]["status"] == "skipped"
    assert report["auditors"]["agreement"]["status"] == "ok"
    assert "win_rate.tiny-model.vs.text_davinci_003" in [h["key"] for h in report["headline"]]


def test_fastchat_judgments_end_to_end(tmp_path):
    result = audit([FASTCHAT, "--human", EXTERNAL / "mt_bench_human_judgments.json", "-o", tmp_path / "r"])
    assert result.exit_code == 0, result.output
    report = report_of(tmp_path / "r")
    assert report["data"]["format"] == "fastchat" and report["data"]["n_labels"] == 6
    assert report["auditors"]["position"]["status"] == "ok"
    assert report["auditors"]["calibration"]["status"] == "skipped"
    assert "verdicts only" in report["auditors"]["calibration"]["reason"]
    rates = {row["generator"]: row["win_rate"] for row in report["generators"]["head_to_head"]}
    assert rates == pytest.approx({"vicuna-13b-v1.3": 50.0, "alpaca-13b": 100 / 6})


# ------------------------------------------------------------------------------------------------ bad input


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _with_line(labeled, tmp_path, edit) -> Path:
    lines = _lines(labeled["biased"])
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


def _set(line: str, **changes) -> str:
    record = json.loads(line)
    record.update(changes)
    return json.dumps(record)


BAD_JUDGMENTS = {
    "unknown pair": (lambda ls: ls[:5] + [_set(ls[5], pair_id="ghost-pair")] + ls[6:],
                     ["bad.jsonl:6: field 'pair_id'", "'ghost-pair'", "not in"]),
    "NaN probability": (lambda ls: ls[:3] + [ls[3].replace(json.loads(ls[3])["p_first"].__repr__(), "NaN", 1)] + ls[4:],
                        ["bad.jsonl:4: field 'p_first'"]),
    "out of range": (lambda ls: ls[:7] + [_set(ls[7], p_first=1.5)] + ls[8:], ["bad.jsonl:8: field 'p_first'", "1.5"]),
    "empty file": (lambda ls: [], ["bad.jsonl", "empty"]),
    "two evaluators": (lambda ls: ls[:10] + [_set(line, evaluator_id="other-id") for line in ls[10:]],
                       ["bad.jsonl:11: field 'evaluator_id'", "2 evaluator identities", "other-id"]),
}


@pytest.mark.parametrize("case", list(BAD_JUDGMENTS))
def test_bad_judgments_exit_2_name_file_line_field_and_write_nothing(labeled, tmp_path, case):
    edit, expected = BAD_JUDGMENTS[case]
    bad = _with_line(labeled, tmp_path, edit)
    out = tmp_path / "report"
    result = audit([bad, "--data", labeled["data"], "-o", out])
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output, (text, result.output)
    assert "Traceback" not in result.output
    assert not out.exists(), "nothing is written on bad input"


@pytest.mark.parametrize("args, expected", [
    (["--auditors", "agreement,nope"], "Auditor 'nope' not found. Available: agreement, calibration"),
    (["--gate", "agreement.accuracy_without_ties"], "expected AUDITOR.METRIC OP NUMBER"),
    (["--fail-under", "agreement.accuracy_without_ties"], "expected AUDITOR.METRIC=NUMBER"),
    (["--format", "alpaca_eval"], "--format alpaca_eval was given but the file looks like rlaif judgments"),
    (["--report-formats", "pdf"], "Report format 'pdf' not found. Available: html, json, markdown"),
])
def test_misuse_exits_2_with_the_valid_choices(labeled, tmp_path, args, expected):
    out = tmp_path / "report"
    result = audit([labeled["fair"], "--data", labeled["data"], "-o", out, *args])
    assert result.exit_code == 2 and expected in result.output, result.output
    assert not out.exists()


def test_rlaif_judgments_need_data(labeled, tmp_path):
    result = audit([labeled["fair"], "-o", tmp_path / "r"])
    assert result.exit_code == 2 and "--data is required with rlaif-audit judgments" in result.output


def test_human_labels_given_as_judgments_say_so(tmp_path):
    result = audit([EXTERNAL / "mt_bench_human_judgments.json", "-o", tmp_path / "r"])
    assert result.exit_code == 2 and "not judgments; pass it with --human" in result.output


def test_data_with_alpaca_eval_is_an_error(labeled, tmp_path):
    result = audit([ALPACA, "--data", labeled["data"], "-o", tmp_path / "r"])
    assert result.exit_code == 2 and "--data is not used with AlpacaEval annotations" in result.output


def test_human_labels_for_no_judged_pair_is_an_error(labeled, tmp_path):
    human = tmp_path / "human.jsonl"
    human.write_text(json.dumps({"pair_id": "nobody", "preferred": "a"}) + "\n")
    result = audit([ALPACA, "--human", human, "-o", tmp_path / "r"])
    assert result.exit_code == 2 and "field 'pair_id'" in result.output and not (tmp_path / "r").exists()


def test_every_option_has_help_and_the_console_script_exits_2(tmp_path):
    from rlaif_audit.commands.audit import command

    assert command.help and "\n" not in command.help.strip()
    for param in command.params:
        if param.param_type_name == "option":
            assert param.help, param.name
    missing = tmp_path / "missing.jsonl"
    result = subprocess.run([sys.executable, "-m", "rlaif_audit.cli", "audit", str(missing), "-o", str(tmp_path / "r")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and f"{missing}: file not found" in result.stderr


@pytest.mark.parametrize("text, bound, op, threshold", [
    ("agreement.accuracy_without_ties>=0.6", "ci_low", ">=", 0.6),
    ("position.first_slot_preference < 0.55", "ci_high", "<", 0.55),
    ("agreement.cohen_kappa.value>0.2", "value", ">", 0.2),
    ("calibration.ece_equal_width.ci_low<=1e-1", "ci_low", "<=", 0.1),
])
def test_gate_parsing_picks_the_ci_side_that_must_clear(text, bound, op, threshold):
    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.auditing.gates import parse_gate
    from rlaif_audit.reporting.report import AuditorOutcome, Report

    gate = parse_gate(text)
    assert (gate.bound, gate.op, gate.threshold) == (bound, op, threshold)
    report = Report(auditors={gate.auditor: AuditorOutcome(status="ok", metrics={gate.metric: Metric(
        threshold, (threshold - 0.1, threshold + 0.1), 50)})})
    passed = gate.check(report).passed
    assert passed == {"ci_low": op in ("<=", "<"), "ci_high": op in (">=", ">"), "value": op in (">=", "<=")}[bound]
