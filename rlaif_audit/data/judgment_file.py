"""The judgment file: validated reading, and a resumable append-only JSONL writer."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from rlaif_audit.errors import InputError
from rlaif_audit.records.fileio import append_jsonl, json_line, jsonl_lines
from rlaif_audit.records.preference import verdict_from_p
from rlaif_audit.records.types import Judgment

if TYPE_CHECKING:
    import pandas as pd

JUDGMENT_FIELDS = [f.name for f in fields(Judgment)]
REQUIRED_FIELDS = ("pair_id", "order", "p_first")
ORDERS = ("ab", "ba")
VERDICTS = ("first", "second", "tie", None)
PARSE_STATUSES = ("ok", "failed")


def _check_p_first(path: str, line: int, value: Any, status: str) -> float | None:
    if value is None:
        if status == "ok":
            raise InputError(path, "is null but parse_status is 'ok'", line=line, field="p_first")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(path, f"must be a number in [0, 1] or null, got {value!r}", line=line, field="p_first")
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InputError(path, f"must be in [0, 1], got {value!r}", line=line, field="p_first")
    return float(value)


def _check_choice(path: str, line: int, record: dict[str, Any], name: str, valid: tuple[Any, ...]) -> None:
    if record.get(name) not in valid:
        choices = ", ".join(str(v) if v is not None else "null" for v in valid)
        raise InputError(path, f"unknown value {record.get(name)!r}; valid: {choices}", line=line, field=name)


def parse_judgment_line(path: str, line: int, text: str) -> dict[str, Any]:
    """One validated judgment record from one JSONL line."""
    record = json_line(path, line, text)
    if not isinstance(record, dict):
        raise InputError(path, "each line must be a JSON object", line=line)
    for name in REQUIRED_FIELDS:
        if name not in record:
            raise InputError(path, "is missing", line=line, field=name)
    if not isinstance(record["pair_id"], (str, int)) or record["pair_id"] == "":
        raise InputError(path, f"must be a non-empty string, got {record['pair_id']!r}", line=line, field="pair_id")
    record["pair_id"] = str(record["pair_id"])
    record.setdefault("parse_status", "ok" if record["p_first"] is not None else "failed")
    _check_choice(path, line, record, "order", ORDERS)
    _check_choice(path, line, record, "parse_status", PARSE_STATUSES)
    record["p_first"] = _check_p_first(path, line, record["p_first"], record["parse_status"])
    if "verdict" not in record:
        record["verdict"] = verdict_from_p(record["p_first"])
    _check_choice(path, line, record, "verdict", VERDICTS)
    for name in JUDGMENT_FIELDS:
        record.setdefault(name, None if name != "latency_s" else 0.0)
    return record


def iter_judgment_records(path: Path | str) -> Iterable[dict[str, Any]]:
    """Validated judgment records of a file; an error names the line and field."""
    path_str = str(path)
    seen: dict[tuple[str, str, str], int] = {}
    for line_no, text in jsonl_lines(path):
        record = parse_judgment_line(path_str, line_no, text)
        key = (record["pair_id"], record["order"], record.get("evaluator_id") or "")
        if key in seen:
            raise InputError(
                path_str,
                f"duplicate judgment of pair {key[0]!r} in order {key[1]!r} (first on line {seen[key]})",
                line=line_no,
                field="pair_id",
            )
        seen[key] = line_no
        yield record


def read_judgments(path: Path | str) -> pd.DataFrame:
    """All judgments of a rlaif-audit JSONL file as a DataFrame (one row per judgment)."""
    import pandas as pd

    if not Path(path).exists():
        raise InputError(str(path), "file not found")
    records = list(iter_judgment_records(path))
    if not records:
        raise InputError(str(path), "holds no judgments (the file is empty)")
    frame = pd.DataFrame.from_records(records)
    return frame[JUDGMENT_FIELDS + [c for c in frame.columns if c not in JUDGMENT_FIELDS]]


class JudgmentFile:
    """An append-only judgment file that resumes after Ctrl-C or kill -9 and never writes a judgment twice.

    A torn last line (the process died mid-write) is cut off on open. Judgments
    of another evaluator identity already in the file are an error, never mixed.
    """

    def __init__(self, path: Path | str, evaluator_name: str, evaluator_id: str) -> None:
        self.path = Path(path)
        self.evaluator_name = evaluator_name
        self.evaluator_id = evaluator_id
        self.done: set[tuple[str, str]] = set()
        self.parse_failures = 0
        if self.path.exists():
            self._repair_torn_tail()
            self._load_existing()

    def _repair_torn_tail(self) -> None:
        with open(self.path, "rb+") as handle:
            blob = handle.read()
            if blob and not blob.endswith(b"\n"):
                handle.truncate(blob.rfind(b"\n") + 1)

    def _load_existing(self) -> None:
        for record in iter_judgment_records(self.path):
            if record.get("evaluator_id") != self.evaluator_id:
                raise InputError(
                    str(self.path),
                    f"already holds judgments of evaluator {record.get('evaluator')!r} with identity "
                    f"{record.get('evaluator_id')!r}, but this evaluator's identity is {self.evaluator_id!r}; "
                    "write to another file, or delete this one to start over",
                    field="evaluator_id",
                )
            self.done.add((record["pair_id"], record["order"]))
            self.parse_failures += record["parse_status"] == "failed"

    def append(self, judgments: Iterable[Judgment]) -> int:
        """Append judgments not yet in the file, flushed and fsynced; return how many were written."""
        rows = []
        for judgment in judgments:
            key = (judgment.pair_id, judgment.order)
            if key in self.done:
                continue
            judgment.evaluator, judgment.evaluator_id = self.evaluator_name, self.evaluator_id
            rows.append(judgment.to_dict())
            self.done.add(key)
            self.parse_failures += judgment.parse_status == "failed"
        append_jsonl(self.path, rows)
        return len(rows)
