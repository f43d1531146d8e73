"""File helpers: atomic writes (nothing is ever half-written), JSONL lines, and the records of JSON / JSONL files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO

from rlaif_audit.errors import InputError


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path | str, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_jsonl(path: Path | str, rows: Sequence[dict[str, Any]]) -> None:
    """Write rows as JSONL atomically (one JSON object a line, UTF-8)."""
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a JSONL file that rlaif-audit wrote; a bad line is an InputError naming the file and line."""
    text = Path(path).read_text(encoding="utf-8")
    return [json_line(str(path), number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def json_line(path: str, line: int, text: str) -> Any:
    """The JSON value of one line of a JSONL file; an InputError naming the file, line and column if it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg} at column {exc.colno})", line=line) from exc


# ------------------------------------------------------------------------------ JSON / JSONL records of other tools

CHUNK_CHARS = 1 << 16
"""How much more of a JSON-array file :func:`first_record` reads each time the first record is not complete yet."""


def _text_of(path: Path | str) -> str:
    if not Path(path).is_file():
        raise InputError(str(path), "file not found")
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _skip_space(text: str, idx: int) -> int:
    while idx < len(text) and text[idx] in " \t\r\n":
        idx += 1
    return idx


def _json_array(path: str, text: str) -> Iterator[tuple[int, Any]]:
    """(line number, element) of a JSON array, so errors can name the line where each record starts."""
    decoder = json.JSONDecoder()
    idx = text.index("[") + 1
    line = text.count("\n", 0, idx) + 1
    while True:
        nxt = _skip_space(text, idx)
        line += text.count("\n", idx, nxt)
        if nxt >= len(text):
            raise InputError(path, "the JSON array is not closed (truncated file?)", line=line)
        if text[nxt] == "]":
            return
        try:
            value, end = decoder.raw_decode(text, nxt)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from exc
        yield line, value
        line += text.count("\n", nxt, end)
        idx = _skip_space(text, end)
        line += text.count("\n", end, idx)
        if idx < len(text) and text[idx] == ",":
            idx += 1
        elif idx < len(text) and text[idx] != "]":
            raise InputError(path, f"expected ',' or ']' between records, got {text[idx]!r}", line=line)


def _json_lines(path: str, text: str) -> Iterator[tuple[int, Any]]:
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            yield line_no, json_line(path, line_no, raw)


def _object(path: str, line: int, record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise InputError(path, f"each record must be a JSON object, got {type(record).__name__}", line=line)
    return record


def read_records(path: Path | str) -> list[tuple[int, dict[str, Any]]]:
    """(line, object) records of a JSON array file or a JSONL file; each must be a JSON object."""
    text = _text_of(path)
    stripped = text.lstrip()
    if not stripped:
        raise InputError(str(path), "is empty")
    reader = _json_array if stripped.startswith("[") else _json_lines
    records = [(line, _object(str(path), line, record)) for line, record in reader(str(path), text)]
    if not records:
        raise InputError(str(path), "holds no records (empty JSON array)")
    return records


def first_record(path: Path | str) -> tuple[int, dict[str, Any]]:
    """The first (line, object) record of a JSON array or JSONL file, reading the file no further than that record."""
    if not Path(path).is_file():
        raise InputError(str(path), "file not found")
    try:
        with open(path, encoding="utf-8") as handle:
            return _first_of(str(path), handle)
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _first_of(path: str, handle: TextIO) -> tuple[int, dict[str, Any]]:
    read, line_no = "", 0
    for line_no, raw in enumerate(handle, start=1):
        read += raw
        if raw.strip():
            break
    if not read.strip():
        raise InputError(path, "is empty")
    if not read.lstrip().startswith("["):
        return line_no, _object(path, line_no, json_line(path, line_no, read.splitlines()[-1]))
    while True:
        more = handle.read(CHUNK_CHARS)
        try:
            line, record = next(_json_array(path, read + more), (0, None))
        except InputError:
            if not more:
                raise
            read += more
            continue
        if line == 0:
            raise InputError(path, "holds no records (empty JSON array)")
        return line, _object(path, line, record)
