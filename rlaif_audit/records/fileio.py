"""JSON and JSONL files: atomic writes (nothing is ever half-written), fsynced appends, line-numbered reads, and
the records of other tools' JSON-array or JSONL files (all of them, or only the first)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

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


def jsonl_lines(path: Path | str, end: int | None = None) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a JSONL file with their 1-based numbers, streamed (split at newlines only), each
    decoded as UTF-8 (a BOM on the first is dropped); bytes that are not UTF-8 are an InputError naming the line and
    the byte offset. ``end``: read no further than that byte."""
    offset = 0
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise InputError(str(path), f"cannot read the file: {exc.strerror or exc}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if end is not None and offset >= end:
                return
            if end is not None and offset + len(raw) > end:
                raw = raw[: end - offset]
            text = utf8_text(str(path), raw, offset, number)
            offset += len(raw)
            if text.strip():
                yield number, text


def utf8_text(path: str, blob: bytes, offset: int = 0, line: int | None = None) -> str:
    """``blob`` decoded as UTF-8 (a leading BOM dropped at offset 0); else an InputError: "not UTF-8" and the byte
    offset in the file (``offset`` is where ``blob`` starts)."""
    try:
        return blob.decode("utf-8-sig" if offset == 0 else "utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 ({exc.reason} at byte {offset + exc.start} of the file)",
                         line=line) from None


def read_utf8(path: Path | str, what: str = "file") -> str:
    """A whole text file as UTF-8; an unreadable file or bytes that are not UTF-8 are an InputError."""
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read the {what}: {exc.strerror or exc}") from None
    return utf8_text(str(path), blob)


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a JSONL file that rlaif-audit wrote; a bad line is an InputError naming the file and line."""
    return [json_line(str(path), number, text) for number, text in jsonl_lines(path)]


def read_json(path: Path | str) -> Any:
    """The JSON value of a whole file; an InputError naming the file, line and column if it is not JSON."""
    return _decoded(str(path), read_utf8(path), None)


def json_line(path: str, line: int, text: str) -> Any:
    """The JSON value of one line of a JSONL file; an InputError naming the file, line and column if it is not JSON."""
    return _decoded(path, text, line)


MAX_JSON_DEPTH = 100
"""Deepest nesting of arrays and objects accepted in any JSON read (no record of any format comes near it; the
interpreter's recursion limit, hit at about 1,000 levels, would otherwise surface as a RecursionError)."""
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JSONProblem(ValueError):
    """A JSON text that cannot be read: the message, and where (1-based line and column) when known."""

    def __init__(self, message: str, lineno: int | None = None, colno: int | None = None) -> None:
        super().__init__(message)
        self.message, self.lineno, self.colno = message, lineno, colno

    def where(self) -> str:
        """The message with its column, when known."""
        return f"{self.message} at column {self.colno}" if self.colno is not None else self.message


def loads(text: str) -> Any:
    """``json.loads`` that is total: bad JSON, nesting deeper than :data:`MAX_JSON_DEPTH`, an integer of more
    digits than Python converts (4,300) and a lone surrogate escape (not Unicode: it cannot be written back) are a
    :class:`JSONProblem`; NaN and Infinity are read as Python reads them."""
    return raw_decode(text, 0, whole=True)[0]


_DECODER = json.JSONDecoder()


def raw_decode(text: str, start: int, whole: bool = False) -> tuple[Any, int]:
    """The JSON value starting at ``text[start]`` and where it ends (``whole``: the text must hold nothing else)."""
    try:
        if whole:
            value, end = json.loads(text), len(text)
        else:
            value, end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise JSONProblem(exc.msg, exc.lineno, exc.colno) from None
    except RecursionError:
        raise JSONProblem(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # Python refuses to convert an integer of more than 4,300 digits
        raise JSONProblem(f"a number has too many digits ({str(exc).split(':')[0].strip()})") from None
    problem = _value_problem(value, text[start:end]) if whole or end - start else None
    if problem:
        raise JSONProblem(problem)
    return value, end


def _value_problem(value: Any, text: str) -> str | None:
    """What makes a decoded value unusable (too deep, a lone surrogate), looked for only when the text could."""
    deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    if not (deep or surrogates):
        return None
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, str) and surrogates and not _encodable(item):
            return f"a string holds a lone surrogate escape ({_surrogate(item)}), which is not Unicode text"
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate(text: str) -> str:
    return next(f"\\u{ord(c):04x}" for c in text if 0xD800 <= ord(c) <= 0xDFFF)


def _decoded(path: str, text: str, line: int | None) -> Any:
    try:
        return loads(text)
    except JSONProblem as exc:
        where = line if line is not None else exc.lineno
        raise InputError(path, f"not valid JSON ({exc.where()})", line=where) from None


# ------------------------------------------------------------------------------ JSON / JSONL records of other tools

CHUNK_CHARS = 1 << 16
"""How much more of a JSON-array file :func:`first_record` reads each time the first record is not complete yet."""


def _text_of(path: Path | str) -> str:
    if not Path(path).is_file():
        raise InputError(str(path), "file not found")
    return read_utf8(path)


def _skip_space(text: str, idx: int) -> int:
    while idx < len(text) and text[idx] in " \t\r\n":
        idx += 1
    return idx


def _json_array(path: str, text: str) -> Iterator[tuple[int, Any]]:
    """(line number, element) of a JSON array, so errors can name the line where each record starts; anything but
    white space after the closing ``]`` is an error (never silently dropped)."""
    idx = text.index("[") + 1
    line = text.count("\n", 0, idx) + 1
    while True:
        nxt = _skip_space(text, idx)
        line += text.count("\n", idx, nxt)
        if nxt >= len(text):
            raise InputError(path, "the JSON array is not closed (truncated file?)", line=line)
        if text[nxt] == "]":
            _nothing_after(path, text, nxt + 1, line)
            return
        try:
            value, end = raw_decode(text, nxt)
        except JSONProblem as exc:
            raise InputError(path, f"not valid JSON ({exc.message})", line=exc.lineno or line) from None
        yield line, value
        line += text.count("\n", nxt, end)
        idx = _skip_space(text, end)
        line += text.count("\n", end, idx)
        if idx < len(text) and text[idx] == ",":
            idx += 1
        elif idx < len(text) and text[idx] != "]":
            raise InputError(path, f"expected ',' or ']' between records, got {text[idx]!r}", line=line)


def _nothing_after(path: str, text: str, idx: int, line: int) -> None:
    rest = _skip_space(text, idx)
    if rest < len(text):
        line += text.count("\n", idx, rest)
        raise InputError(path, f"data after the end of the JSON array (starting {text[rest:rest + 20]!r}); a JSON "
                         "file holds one array", line=line)


def _json_lines(path: str, text: str) -> Iterator[tuple[int, Any]]:
    for line_no, raw in enumerate(text.split("\n"), start=1):
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
        with open(path, "rb") as handle:
            return _first_of(str(path), handle)
    except OSError as exc:
        raise InputError(str(path), f"cannot read the file: {exc.strerror or exc}") from None


def _first_of(path: str, handle: BinaryIO) -> tuple[int, dict[str, Any]]:
    blob, line_no, text = b"", 0, ""
    for line_no, raw in enumerate(handle, start=1):
        text = utf8_text(path, raw, len(blob), line_no)
        blob += raw
        if text.strip():
            break
    if not blob.strip():
        raise InputError(path, "is empty")
    if not text.lstrip().startswith("["):
        return line_no, _object(path, line_no, json_line(path, line_no, text))
    while True:
        more = handle.read(CHUNK_CHARS)
        blob += more
        try:
            read = utf8_text(path, blob)
        except InputError:
            if more and _cut_in_a_character(blob):
                continue
            raise
        try:
            line, record = next(_json_array(path, read), (0, None))
        except InputError:
            if not more:
                raise
            continue
        if line == 0:
            raise InputError(path, "holds no records (empty JSON array)")
        return line, _object(path, line, record)


def _cut_in_a_character(blob: bytes) -> bool:
    """Whether ``blob`` is UTF-8 but for a character cut at its end (a read that stopped mid-character)."""
    try:
        blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data" and exc.end == len(blob)
    return False
