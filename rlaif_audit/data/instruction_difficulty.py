"""Read instruction difficulties (``audit --instruction-difficulty FILE``) for AlpacaEval's length-controlled win rate.

A CSV, JSONL or Parquet table with ``instruction_difficulty`` and either ``instruction`` (matched to each pair's
instruction text) or ``index`` (the position of the instruction among the judged instructions in order of first
appearance, as AlpacaEval's ``instruction_difficulty.csv`` indexes its 805 instructions; name its unnamed first
column ``index``).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif_audit.data.sources import open_file
from rlaif_audit.errors import InputError

DIFFICULTY_FIELD = "instruction_difficulty"


@dataclass
class InstructionDifficulty:
    """Difficulty by instruction text, or by instruction position; ``source`` names the file."""

    source: str
    by_text: dict[str, float] = field(default_factory=dict)
    by_index: dict[int, float] = field(default_factory=dict)


def _number(display: str, line: int | None, value: Any) -> float:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (isinstance(value, int) and abs(value) > 2**53)
            or not math.isfinite(value)):
        raise InputError(display, f"must be a finite number, got {value!r}", line=line, field=DIFFICULTY_FIELD)
    return float(value)


def _index(display: str, line: int | None, value: Any) -> int:
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        if float(value) == int(float(value)) and int(float(value)) >= 0:
            return int(float(value))
    raise InputError(display, f"must be a non-negative integer, got {value!r}", line=line, field="index")


def read_instruction_difficulty(path: str | Path) -> InstructionDifficulty:
    """The file's difficulties; a bad row is an error naming the file, line and field."""
    display = str(path)
    opened = open_file(Path(path), display)
    out = InstructionDifficulty(display)
    with contextlib.closing(opened.rows):
        for row in opened.rows:
            if row.problem is not None or row.record is None:
                raise InputError(display, f"the line {row.problem}", line=row.line)
            record = row.record
            if DIFFICULTY_FIELD not in record:
                raise InputError(display, "is missing", line=row.line, field=DIFFICULTY_FIELD)
            difficulty = _number(display, row.line, record[DIFFICULTY_FIELD])
            if isinstance(record.get("instruction"), str):
                out.by_text[record["instruction"]] = difficulty
            elif "index" in record:
                out.by_index[_index(display, row.line, record["index"])] = difficulty
            else:
                raise InputError(display, "is missing (each row needs instruction or index)", line=row.line,
                                 field="instruction")
    if not out.by_text and not out.by_index:
        raise InputError(display, "holds no instruction difficulties (it is empty)")
    return out


def difficulty_per_pair(table: InstructionDifficulty, instructions: list[str | None]) -> tuple[list[float], int]:
    """Each pair's difficulty (NaN where the file has none) and how many distinct instructions lack one."""
    order: dict[str, int] = {}
    for text in instructions:
        if text is not None and text not in order:
            order[text] = len(order)
    values = []
    for text in instructions:
        value = None if text is None else table.by_text.get(text, table.by_index.get(order[text]))
        values.append(math.nan if value is None else value)
    missing = {text for text, value in zip(instructions, values) if text is not None and math.isnan(value)}
    return values, len(missing)
