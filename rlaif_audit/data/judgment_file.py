"""The judgment file (rlaif-audit JSONL): reading with file:line errors, and a resumable append-only writer."""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from rlaif_audit.errors import InputError, RlaifAuditError
from rlaif_audit.records.fileio import append_jsonl, json_line, jsonl_lines
from rlaif_audit.records.preference import verdict_from_p
from rlaif_audit.records.types import Judgment

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.records.provenance import LabelProvenance

JUDGMENT_FIELDS = [f.name for f in fields(Judgment)]
REQUIRED_FIELDS = ("pair_id", "order", "p_first")
PARSE_STATUSES = ("ok", "failed")
PROVENANCE_TYPES = {"ab_seed": int, "ab_hash": str, "data_hash": str}
"""The provenance fields of a judgment line and their JSON type (each may be null or absent: an older file)."""
TEXT_FIELDS = ("order", "verdict", "parse_status", "raw", "evaluator", "evaluator_id")
"""The fields of a judgment line that are a string or null (their values are checked in data/validation.py)."""
SEED_RANGE = (-(2**63), 2**63 - 1)


def _p_first(path: str, line: int, value: Any, status: str) -> float | None:
    """A JSON number or null; "null exactly when parse_status is failed" is the JSONL file's rule (the range is
    checked with the other values in :mod:`rlaif_audit.data.validation`)."""
    if value is None:
        if status == "ok":
            raise InputError(path, "is null but parse_status is 'ok'", line=line, field="p_first")
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (isinstance(value, int) and abs(value) > 2**53)
            or math.isnan(value)):
        raise InputError(path, f"must be a number in [0, 1] or null, got {_shown(value)}", line=line, field="p_first")
    return float(value)


def _shown(value: Any) -> str:
    """A value for a message, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite_number(value: Any) -> bool:
    """A JSON number that is finite as a float (an integer of up to 300 digits, a float neither NaN nor infinite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) <= 10**300 if isinstance(value, int) else math.isfinite(value)


def _check_types(path: str, line: int, record: dict[str, Any]) -> None:
    """The JSON type of each judgment field: text fields strings or null, latency a finite number or null."""
    for name in TEXT_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise InputError(path, f"must be a string or null, got {_shown(value)}", line=line, field=name)
    latency = record.get("latency_s")
    if latency is not None and not _finite_number(latency):
        raise InputError(path, f"must be a finite number of seconds or null, got {_shown(latency)}", line=line,
                         field="latency_s")


def parse_judgment_line(path: str, line: int, text: str) -> dict[str, Any]:
    """One judgment record from one JSONL line, with the fields every judgment has (values checked by the caller)."""
    record = json_line(path, line, text)
    if not isinstance(record, dict):
        raise InputError(path, "each line must be a JSON object", line=line)
    for name in REQUIRED_FIELDS:
        if name not in record:
            raise InputError(path, "is missing", line=line, field=name)
    pair_id = record["pair_id"]
    if isinstance(pair_id, bool) or not isinstance(pair_id, (str, int)) or pair_id == "":
        raise InputError(path, f"must be a non-empty string, got {_shown(pair_id)}", line=line, field="pair_id")
    record["pair_id"] = str(pair_id)
    _check_types(path, line, record)
    record.setdefault("parse_status", "ok" if record["p_first"] is not None else "failed")
    if record["parse_status"] not in PARSE_STATUSES:
        raise InputError(path, f"unknown value {record['parse_status']!r}; valid: {', '.join(PARSE_STATUSES)}",
                         line=line, field="parse_status")
    record["p_first"] = _p_first(path, line, record["p_first"], record["parse_status"])
    if "verdict" not in record:
        record["verdict"] = verdict_from_p(record["p_first"])
    _check_provenance(path, line, record)
    for name in JUDGMENT_FIELDS:
        record.setdefault(name, None if name != "latency_s" else 0.0)
    if record["latency_s"] is None:
        record["latency_s"] = 0.0
    return record


def _check_provenance(path: str, line: int, record: dict[str, Any]) -> None:
    for name, kind in PROVENANCE_TYPES.items():
        value = record.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)
                                  or (kind is int and not SEED_RANGE[0] <= value <= SEED_RANGE[1])):
            wanted = "a 64-bit integer" if kind is int else "a string"
            raise InputError(path, f"must be {wanted} or null, got {_shown(value)}", line=line, field=name)


