"""Importers are plugins: a third-party judgment format is detected from its first record and audited end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rlaif_audit import hookimpl
from rlaif_audit.data.importer import Imported, Importer, judgment_frame, text_field
from rlaif_audit.data.inputs import AuditInputs, detect_format, format_choices
from rlaif_audit.errors import InputError, PluginError
from rlaif_audit.host import importers
from rlaif_audit.records.fileio import first_record, read_records
from rlaif_audit.records.provenance import file_hash
from rlaif_audit.records.preference import verdict_from_p
from rlaif_audit.records.types import PreferencePair

EXTERNAL = Path(__file__).parent / "data" / "external"

# A small promptfoo-like results format: one graded comparison per line, the order shown recorded.
P_FIRST = {("q0", "a"): 0.9, ("q0", "b"): 0.3, ("q1", "a"): 0.2, ("q1", "b"): 0.6, ("q2", "a"): 0.7,
           ("q2", "b"): 0.4, ("q3", "a"): 0.55, ("q3", "b"): 0.35, ("q4", "a"): 0.1, ("q4", "b"): 0.8}
HUMAN = {"q0": "a", "q1": "b", "q2": "b", "q3": "a", "q4": "a"}


class GradedImporter(Importer):
    """Pairwise grades of a promptfoo-like tool: ``test_id``, ``response_a/b``, ``shown_first``, ``prob_first``."""

    name = "graded-test"
    description = "graded comparisons (test_id, response_a, response_b, shown_first, prob_first)"

    def detect(self, first_record: dict[str, Any]) -> bool:
        return {"test_id", "shown_first", "prob_first"} <= set(first_record)

    def read(self, path: str, data: str | None) -> Imported:
        pairs: dict[str, PreferencePair] = {}
        rows, lines = [], []
        for line, record in read_records(path):
            test_id = text_field(path, line, record, "test_id") or ""
            pairs.setdefault(test_id, PreferencePair(
                test_id, [{"role": "user", "content": text_field(path, line, record, "question") or ""}],
                text_field(path, line, record, "response_a") or "", text_field(path, line, record, "response_b") or ""))
            p_first = float(record["prob_first"])
            rows.append({"pair_id": test_id, "order": "ab" if record["shown_first"] == "a" else "ba",
                         "p_first": p_first, "verdict": verdict_from_p(p_first), "parse_status": "ok", "raw": None,
                         "latency_s": 0.0, "evaluator": record["grader"]})
            lines.append(line)
        return Imported(list(pairs.values()), judgment_frame(rows, self.name), [], [], lines, "grader")


class GradedPlugin:
    @hookimpl
    def register_importers(self, register: Any) -> None:
        register(GradedImporter)


def graded_records(grader: str = "judge-9b") -> list[dict[str, Any]]:
    return [{"test_id": test_id, "question": f"Question {test_id}?", "response_a": f"answer A to {test_id}",
             "response_b": f"a longer answer B to {test_id}", "shown_first": shown, "prob_first": p_first,
             "grader": grader} for (test_id, shown), p_first in P_FIRST.items()]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


@pytest.fixture
def graded(tmp_path: Path) -> dict[str, Path]:
    human = write_jsonl(tmp_path / "human.jsonl", [{"pair_id": pid, "preferred": pref, "annotator": "ann"}
                                                   for pid, pref in HUMAN.items()])
    return {"judgments": write_jsonl(tmp_path / "graded.jsonl", graded_records()), "human": human}


def expected_accuracy() -> float:
    """Agreement without ties, counted by hand: the judge's choice is the order-averaged P(A) against ½."""
    hits = 0
    for test_id, preferred in HUMAN.items():
        p_a = 0.5 * (P_FIRST[(test_id, "a")] + 1.0 - P_FIRST[(test_id, "b")])
        hits += ("a" if p_a > 0.5 else "b") == preferred
    return hits / len(HUMAN)


# --------------------------------------------------------------------------------------------------- the hook


def test_hook_register_importers(pm, graded) -> None:
    pm.register(GradedPlugin(), name="graded-plugin")
    registry = importers(pm)
    assert registry.get("graded-test") is GradedImporter and registry.items["graded-test"].plugin == "graded-plugin"
    assert {"alpaca_eval", "fastchat"} <= set(registry.names())  # built-ins use the same hook
    assert "graded-test" in format_choices(pm)
    assert detect_format(graded["judgments"], pm) == "graded-test"
    inputs = AuditInputs.from_file(str(graded["judgments"]), pm=pm).with_human(str(graded["human"]), pm)
    assert (inputs.format, len(inputs.pairs), len(inputs.judgments), len(inputs.labels)) == ("graded-test", 5, 10, 5)
    assert inputs.judgments_hash == file_hash(graded["judgments"]) == inputs.data_hash
    assert inputs.warnings == []  # both orders of every pair


