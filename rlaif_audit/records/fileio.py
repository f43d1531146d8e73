"""Small file helpers: atomic writes, so nothing is ever half-written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

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