def iter_judgment_records(path: Path | str, end: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) of each judgment of a file (up to byte ``end``); a line that is not a judgment is an error
    naming line and field."""
    for line_no, text in jsonl_lines(path, end):
        yield line_no, parse_judgment_line(str(path), line_no, text)


def parse_judgments(path: Path | str, end: int | None = None) -> tuple[pd.DataFrame, list[int]]:
    """The judgments of a rlaif-audit JSONL file (up to byte ``end``) as a DataFrame, and the line of each row (not
    yet validated)."""
    import pandas as pd

    if not Path(path).is_file():
        raise InputError(str(path), "file not found")
    parsed = list(iter_judgment_records(path, end))
    frame = pd.DataFrame.from_records([record for _, record in parsed])
    if parsed:
        frame = frame[JUDGMENT_FIELDS + [c for c in frame.columns if c not in JUDGMENT_FIELDS]]
    return frame, [line for line, _ in parsed]


def read_judgments(path: Path | str) -> pd.DataFrame:
    """All judgments of a rlaif-audit JSONL file as a validated DataFrame (one row per judgment)."""
    from rlaif_audit.data.validation import check_judgments

    frame, lines = parse_judgments(path)
    check_judgments(frame, str(path), lines)
    return frame


def count_judgments(path: Path | str) -> int:
    """The judgments a partial judgment file already holds: its whole lines (a torn last line, cut off when the
    file is resumed, is not counted)."""
    complete = Path(path).read_bytes().rfind(b"\n") + 1
    return sum(1 for _ in jsonl_lines(path, complete)) if complete else 0


class JudgmentFile:
    """An append-only judgment file that resumes after Ctrl-C or kill -9 and never writes a judgment twice.

    A torn last line (the process died mid-write) is cut off on open, once the rest of the file has been read and
    found valid (a file refused is left as it was). Judgments
    of another evaluator identity already in the file are an error, never mixed; so are judgments of another A/B
    seed or of other A/B texts for the same pair id, when ``provenance`` (written on every new line) is given.
    """

    def __init__(self, path: Path | str, evaluator_name: str, evaluator_id: str,
                 provenance: LabelProvenance | None = None) -> None:
        self.path = Path(path)
        self.evaluator_name = evaluator_name
        self.evaluator_id = evaluator_id
        self.provenance = provenance
        self.done: set[tuple[str, str]] = set()
        self.parse_failures = 0
        self.invalid = 0
        if self.path.exists():
            complete = self._complete_bytes()
            self._load_existing(complete)
            self._cut_torn_tail(complete)

    def _complete_bytes(self) -> int:
        """The length of the file up to its last newline (what a kill mid-write leaves whole)."""
        if not self.path.is_file():
            raise InputError(str(self.path), "is not a file")
        blob = self.path.read_bytes()
        return blob.rfind(b"\n") + 1

    def _cut_torn_tail(self, complete: int) -> None:
        if self.path.stat().st_size > complete:
            with open(self.path, "rb+") as handle:
                handle.truncate(complete)

    def _load_existing(self, complete: int) -> None:
        from rlaif_audit.data.validation import check_judgments

        frame, lines = parse_judgments(self.path, complete)
        if len(frame):
            check_judgments(frame, str(self.path), lines)
            if self.provenance is not None:
                self._check_same_provenance(frame, lines)
        for pair_id, order, status, name, identity in zip(frame.get("pair_id", []), frame.get("order", []),
                                                          frame.get("parse_status", []), frame.get("evaluator", []),
                                                          frame.get("evaluator_id", [])):
            if identity != self.evaluator_id:
                raise InputError(
                    str(self.path),
                    f"already holds judgments of evaluator {name!r} with identity "
                    f"{identity!r}, but this evaluator's identity is {self.evaluator_id!r}; "
                    "write to another file, or delete this one to start over",
                    field="evaluator_id",
                )
            self.done.add((pair_id, order))
            self.parse_failures += status == "failed"

    def _check_same_provenance(self, frame: pd.DataFrame, lines: list[int]) -> None:
        """Resuming appends to judgments of the same A/B seed and the same A/B texts, never to other ones."""
        from rlaif_audit.data.validation import check_ab_hashes, recorded_ab_seed

        if self.provenance is None:
            return
        path, seed = str(self.path), self.provenance.ab_seed
        old_seed = recorded_ab_seed(frame, path, lines)
        if old_seed is not None and seed is not None and old_seed != seed:
            raise InputError(path, f"already holds judgments labeled with A/B seed {old_seed}, but this run's A/B seed "
                             f"is {seed}; label with --ab-seed {old_seed}, or write to another file",
                             line=lines[int(frame["ab_seed"].notna().to_numpy().argmax())], field="ab_seed")
        check_ab_hashes(frame, self.provenance.ab_hashes, path, lines, recorded_seed=old_seed, given_seed=seed,
                        data="this run's DATA")

    def append(self, judgments: Iterable[Judgment]) -> int:
        """Append judgments not yet in the file, flushed and fsynced; return how many were written.

        Each one is checked first by the reader's own rules (:func:`checked_rows`): one that the reader would refuse
        is written as a failed judgment with the reason, so the file never holds a line that stops a resume.
        """
        fresh = []
        for judgment in judgments:
            key = (judgment.pair_id, judgment.order)
            if key in self.done:
                continue
            judgment.evaluator, judgment.evaluator_id = self.evaluator_name, self.evaluator_id
            if self.provenance is not None:
                judgment.ab_seed, judgment.data_hash = self.provenance.ab_seed, self.provenance.data_hash
                judgment.ab_hash = self.provenance.ab_hashes.get(judgment.pair_id)
            fresh.append(judgment)
            self.done.add(key)
        if not fresh:
            return 0
        rows, refused = checked_rows(str(self.path), fresh)
        self.parse_failures += sum(row["parse_status"] == "failed" for row in rows)
        self.invalid += refused
        append_jsonl(self.path, rows)
        return len(rows)


INVALID_KEY = "invalid_judgment"
"""The key of a failed judgment's ``raw`` record that holds why the evaluator's judgment was refused."""


def _plain_number(value: Any) -> Any:
    """A numpy or other real scalar as a Python float (its exact value); anything else unchanged."""
    import numbers

    if isinstance(value, numbers.Real) and not isinstance(value, (bool, int, float)):
        return float(value)
    return value


def _encoded(row: dict[str, Any]) -> str:
    """The JSONL line of a row in strict JSON (no NaN or Infinity); a TypeError/ValueError names what is not JSON."""
    import json

    return json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"


def _row_of(judgment: Judgment) -> dict[str, Any]:
    """A judgment's fields as a row, values as the evaluator set them (not deep-copied: any object is allowed here)."""
    return {name: getattr(judgment, name, None) for name in JUDGMENT_FIELDS}


