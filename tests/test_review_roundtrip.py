"""The human round trip through the CLI: audit → `review export` → answers filled in (known answers) → `review import`
→ `audit --human`; the Label Studio task and export formats; bad answers (exit 2, file:line field, nothing written)."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ANSWERS = ("a", "b", "tie")


def run_cli(args: list) -> object:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


def ok(args: list) -> object:
    result = run_cli(args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> dict[str, Path]:
    """160 synthetic pairs judged by a noisy synthetic evaluator, audited once; the review queue exported."""
    from rlaif_audit.testing import write_synthetic_pairs

    folder = tmp_path_factory.mktemp("roundtrip")
    data = write_synthetic_pairs(folder / "pairs.jsonl", 160, seed=3)
    judgments = folder / "judgments.jsonl"
    ok(["label", data, "-e", "synthetic", "-o", judgments, "-q", "-O", "noise=1.0"])
    report = folder / "report"
    ok(["audit", judgments, "--data", data, "-o", report, "--review-budget", 60, "--n-bootstrap", 50,
        "--auditors", "agreement"])
    ok(["review", "export", report])
    return {"data": data, "judgments": judgments, "report": report}


def queue_of(audited: dict[str, Path]) -> list[dict]:
    return [json.loads(line) for line in (audited["report"] / "review_queue.jsonl").read_text().splitlines()]


def known_answer(rank: int, p_a: float) -> str:
    """A fixed answer per task: every third a tie, the others alternately agreeing and disagreeing with the judge."""
    judge = "a" if p_a > 0.5 else "b"
    if rank % 3 == 0:
        return "tie"
    return judge if rank % 2 else ("b" if judge == "a" else "a")


def fill_csv(source: Path, target: Path, answer=known_answer, skip=()) -> dict[str, str]:
    """Fill human_choice of review_tasks.csv as a labeler would; return pair id → answer."""
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    given = {}
    for row in rows:
        if row["pair_id"] not in skip:
            row["human_choice"] = answer(int(row["rank"]), float(row["p_a"]))
            given[row["pair_id"]] = row["human_choice"]
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return given


def hand_agreement(queue: list[dict], given: dict[str, str]) -> dict[str, float]:
    """Agreement by hand on the answered pairs: the judge's choice is the side its debiased P(A) favours."""
    judge, human = [], []
    for task in queue:
        if task["pair_id"] in given:
            p_a = task["p_a"]
            judge.append("a" if p_a > 0.5 else "b" if p_a < 0.5 else "tie")
            human.append(given[task["pair_id"]])
    judge_arr, human_arr = np.array(judge), np.array(human)
    decisive = (judge_arr != "tie") & (human_arr != "tie")
    return {"accuracy_without_ties": float((judge_arr == human_arr)[decisive].mean()), "n_decisive": int(decisive.sum()),
            "accuracy_with_ties": float((judge_arr == human_arr).mean()), "n": len(judge)}


def agreement_of(report_dir: Path) -> dict:
    return json.loads((report_dir / "report.json").read_text())["auditors"]["agreement"]["metrics"]


# ------------------------------------------------------------------------------------------------- the round trip


def test_csv_round_trip_agreement_equals_hand_computation(audited, tmp_path):
    queue = queue_of(audited)
    answers = tmp_path / "answers.csv"
    given = fill_csv(audited["report"] / "review_tasks.csv", answers)
    assert len(given) == len(queue) >= 30
    labels = tmp_path / "labels.jsonl"
    ok(["review", "import", answers, "--queue", audited["report"], "-o", labels])
    written = [json.loads(line) for line in labels.read_text().splitlines()]
    assert {row["pair_id"]: row["preferred"] for row in written} == given
    out = tmp_path / "re-audit"
    ok(["audit", audited["judgments"], "--data", audited["data"], "--human", labels, "-o", out,
        "--n-bootstrap", 50, "--auditors", "agreement"])
    metrics, hand = agreement_of(out), hand_agreement(queue, given)
    assert metrics["accuracy_without_ties"]["value"] == pytest.approx(hand["accuracy_without_ties"], abs=1e-12)
    assert metrics["accuracy_without_ties"]["n"] == hand["n_decisive"]
    assert metrics["accuracy_with_ties"]["value"] == pytest.approx(hand["accuracy_with_ties"], abs=1e-12)
    assert json.loads((out / "report.json").read_text())["data"]["n_labels"] == len(given)


