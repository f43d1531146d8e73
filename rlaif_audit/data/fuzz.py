"""Hostile inputs for every reader: valid seed files, their seeded mutations, and the readers they are fed to.

Shared by ``tests/test_fuzz_readers.py`` (hypothesis, a fixed budget) and ``scripts/fuzz_readers.py`` (long runs);
the readers and their seed files are in :mod:`rlaif_audit.data.fuzz_targets`.
A reader passes a case when it returns data or raises an :class:`~rlaif_audit.errors.InputError`; anything else
is a crash.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rlaif_audit.errors import InputError

NON_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x00")
RAW_JSON = (
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    "[" * 150 + "]" * 150,
    "9" * 5000,
    "-" + "1" * 4301,
    "1" * 400,
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    '"\\ud800"',
    '"\\udfff tail"',
    '{"\\udc80": 1}',
    '"\\ud83d\\ude00"',
    '"\\u0000"',
    '"\\u202e\\u200b"',
    "1.5",
    "-0.0",
    "true",
    "null",
    "[]",
    "{}",
    '[{"role": "user", "content": "x"}]',
    '"' + "x" * 5000 + '"',
)
"""JSON texts put where a value belongs: deep nesting, > 4300-digit integers, lone surrogate escapes, non-finite."""
TEXTS = ("", " ", "a", "b", "tie", "ab", "ba", "ok", "failed", "first", "second", "model_1", "model_2", "error",
         "../../outside/secret", "/etc/passwd", "..", ".", "a/b", "x\x00y", "\u202e", "é", "\n", "\r\n", "\\",
         "0", "1", "null", "[", "{", '"', ",", "model_a", "model_b", "tie (bothbad)", "🙂")


def random_json_value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON-able value: scalars of every type and edge, strings the readers know, small lists and objects."""
    kind = rng.randrange(12 if depth < 3 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice((True, False))
    if kind == 2:
        return rng.choice((0, 1, -1, 2, 7, 2**31, 2**63, -(2**63) - 1, 10**30, 10**400, -(10**400),
                           rng.randrange(-1000, 1000)))
    if kind == 3:
        return rng.choice((0.0, 0.5, 1.0, 1.5, -0.5, 0.25, 1e-300, 1e308, float("nan"), float("inf"),
                           float("-inf"), rng.random()))
    if kind in (4, 5, 6, 7):
        return rng.choice(TEXTS) if rng.random() < 0.7 else "".join(chr(rng.randrange(1, 0x3000)) for _ in
                                                                      range(rng.randrange(8)))
    if kind in (8, 9):
        return [random_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(TEXTS + ("role", "content", "turns", "choices")): random_json_value(rng, depth + 1)
            for _ in range(rng.randrange(4))}


PLACEHOLDER = "\u0001RAW\u0001"


def _mutate_record(record: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str | None]:
    """One field changed (a random value, a raw hostile JSON text), dropped, or added; the raw text if any."""
    record = dict(record)
    keys = list(record)
    action = rng.randrange(5)
    raw = None
    name = rng.choice(keys) if keys and action < 4 else rng.choice(TEXTS)
    if action in (0, 1):
        record[name] = random_json_value(rng)
    elif action == 2:
        raw = rng.choice(RAW_JSON)
        record[name] = PLACEHOLDER
    elif action == 3 and keys:
        del record[name]
    else:
        record[name] = random_json_value(rng)
    return record, raw


def _json_text(value: Any, raw: str | None, rng: random.Random) -> str:
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5, allow_nan=True)
    return text.replace(json.dumps(PLACEHOLDER), raw) if raw is not None else text


