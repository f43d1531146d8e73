"""The judgment file: validation with line and field, resume, torn lines, identity mixing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rlaif_audit.errors import InputError
from rlaif_audit.data.judgment_file import JudgmentFile, read_judgments
from rlaif_audit.judging.labeling import debiased_p_a, judge_items
from rlaif_audit.records.types import Judgment, PreferencePair


def judgment(pair_id: str, order: str, p_first: float | None = 0.7) -> Judgment:
    return Judgment(pair_id=pair_id, order=order, p_first=p_first, verdict="first" if p_first else None,
                    parse_status="ok" if p_first is not None else "failed")


def write_lines(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_append_never_writes_a_judgment_twice(tmp_path: Path) -> None:
    store = JudgmentFile(tmp_path / "j.jsonl", "e", "id1")
    assert store.append([judgment("p1", "ab"), judgment("p1", "ba")]) == 2
    again = JudgmentFile(tmp_path / "j.jsonl", "e", "id1")
    assert again.done == {("p1", "ab"), ("p1", "ba")}
    assert again.append([judgment("p1", "ab"), judgment("p2", "ab")]) == 1
    frame = read_judgments(tmp_path / "j.jsonl")
    assert sorted(zip(frame.pair_id, frame.order)) == [("p1", "ab"), ("p1", "ba"), ("p2", "ab")]
    assert set(frame.evaluator_id) == {"id1"}


def test_torn_last_line_is_cut_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    JudgmentFile(path, "e", "id1").append([judgment("p1", "ab")])
    with open(path, "a") as handle:
        handle.write('{"pair_id": "p1", "order": "ba", "p_fi')  # killed mid-write
    store = JudgmentFile(path, "e", "id1")
    assert store.done == {("p1", "ab")}
    store.append([judgment("p1", "ba")])
    assert len(read_judgments(path)) == 2


def test_other_evaluator_identity_is_never_mixed_in(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    JudgmentFile(path, "hf-judge", "aaaa").append([judgment("p1", "ab")])
    before = path.read_text()
    with pytest.raises(InputError, match="identity 'aaaa'.*'bbbb'"):
        JudgmentFile(path, "hf-judge", "bbbb")
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({"order": "ab", "p_first": 0.5}, "pair_id", "missing"),
        ({"pair_id": "p", "order": "xy", "p_first": 0.5}, "order", "unknown value 'xy'"),
        ({"pair_id": "p", "order": "ab", "p_first": 1.5}, "p_first", r"in \[0, 1\]"),
        ({"pair_id": "p", "order": "ab", "p_first": "high"}, "p_first", "must be a number"),
        ({"pair_id": "p", "order": "ab", "p_first": None, "parse_status": "ok"}, "p_first", "null"),
        ({"pair_id": "p", "order": "ab", "p_first": 0.2, "verdict": "A"}, "verdict", "unknown value"),
    ],
)
def test_bad_records_name_file_line_and_field(tmp_path: Path, record: dict, field: str, message: str) -> None:
    path = write_lines(tmp_path / "j.jsonl", [{"pair_id": "ok", "order": "ab", "p_first": 0.4}, record])
    with pytest.raises(InputError) as info:
        read_judgments(path)
    text = str(info.value)
    assert f"{path}:2:" in text and f"field '{field}'" in text
    assert __import__("re").search(message, text)


def test_nan_probability_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"pair_id": "p", "order": "ab", "p_first": NaN}\n')
    with pytest.raises(InputError, match=r"j.jsonl:1: field 'p_first'"):
        read_judgments(path)


def test_broken_json_line_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"pair_id": "p", "order": "ab", "p_first": 0.1}\n{not json\n')
    with pytest.raises(InputError, match=r"j.jsonl:2: not valid JSON"):
        read_judgments(path)
    path.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_judgments(path)


def test_duplicate_judgment_names_both_lines(tmp_path: Path) -> None:
    record = {"pair_id": "p", "order": "ab", "p_first": 0.3}
    path = write_lines(tmp_path / "j.jsonl", [record, record])
    with pytest.raises(InputError, match=r"j.jsonl:2: field 'pair_id': duplicate .* line 1"):
        read_judgments(path)


def test_judge_items_show_both_orders() -> None:
    pair = PreferencePair("p1", [{"role": "user", "content": "hi"}], "resp A", "resp B")
    ab, ba = judge_items([pair])
    assert (ab.order, ab.first, ab.second) == ("ab", "resp A", "resp B")
    assert (ba.order, ba.first, ba.second) == ("ba", "resp B", "resp A")


def test_debiased_preference_averages_the_two_orders(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "j.jsonl", [
        {"pair_id": "p1", "order": "ab", "p_first": 0.9},
        {"pair_id": "p1", "order": "ba", "p_first": 0.7},   # first slot favoured in both orders
        {"pair_id": "p2", "order": "ab", "p_first": 0.8},
        {"pair_id": "p3", "order": "ab", "p_first": 0.6},
        {"pair_id": "p3", "order": "ba", "p_first": None, "parse_status": "failed"},
    ])
    p_a = debiased_p_a(read_judgments(path))
    assert p_a["p1"] == pytest.approx(0.5 * (0.9 + 0.3))
    assert math.isnan(p_a["p2"]) and math.isnan(p_a["p3"])