def test_audit_reads_the_filled_csv_directly(audited, tmp_path):
    answers = tmp_path / "answers.csv"
    given = fill_csv(audited["report"] / "review_tasks.csv", answers)
    out = tmp_path / "direct"
    ok(["audit", audited["judgments"], "--data", audited["data"], "--human", answers, "-o", out,
        "--n-bootstrap", 50, "--auditors", "agreement"])
    hand = hand_agreement(queue_of(audited), given)
    assert agreement_of(out)["accuracy_without_ties"]["value"] == pytest.approx(hand["accuracy_without_ties"])


def test_human_corrected_auditor_and_export_use_the_answers(audited, tmp_path):
    answers = tmp_path / "answers.csv"
    given = fill_csv(audited["report"] / "review_tasks.csv", answers)
    labels = tmp_path / "labels.jsonl"
    ok(["review", "import", answers, "--queue", audited["report"], "-o", labels])
    out = tmp_path / "ppi"
    ok(["audit", audited["judgments"], "--data", audited["data"], "--human", labels, "-o", out,
        "--n-bootstrap", 50, "--auditors", "human-corrected"])
    outcome = json.loads((out / "report.json").read_text())["auditors"]["human-corrected"]
    assert outcome["status"] == "ok", outcome
    rows = outcome["tables"]["estimates"]
    assert {row["n_labelled"] for row in rows if row["method"] != "ai-only"} == {len(given)}
    assert {row["n_ai_only"] for row in rows if row["method"] in ("ppi++", "ppi")} == {160 - len(given)}
    assert any("two-sample KS p" in note for note in outcome["notes"])  # the queue is no random sample: said so
    dataset = tmp_path / "dataset"
    ok(["export", audited["judgments"], "--data", audited["data"], "--human", labels, "-o", dataset])
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["counts"]["human_labeled"] == sum(answer != "tie" for answer in given.values())


def test_jsonl_tasks_round_trip_and_csv_columns_are_stable(audited, tmp_path):
    from rlaif_audit.commands.review import CSV_COLUMNS

    with (audited["report"] / "review_tasks.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        assert next(reader) == list(CSV_COLUMNS)
    queue = queue_of(audited)
    tasks = [json.loads(line) for line in (audited["report"] / "review_tasks.jsonl").read_text().splitlines()]
    assert [t["pair_id"] for t in tasks] == [q["pair_id"] for q in queue]
    assert all(t["response_a"] == q["a"] and t["response_b"] == q["b"] and t["human_choice"] == ""
               for t, q in zip(tasks, queue))
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({**t, "human_choice": ANSWERS[i % 3].upper(), "annotator": "ann1"}) + "\n"
                               for i, t in enumerate(tasks)))
    labels = tmp_path / "labels.jsonl"
    ok(["review", "import", answers, "--queue", audited["report"] / "review_queue.jsonl", "-o", labels])
    written = [json.loads(line) for line in labels.read_text().splitlines()]
    assert [(r["pair_id"], r["preferred"], r["annotator"]) for r in written] == \
        [(t["pair_id"], ANSWERS[i % 3], "ann1") for i, t in enumerate(tasks)]


# --------------------------------------------------------------------------------------------------- Label Studio