def mutate_json_records(seed: bytes, rng: random.Random) -> bytes:
    """A JSONL or JSON-array seed with some records changed field by field (or replaced by hostile values)."""
    text = seed.decode("utf-8")
    array = text.lstrip().startswith("[")
    records = json.loads(text) if array else [json.loads(line) for line in text.splitlines() if line.strip()]
    out: list[str] = []
    for record in records:
        if rng.random() < 0.4 and isinstance(record, dict):
            for _ in range(rng.randrange(1, 3)):
                record, raw = _mutate_record(record, rng)
                if raw is not None:
                    break
            out.append(_json_text(record, raw, rng))
        elif rng.random() < 0.05:
            out.append(rng.choice(RAW_JSON))
        else:
            out.append(json.dumps(record))
    if array:
        joined = "[" + ",\n".join(out) + "]"
        if rng.random() < 0.15:
            joined += rng.choice(("\n[]", " {}", "]", ",", "\n" + out[0] if out else "x", "garbage"))
        return joined.encode("utf-8", "surrogatepass")
    return ("\n".join(out) + "\n").encode("utf-8", "surrogatepass")


def mutate_bytes(blob: bytes, rng: random.Random) -> bytes:
    """A few byte-level edits: flips, inserted non-UTF-8 or structural bytes, deletions, truncation, repeats."""
    data = bytearray(blob)
    for _ in range(rng.randrange(1, 4)):
        where = rng.randrange(len(data) + 1)
        action = rng.randrange(7)
        if action == 0 and data:
            data[min(where, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif action == 1:
            data[where:where] = rng.choice(NON_UTF8)
        elif action == 2:
            data[where:where] = rng.choice((b"[", b"]", b"{", b"}", b'"', b",", b"\n", b"\\", b"=", b"\r", b"'"))
        elif action == 3:
            del data[where:where + rng.randrange(1, 20)]
        elif action == 4:
            data = data[:where]
        elif action == 5 and data:
            start = rng.randrange(len(data))
            data[where:where] = data[start:start + rng.randrange(1, 40)]
        else:
            data[where:where] = rng.choice(RAW_JSON).encode()
    return bytes(data)


def random_bytes(rng: random.Random) -> bytes:
    """Bytes with no structure at all."""
    return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))


# ------------------------------------------------------------------------------------------------ CSV and Parquet


def csv_text(rows: list[list[str]]) -> bytes:
    import csv

    handle = io.StringIO()
    csv.writer(handle).writerows(rows)
    return handle.getvalue().encode("utf-8", "surrogatepass")


def mutate_csv(seed: bytes, rng: random.Random) -> bytes:
    """A CSV seed with cells replaced by hostile text (JSON fragments, quotes, newlines, raw hostile JSON)."""
    import csv

    rows = list(csv.reader(io.StringIO(seed.decode("utf-8"))))
    for _ in range(rng.randrange(1, 4)):
        row = rng.randrange(len(rows))
        if not rows[row]:
            continue
        cell = rng.randrange(len(rows[row]))
        choice = rng.randrange(3)
        value = rng.choice(TEXTS) if choice == 0 else rng.choice(RAW_JSON) if choice == 1 else json.dumps(
            random_json_value(rng))
        rows[row][cell] = value
    if rng.random() < 0.2:
        rows[rng.randrange(len(rows))].append(rng.choice(TEXTS))
    return csv_text(rows)


def random_column(rng: random.Random, n: int) -> list[Any]:
    """A column of one random Arrow-friendly type."""
    import datetime

    kind = rng.randrange(8)
    if kind == 0:
        return [rng.choice(TEXTS[:14]) for _ in range(n)]
    if kind == 1:
        return [rng.randrange(-5, 5) for _ in range(n)]
    if kind == 2:
        return [rng.choice((0.5, float("nan"), float("inf"), 1.0, None)) for _ in range(n)]
    if kind == 3:
        return [[rng.choice(TEXTS[:5])] for _ in range(n)]
    if kind == 4:
        return [{"role": rng.choice(("user", "x")), "content": rng.choice(TEXTS[:5])} for _ in range(n)]
    if kind == 5:
        return [bytes([rng.randrange(256)]) for _ in range(n)]
    if kind == 6:
        return [datetime.datetime(2020, 1, 1 + i % 28) for i in range(n)]
    return [None] * n


