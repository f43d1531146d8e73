"""JSON and JSONL files: atomic writes (nothing is ever half-written), fsynced appends, line-numbered reads."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from rlaif_audit.errors import InputError


def current_umask() -> int:
    """The process's umask (read without changing it where /proc tells; else set and restored at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def user_mode(directory: bool = False) -> int:
    """The mode a plain ``open``/``mkdir`` would give: 0o666 (files) or 0o777 (folders) less the umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


def make_temp_dir(final: Path, suffix: str = ".tmp-") -> Path:
    """A temporary folder beside ``final`` (for an atomic rename into place) with the user's umask, not 0700."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}{suffix}", dir=final.parent))
    tmp.chmod(user_mode(directory=True))
    return tmp


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename; the file gets the user's umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, user_mode())  # mkstemp makes it 0600: reports are meant to be read by colleagues
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


def json_row(row: dict[str, Any]) -> str:
    """One JSONL line: the row as UTF-8 JSON (non-ASCII kept), newline-terminated."""
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_jsonl(path: Path | str, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows as JSONL atomically (one JSON object a line, UTF-8)."""
    atomic_write_text(path, "".join(json_row(row) for row in rows))


def append_jsonl(path: Path | str, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows as JSONL lines, flushed and fsynced (an append-only file that survives a kill)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(json_row(row) for row in rows))
        handle.flush()
        os.fsync(handle.fileno())


def jsonl_lines(path: Path | str) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a JSONL file with their 1-based numbers, streamed (split at newlines only)."""
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                yield number, text


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a JSONL file that rlaif-audit wrote; a bad line is an InputError naming the file and line."""
    return [json_line(str(path), number, text) for number, text in jsonl_lines(path)]


def read_json(path: Path | str) -> Any:
    """The JSON value of a whole file; an InputError naming the file, line and column if it is not JSON."""
    return _decoded(str(path), Path(path).read_text(encoding="utf-8"), None)


def json_line(path: str, line: int, text: str) -> Any:
    """The JSON value of one line of a JSONL file; an InputError naming the file, line and column if it is not JSON."""
    return _decoded(path, text, line)


def _decoded(path: str, text: str, line: int | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        raise InputError(path, f"not valid JSON ({exc.msg} at column {exc.colno})", line=where) from exc