def test_label_studio_tasks_match_their_config(audited):
    tasks = json.loads((audited["report"] / "label_studio_tasks.json").read_text())
    config = ET.fromstring((audited["report"] / "label_studio_config.xml").read_text())
    assert config.tag == "View"
    variables = {node.get("value")[1:] for node in config.iter("Text")}
    assert variables == {"prompt", "response_a", "response_b"}
    names = {node.get("name") for node in config.iter() if node.get("name")}
    choices = next(config.iter("Choices"))
    assert choices.get("toName") in names
    assert [c.get("value") for c in choices.iter("Choice")] == ["A", "B", "Tie"]
    assert len(tasks) == len(queue_of(audited))
    assert all(set(task) == {"data"} and variables <= set(task["data"]) for task in tasks)  # LS checks $variables


def label_studio_export(tasks: list[dict], answers: dict[str, list[tuple[object, str, bool]]], key="annotations"):
    """Tasks as Label Studio exports them: ids added, annotations with a `choices` result per (who, choice)."""
    exported = []
    for number, task in enumerate(tasks, start=1):
        notes = [{"id": 100 * number + k, "completed_by": who, "was_cancelled": cancelled, "lead_time": 3.5,
                  "result": [{"id": f"r{number}", "from_name": "human_choice", "to_name": "prompt", "type": "choices",
                              "origin": "manual", "value": {"choices": [choice]}}]}
                 for k, (who, choice, cancelled) in enumerate(answers.get(task["data"]["pair_id"], []))]
        exported.append({"id": number, "data": task["data"], key: notes, "predictions": [], "project": 1})
    return exported


def test_label_studio_export_imports_every_submitted_annotation(audited, tmp_path):
    tasks = json.loads((audited["report"] / "label_studio_tasks.json").read_text())
    ids = [task["data"]["pair_id"] for task in tasks]
    answers = {ids[0]: [(1, "A", False), ({"id": 2, "email": "b@x.org"}, "Tie", False)],
               ids[1]: [(1, "B", False), (3, "A", True)],  # the cancelled one does not count
               ids[2]: [(1, "B", False)]}
    export = tmp_path / "project-1-at-2026.json"
    export.write_text(json.dumps(label_studio_export(tasks, answers), indent=2))
    labels = tmp_path / "labels.jsonl"
    ok(["review", "import", export, "--queue", audited["report"], "-o", labels, "--skip-unanswered"])
    written = [(r["pair_id"], r["preferred"], r["annotator"]) for r in map(json.loads, labels.read_text().splitlines())]
    assert written == [(ids[0], "a", "label-studio:1"), (ids[0], "tie", "label-studio:b@x.org"),
                       (ids[1], "b", "label-studio:1"), (ids[2], "b", "label-studio:1")]
    answered = tmp_path / "answered.json"  # `audit --human` reads an export too
    answered.write_text(json.dumps(label_studio_export(tasks[:3], answers)))
    out = tmp_path / "r"
    ok(["audit", audited["judgments"], "--data", audited["data"], "--human", answered, "-o", out,
        "--n-bootstrap", 20, "--auditors", "agreement"])
    about = json.loads((out / "report.json").read_text())["data"]
    assert (about["n_labels"], about["n_annotators"]) == (4, 2)
    old = tmp_path / "old.json"  # Label Studio before 1.0 called them completions
    old.write_text(json.dumps(label_studio_export(tasks[:1], {ids[0]: [(5, "B", False)]}, key="completions")))
    ok(["review", "import", old, "--queue", audited["report"], "-o", tmp_path / "old.jsonl"])
    assert json.loads((tmp_path / "old.jsonl").read_text())["preferred"] == "b"


def test_label_studio_unanswered_task_is_an_error_with_its_line(audited, tmp_path):
    tasks = json.loads((audited["report"] / "label_studio_tasks.json").read_text())[:2]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(label_studio_export(tasks, {tasks[0]["data"]["pair_id"]: [(1, "A", False)]}),
                                 indent=2))
    result = run_cli(["review", "import", export, "--queue", audited["report"], "-o", tmp_path / "l.jsonl"])
    second_task_line = _second_object_line(export)
    assert result.exit_code == 2
    assert f"{export}:{second_task_line}: field 'human_choice': no answer" in result.output
    assert not (tmp_path / "l.jsonl").exists()