def parquet_bytes(records: list[dict[str, Any]], rng: random.Random) -> bytes:
    """Records as a Parquet file, some columns swapped for columns of random types (then maybe corrupted)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {key: [record.get(key) for record in records] for key in dict.fromkeys(k for r in records for k in r)}
    for _ in range(rng.randrange(3)):
        name = rng.choice(list(columns) + ["extra"])
        columns[name] = random_column(rng, len(records))
    if columns and rng.random() < 0.2:
        columns.pop(rng.choice(list(columns)))
    try:
        table = pa.table({name: pa.array(values) for name, values in columns.items()})
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        table = pa.table({name: pa.array([json.dumps(v, default=str) for v in values])
                          for name, values in columns.items()})
    handle = io.BytesIO()
    pq.write_table(table, handle, compression=rng.choice(("snappy", "none", "zstd", "none")),
                   data_page_size=rng.choice((64, 1 << 20)), use_dictionary=rng.random() < 0.5,
                   write_statistics=rng.random() < 0.5)
    blob = handle.getvalue()
    if rng.random() < 0.5:  # corrupt pages: bytes inside the column chunks, footer left intact
        data = bytearray(blob)
        for _ in range(rng.randrange(1, 6)):
            where = rng.randrange(4, max(5, len(data) - 200))
            data[where] = rng.choice((rng.randrange(256), 0xFF, 0xC3))
        blob = bytes(data)
    elif rng.random() < 0.3:
        blob = mutate_bytes(blob, rng)
    return blob


# ------------------------------------------------------------------------------------------------------------ TOML

TOML_VALUES = ("inf", "+inf", "-inf", "nan", "-nan", "1e999", "0", "-1", "1", "2", "0.5", "1.5", "1e-400",
               "9" * 5000, "99999999999999999999", "true", "false", '"x"', '""', "'lit'", '"\\uD800"', '"\\u0000"',
               "1979-05-27T07:32:00Z", "1979-05-27", "07:32:00", "[]", '["a", 1]', '["a", "b"]', "{}",
               '{a = 1}', "[" * 3000 + "]" * 3000, "0x10", "0o7", "0b1", "1_000", '"""multi\nline"""', "[[1]]")


def toml_case(seed: bytes, rng: random.Random) -> bytes:
    """A run config TOML with keys set to hostile values (non-finite, huge, dates, wrong types) or odd keys."""
    from rlaif_audit.loop.config import KEYS

    lines = seed.decode("utf-8").splitlines()
    for _ in range(rng.randrange(1, 4)):
        name = rng.choice(list(KEYS) + ["preset", "unknown_key", '"quoted key"', "a.b", "evaluator_options.x"])
        lines.insert(rng.randrange(len(lines) + 1) if rng.random() < 0.2 else 0,
                     f"{name} = {rng.choice(TOML_VALUES)}")
    if rng.random() < 0.3:
        lines.append("[evaluator_options]")
        lines.append(f"k = {rng.choice(TOML_VALUES)}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """A reader under fuzzing: the file name it reads, its valid seed files, how to mutate and how to read one."""

    name: str
    file_name: str
    seeds: tuple[bytes, ...]
    mutate: Callable[[bytes, random.Random], bytes]
    read: Callable[[Path], Any]
    """Called with the path of the case file (in an otherwise empty folder of its own)."""


def hostile_case(target: Target, rng: random.Random) -> bytes:
    """One case for ``target``: structured mutations of a seed mostly, byte edits, raw bytes, a bare hostile JSON."""
    roll = rng.random()
    seed = rng.choice(target.seeds)
    if roll < 0.08:
        return random_bytes(rng)
    if roll < 0.14:
        return rng.choice(RAW_JSON).encode() + (b"\n" if rng.random() < 0.5 else b"")
    if roll < 0.20:
        return seed
    try:
        case = target.mutate(seed, rng)
    except (ValueError, UnicodeError, RecursionError):  # a seed the mutator cannot parse (never the built-in ones)
        case = seed
    return mutate_bytes(case, rng) if rng.random() < 0.3 else case


def outcome(target: Target, folder: Path, case: bytes) -> tuple[str, BaseException | None]:
    """``("data", None)``, ``("InputError", None)`` or ``("crash", exc)`` of reading one case."""
    path = folder / target.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(case)
    try:
        target.read(path)
    except InputError:
        return "InputError", None
    except Exception as exc:  # a crash: what the fuzzing counts
        return "crash", exc
    return "data", None
