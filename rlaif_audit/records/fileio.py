"""JSON and JSONL files: atomic writes (nothing is ever half-written), fsynced appends, line-numbered reads, and
the records of other tools' JSON-array or JSONL files (all of them, or only the first)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

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
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path | str, blob: bytes) -> None:
    """Write ``blob`` to ``path`` through a temporary file, fsync and an atomic rename, with the user's umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, user_mode())  # mkstemp makes it 0600: reports are meant to be read by colleagues
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def inside(folder: Path | str, relative: str) -> Path:
    """``folder/relative`` when ``relative`` is a plain relative path that stays inside ``folder``; else a PluginError.

    Names from plugins and data (report file names, figure names) go through here before they touch the disk: no
    absolute path, no ``..``, no drive, no empty or hidden part, no backslash or NUL.
    """
    from pathlib import PurePosixPath

    from rlaif_audit.errors import PluginError

    parts = PurePosixPath(relative).parts if isinstance(relative, str) else ()
    bad = (not parts or relative.startswith("/") or any(p in ("..", ".") or p.startswith(".") for p in parts)
           or any(c in relative for c in "\\\0:") or len(parts) > 2)
    if bad:
        raise PluginError(f"refused to write {relative!r}: a report file name must be a plain name (or one "
                          "sub-folder and a name) inside the report folder")
    return Path(folder).joinpath(*parts)


def write_inside(folder: Path | str, relative: str, content: str | bytes) -> Path:
    """Write ``content`` atomically to ``folder/relative``, refusing any name that would leave ``folder``."""
    from rlaif_audit.errors import PluginError

    path = inside(folder, relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.parent.resolve().is_relative_to(Path(folder).resolve()):
        raise PluginError(f"refused to write {relative!r}: {path.parent} is a symbolic link out of the report folder")
    atomic_write_bytes(path, content.encode("utf-8") if isinstance(content, str) else content)
    return path


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