@pytest.mark.parametrize("value, message", [
    ({"choices": ["A", "B"]}, "exactly one choice"), ({"choices": [["A"]]}, "exactly one choice"),
    ("A", "exactly one choice"), ({"choices": ["C"]}, "unknown value 'C'; valid values: a, b, tie"),
    ("renamed control", "no result of the control 'human_choice' (the annotation has ['sentiment'])"),
])
def test_label_studio_bad_result_is_exit_2_naming_the_task_line(audited, tmp_path, value, message):
    tasks = json.loads((audited["report"] / "label_studio_tasks.json").read_text())[:2]
    exported = label_studio_export(tasks, {t["data"]["pair_id"]: [(1, "A", False)] for t in tasks})
    if value == "renamed control":
        exported[1]["annotations"][0]["result"][0]["from_name"] = "sentiment"
    else:
        exported[1]["annotations"][0]["result"][0]["value"] = value
    export = tmp_path / "export.json"
    export.write_text(json.dumps(exported, indent=2))
    result = run_cli(["review", "import", export, "--queue", audited["report"], "-o", tmp_path / "l.jsonl"])
    assert result.exit_code == 2, result.output
    assert f"{export}:{_second_object_line(export)}: field 'human_choice':" in result.output
    assert message in result.output and not (tmp_path / "l.jsonl").exists()


def _second_object_line(path: Path) -> int:
    """The line where the second top-level object of a JSON array file (indent=2) starts."""
    starts = [i for i, line in enumerate(path.read_text().splitlines(), start=1) if line.startswith("  {")]
    return starts[1]


# ------------------------------------------------------------------------------------------------------ bad answers


@pytest.mark.parametrize("change, field, message", [
    (lambda row: {**row, "human_choice": "maybe"}, "human_choice", "unknown value 'maybe'; valid values: a, b, tie"),
    (lambda row: {**row, "pair_id": "not-queued"}, "pair_id", "pair id 'not-queued' is not in the review queue"),
    (lambda row: {**row, "human_choice": " "}, "human_choice", "no answer for pair"),
    (lambda row: {**row, "response_a": row["response_b"], "response_b": row["response_a"]}, "response_a",
     "differs from the queue's A for pair"),
])
def test_bad_answer_is_exit_2_naming_file_line_and_field(audited, tmp_path, change, field, message):
    answers = tmp_path / "answers.csv"
    fill_csv(audited["report"] / "review_tasks.csv", answers)
    with answers.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows[0] = change(rows[0])
    with answers.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "labels.jsonl"
    result = run_cli(["review", "import", answers, "--queue", audited["report"], "-o", out])
    assert result.exit_code == 2, result.output
    assert re.search(rf"{re.escape(str(answers))}:2: field '{field}': {re.escape(message)}", result.output)
    assert not out.exists()


def test_duplicate_answer_is_an_error_naming_both_lines(audited, tmp_path):
    tasks = (audited["report"] / "review_tasks.jsonl").read_text().splitlines()
    filled = [json.dumps({**json.loads(line), "human_choice": "a"}) for line in tasks]
    answers = tmp_path / "answers.jsonl"
    answers.write_text("\n".join([*filled, filled[1]]) + "\n")
    result = run_cli(["review", "import", answers, "--queue", audited["report"], "-o", tmp_path / "l.jsonl"])
    assert result.exit_code == 2
    pair_id = json.loads(tasks[1])["pair_id"]
    assert (f"{answers}:{len(tasks) + 1}: field 'annotator': annotator 'human' already labeled pair {pair_id!r} at "
            "line 2") in result.output