def test_a_plugin_importer_is_audited_by_the_cli_without_host_changes(pm, graded, tmp_path, monkeypatch) -> None:
    import rlaif_audit.host as host
    from rlaif_audit.cli import build_cli

    pm.register(GradedPlugin(), name="graded-plugin")
    monkeypatch.setattr(host, "get_plugin_manager", lambda load_entry_points=True: pm)
    out = tmp_path / "report"
    result = CliRunner().invoke(build_cli(), ["audit", str(graded["judgments"]), "--human", str(graded["human"]),
                                              "-o", str(out), "--n-bootstrap", "50", "--report-formats", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["data"]["format"] == "graded-test" and report["config"]["format"] == "graded-test"
    assert (report["data"]["n_pairs"], report["data"]["n_judgments"], report["data"]["n_labels"]) == (5, 10, 5)
    assert report["evaluator"]["name"] == "judge-9b"
    assert report["judgments"]["hash"] == file_hash(graded["judgments"])
    accuracy = report["auditors"]["agreement"]["metrics"]["accuracy_without_ties"]["value"]
    assert accuracy == pytest.approx(expected_accuracy())
    assert report["auditors"]["position"]["status"] == "ok"


def test_importer_output_is_validated_by_the_host(pm, tmp_path) -> None:
    pm.register(GradedPlugin(), name="graded-plugin")
    records = graded_records()
    records[3]["grader"] = "another-judge"
    path = write_jsonl(tmp_path / "mixed.jsonl", records)
    with pytest.raises(InputError) as info:
        AuditInputs.from_file(str(path), pm=pm)
    assert (info.value.line, info.value.field) == (4, "grader")  # the importer's line and field
    assert "2 different evaluators: 'judge-9b', 'another-judge'" in str(info.value)
    records = graded_records()
    records[2]["prob_first"] = 1.7
    with pytest.raises(InputError, match=r"mixed.jsonl:3: field 'p_first': p_first must be in \[0, 1\], got 1.7"):
        AuditInputs.from_file(str(write_jsonl(path, records)), pm=pm)


def test_duplicate_importer_name_is_an_error_naming_both_plugins(pm) -> None:
    class Impostor(GradedImporter):
        name = "fastchat"

    class ImpostorPlugin:
        @hookimpl
        def register_importers(self, register: Any) -> None:
            register(Impostor)

    pm.register(ImpostorPlugin(), name="impostor-plugin")
    with pytest.raises(PluginError) as info:
        importers(pm)
    message = str(info.value)
    assert "Importer 'fastchat' is registered by two plugins" in message and "impostor-plugin" in message
    assert "rlaif_audit.default_plugins.importers.fastchat" in message


def test_an_importer_may_not_take_the_native_format_name(pm) -> None:
    class Native(GradedImporter):
        name = "rlaif"

    class NativePlugin:
        @hookimpl
        def register_importers(self, register: Any) -> None:
            register(Native)

    pm.register(NativePlugin(), name="native-plugin")
    with pytest.raises(PluginError, match="'native-plugin' registered an importer named 'rlaif'"):
        format_choices(pm)


def test_unknown_format_lists_every_registered_one(tmp_path) -> None:
    from rlaif_audit.cli import build_cli

    path = write_jsonl(tmp_path / "odd.jsonl", [{"question": 1}])
    result = CliRunner().invoke(build_cli(), ["audit", str(path), "--format", "inspect", "-o", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "'inspect' is not one of 'auto', 'rlaif', 'alpaca_eval', 'fastchat'" in result.output
    with pytest.raises(InputError, match="expected rlaif-audit judgments .*; AlpacaEval annotations .*; FastChat"):
        detect_format(path)


# ------------------------------------------------------------------------------------- first-record detection


def test_detection_reads_only_the_first_record(tmp_path) -> None:
    """A file broken after its first record is still detected; reading it all then names the broken line."""
    alpaca = json.loads(Path(EXTERNAL / "alpaca_eval_annotations.json").read_text(encoding="utf-8"))
    broken_array = tmp_path / "annotations.json"
    broken_array.write_text("[\n" + json.dumps(alpaca[0], indent=2) + ",\n  {not json\n", encoding="utf-8")
    assert first_record(broken_array) == (2, alpaca[0])
    assert detect_format(broken_array) == "alpaca_eval"
    with pytest.raises(InputError, match="annotations.json:"):
        read_records(broken_array)
    lines = (EXTERNAL / "mt_bench" / "model_judgment" / "gpt-4_pair.jsonl").read_text().splitlines()
    broken_jsonl = tmp_path / "x_pair.jsonl"
    broken_jsonl.write_text("\n\n" + lines[0] + "\n{cut", encoding="utf-8")
    assert first_record(broken_jsonl)[0] == 3 and detect_format(broken_jsonl) == "fastchat"


def test_first_record_of_large_json_array_spans_chunks(tmp_path) -> None:
    from rlaif_audit.records import fileio

    record = {"output_1": "x" * (3 * fileio.CHUNK_CHARS), "output_2": "y", "preference": 2}
    path = tmp_path / "big.json"
    path.write_text(json.dumps([record, record]), encoding="utf-8")
    assert first_record(path) == (1, record)


@pytest.mark.parametrize("text, message", [("", "is empty"), ("[ ]", "holds no records"), ("[3]", "JSON object"),
                                           ('[{"a": 1', "not closed|not valid JSON")])
def test_first_record_errors(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "f.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        first_record(path)