def _refused_row(judgment: Judgment, reason: str) -> dict[str, Any]:
    """The failed judgment written in place of an invalid one: no probability, no verdict, the reason in ``raw``."""
    import json

    try:
        original = judgment.raw if isinstance(judgment.raw, str) else repr(judgment.raw)
    except Exception:  # noqa: BLE001 - a plugin's object whose repr raises
        original = "<unprintable>"
    latency = _plain_number(judgment.latency_s)
    return {**_row_of(judgment), "p_first": None, "verdict": None, "parse_status": "failed",
            "latency_s": latency if isinstance(latency, (int, float)) and math.isfinite(latency) else 0.0,
            "raw": json.dumps({INVALID_KEY: reason, "raw": original[:2000]}, ensure_ascii=False)}


def _line_problem(path: str, row: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The record the reader makes of this row's line (strict JSON, :func:`parse_judgment_line`), or why it cannot."""
    try:
        return parse_judgment_line(path, 1, _encoded(row)), None
    except InputError as exc:
        return None, _reason(exc)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        return None, f"{_unencodable_field(row)}: not JSON ({type(exc).__name__}: {exc})"


def _unencodable_field(row: dict[str, Any]) -> str:
    """The first field of a row that strict JSON cannot hold."""
    for name, value in row.items():
        try:
            _encoded({name: value})
        except (TypeError, ValueError, OverflowError, RecursionError):
            return name
    return "row"


def _reason(exc: InputError) -> str:
    return f"{exc.field + ': ' if exc.field else ''}{exc.message}"


def _table_problem(path: str, records: list[dict[str, Any]]) -> str | None:
    """Why ``check_judgments`` (the reader's value rules) refuses these records; None when it accepts them."""
    import pandas as pd

    from rlaif_audit.data.validation import check_judgments

    try:
        check_judgments(pd.DataFrame.from_records(records), path, list(range(1, len(records) + 1)))
    except InputError as exc:
        return _reason(exc)
    return None


def checked_rows(path: str, judgments: list[Judgment]) -> tuple[list[dict[str, Any]], int]:
    """The rows to write for these judgments and how many were refused: each judgment as is when the reader accepts
    it, else a failed judgment naming the reason (``raw`` = ``{"invalid_judgment": reason, "raw": its raw}``).

    The whole batch is checked at once (one ``check_judgments`` call); only a refused batch is checked row by row.
    """
    rows, problems, records = [], [], []
    for judgment in judgments:
        row = _row_of(judgment)
        row["p_first"], row["latency_s"] = _plain_number(row["p_first"]), _plain_number(row["latency_s"])
        record, problem = _line_problem(path, row)
        rows.append(row)
        problems.append(problem)
        records.append(record)
    readable = [index for index, problem in enumerate(problems) if problem is None]
    if readable and _table_problem(path, [records[index] for index in readable]) is not None:
        for index in readable:
            problems[index] = _table_problem(path, [records[index]])
    refused = [index for index, problem in enumerate(problems) if problem is not None]
    for index in refused:
        rows[index] = _refused_row(judgments[index], str(problems[index]))
    return rows, len(refused)


# ------------------------------------------------------------------------------------- one writer per file

LOCK_SUFFIX = ".lock"
"""The sidecar lock file beside a judgment file while a process writes it (``<file>.lock``, removed at the end)."""


class FileInUse(RlaifAuditError):
    """Another process is writing the same judgment file."""


@contextmanager
def writer_lock(judgments_path: Path | str) -> Iterator[Path]:
    """Hold an exclusive OS lock (``flock`` on ``<file>.lock``) for as long as one process writes a judgment file.

    A second writer fails at once with :class:`FileInUse` naming the holder's process id. The lock dies with its
    process (kill -9 included); the sidecar is removed on a clean exit, and a lock taken on a sidecar that another
    process removed meanwhile is taken again on the new one.
    """
    import fcntl
    import os

    lock_path = Path(str(judgments_path) + LOCK_SUFFIX)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(lock_path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise FileInUse(f"{judgments_path}: another process (pid {holder}) is writing this judgment file; "
                            f"wait for it to finish, or write to another file (lock: {lock_path})") from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()  # the holder removed it between our open and our lock: lock the new one
    try:
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield lock_path
    finally:
        lock_path.unlink(missing_ok=True)
        handle.close()


IDENTITY_SUFFIX = ".identity.json"
"""The sidecar beside a judgment file that records its evaluator's whole identity (``<file>.identity.json``)."""


def identity_path(judgments_path: Path | str) -> Path:
    """The identity sidecar of a judgment file."""
    return Path(str(judgments_path) + IDENTITY_SUFFIX)


def write_identity(judgments_path: Path | str, name: str, evaluator_id: str, identity: dict[str, Any]) -> Path:
    """Record the evaluator identity (weights, tokenizer, template, decoding, versions) behind a judgment file."""
    from rlaif_audit.records.fileio import atomic_write_json

    path = identity_path(judgments_path)
    atomic_write_json(path, {"evaluator": name, "evaluator_id": evaluator_id, "identity": identity})
    return path


def read_identity(judgments_path: Path | str, evaluator_id: str) -> dict[str, Any] | None:
    """The identity in a judgment file's sidecar when it belongs to ``evaluator_id``; None without one."""
    from rlaif_audit.records.fileio import read_json

    path = identity_path(judgments_path)
    if not path.exists():
        return None
    record = read_json(path)
    if not isinstance(record, dict) or record.get("evaluator_id") != evaluator_id:
        return None
    identity = record.get("identity")
    return identity if isinstance(identity, dict) else None