def test_skip_unanswered_keeps_the_answered_pairs(audited, tmp_path):
    queue = queue_of(audited)
    skipped = {queue[0]["pair_id"], queue[5]["pair_id"]}
    answers = tmp_path / "answers.csv"
    given = fill_csv(audited["report"] / "review_tasks.csv", answers, skip=skipped)
    labels = tmp_path / "labels.jsonl"
    result = ok(["review", "import", answers, "--queue", audited["report"], "-o", labels, "--skip-unanswered"])
    assert "2 unanswered pair(s) skipped" in result.output
    assert {json.loads(line)["pair_id"] for line in labels.read_text().splitlines()} == set(given)
    assert not set(given) & skipped


def test_export_refuses_an_unknown_format(audited):
    result = run_cli(["review", "export", audited["report"], "--formats", "jsonl,xlsx"])
    assert result.exit_code == 2 and "valid: jsonl, csv, label-studio" in result.output


def test_export_does_not_overwrite_filled_answers(audited, tmp_path):
    folder = tmp_path / "tasks"
    ok(["review", "export", audited["report"], "-o", folder, "--formats", "csv"])
    fresh = (folder / "review_tasks.csv").read_text()
    ok(["review", "export", audited["report"], "-o", folder, "--formats", "csv"])  # no answers yet: rewritten
    fill_csv(folder / "review_tasks.csv", folder / "review_tasks.csv")
    filled = (folder / "review_tasks.csv").read_text()
    result = run_cli(["review", "export", audited["report"], "-o", folder, "--formats", "csv"])
    assert result.exit_code == 2 and "already hold answers" in result.output
    assert (folder / "review_tasks.csv").read_text() == filled != fresh
    ok(["review", "export", audited["report"], "-o", folder, "--formats", "csv", "--force"])
    assert (folder / "review_tasks.csv").read_text() == fresh


def test_answers_saved_with_crlf_line_endings_still_match_the_queue(audited, tmp_path):
    answers = tmp_path / "answers.csv"
    given = fill_csv(audited["report"] / "review_tasks.csv", answers)
    text = answers.read_text(encoding="utf-8")
    assert "\n- a first point" in text  # multi-line responses: a spreadsheet saves them with CRLF
    answers.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    labels = tmp_path / "labels.jsonl"
    ok(["review", "import", answers, "--queue", audited["report"], "-o", labels])
    assert len(labels.read_text().splitlines()) == len(given)


def test_csv_cells_cannot_run_as_spreadsheet_formulas_and_still_import(tmp_path):
    from rlaif_audit.commands.review import export_files

    hostile = '=HYPERLINK("http://evil.example","click")'
    queue = [{"rank": 1, "pair_id": "p1", "context": [{"role": "user", "content": "@SUM(A1:A9)"}], "a": hostile,
              "b": "- a list item", "p_a": 0.5, "reason": "+ near 1/2"},
             {"rank": 2, "pair_id": "p2", "context": [], "a": "'=already quoted", "b": "plain", "p_a": 0.4,
              "reason": "r"}]
    report = tmp_path / "report"
    report.mkdir()
    (report / "review_queue.jsonl").write_text("".join(json.dumps(task) + "\n" for task in queue))
    ok(["review", "export", report, "--formats", "csv"])
    with (report / "review_tasks.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    cells = [rows[0][name] for name in ("prompt", "response_a", "response_b", "reason")]
    assert cells == ["'@SUM(A1:A9)", "'" + hostile, "'- a list item", "'+ near 1/2"]
    assert rows[1]["response_a"] == "'=already quoted"  # starts with no trigger: left as it is
    first = json.loads(export_files(queue, ["jsonl"])["review_tasks.jsonl"].splitlines()[0])
    assert first["response_a"] == hostile  # JSON needs no guard
    fill_csv(report / "review_tasks.csv", report / "answers.csv", answer=lambda rank, p_a: "a")
    ok(["review", "import", report / "answers.csv", "--queue", report, "-o", tmp_path / "labels.jsonl"])
    assert len((tmp_path / "labels.jsonl").read_text().splitlines()) == 2
