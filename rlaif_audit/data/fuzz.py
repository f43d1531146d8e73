"""Hostile inputs for every reader: valid seed files, their seeded mutations, and the readers they are fed to.

Shared by ``tests/test_fuzz_readers.py`` (hypothesis, a fixed budget) and ``scripts/fuzz_readers.py`` (long runs).
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


# ---------------------------------------------------------------------------------------------------- seed files


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


NATIVE_PAIRS = [
    {"id": "p1", "context": "Say hi", "a": "hi", "b": "hello", "preferred": "a", "annotator": "ann"},
    {"id": "p2", "context": [{"role": "user", "content": "Add 1+1"}], "a": "2", "b": "3",
     "labels": [{"annotator": "x", "preferred": "tie"}], "metadata": {"k": 1}},
    {"id": 3, "prompt": "Name a colour", "a": "red", "b": ""},
]
PREFERENCE_PAIRS = [
    {"prompt": [{"role": "user", "content": "Q?"}], "chosen": [{"role": "assistant", "content": "yes"}],
     "rejected": "no"},
    {"prompt": "Q2?", "chosen": "fine", "rejected": "bad"},
]
IMPLICIT_PAIRS = [{"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go"}]
LABELS = [{"pair_id": "p1", "preferred": "a", "annotator": "h1"}, {"pair_id": "p2", "preferred": "tie"},
          {"pair_id": 3, "preferred": "B", "annotator": "h2"}]
JUDGMENTS = [
    {"pair_id": "p1", "order": "ab", "p_first": 0.8, "verdict": "first", "parse_status": "ok", "raw": "A",
     "latency_s": 0.1, "evaluator": "synthetic", "evaluator_id": "eid", "ab_seed": 0, "ab_hash": "h1",
     "data_hash": "d"},
    {"pair_id": "p1", "order": "ba", "p_first": 0.3, "verdict": "second", "parse_status": "ok", "raw": "B",
     "latency_s": 0.1, "evaluator": "synthetic", "evaluator_id": "eid", "ab_seed": 0, "ab_hash": "h1",
     "data_hash": "d"},
    {"pair_id": "p2", "order": "ab", "p_first": None, "verdict": None, "parse_status": "failed", "raw": "?",
     "latency_s": 0.0, "evaluator": "synthetic", "evaluator_id": "eid", "ab_seed": 0, "ab_hash": "h2",
     "data_hash": "d"},
    {"pair_id": 7, "order": "ab", "p_first": 0.5},
]
ALPACA = [
    {"instruction": "Say hi", "output_1": "hi", "output_2": "hello", "preference": 1.2, "annotator": "gpt4",
     "generator_1": "m1", "generator_2": "m2", "raw_completion": {"x": 1}, "time_per_example": 0.5},
    {"instruction": "Add", "input": "1+1", "output_1": "2", "output_2": "3", "preference": 2, "annotator": "gpt4",
     "generator_1": "m1", "generator_2": "m2", "dataset": "d"},
    {"instruction": "Say hi", "output_1": "hi", "output_2": "hello", "preference": None, "annotator": "gpt4",
     "generator_1": "m1", "generator_2": "m2", "index": 1},
]
ALPACA_HUMAN = [{"instruction": "Say hi", "output_1": "hello", "output_2": "hi", "preference": 1,
                 "annotator_index": 3},
                {"instruction": "Add\n\n1+1", "output_1": "2", "output_2": "3", "preference": 1.5}]
FASTCHAT = [
    {"question_id": 81, "model_1": "alpha", "model_2": "beta", "g1_winner": "model_1", "g2_winner": "tie",
     "judge": ["gpt-4", "pair-v2"], "g1_judgment": "[[A]]", "g2_judgment": "[[C]]", "turn": 1},
    {"question_id": 82, "model_1": "alpha", "model_2": "beta", "g1_winner": "error", "g2_winner": "model_2",
     "judge": ["gpt-4", "pair-v2-multi-turn"], "turn": 2},
    {"question_id": 81, "model_1": "beta", "model_2": "../../outside/secret", "g1_winner": "model_2",
     "g2_winner": "model_1", "judge": "gpt-4"},
]
FASTCHAT_HUMAN = [{"question_id": 81, "model_a": "alpha", "model_b": "beta", "winner": "model_a", "judge": "h1",
                   "turn": 1},
                  {"question_id": 82, "model_a": "beta", "model_b": "alpha", "winner": "tie (bothbad)", "turn": 2}]
QUESTIONS = [{"question_id": 81, "category": "writing", "turns": ["Write a poem", "Shorter"]},
             {"question_id": 82, "category": "math", "turns": ["1+1?", "2+2?"]}]
ANSWERS = [{"question_id": 81, "model_id": "alpha", "choices": [{"index": 0, "turns": ["roses", "red"]}]},
           {"question_id": 82, "model_id": "alpha", "choices": [{"index": 0, "turns": ["2", "4"]}]}]
DIFFICULTY = [{"instruction": "Say hi", "instruction_difficulty": 0.5}, {"index": 3, "instruction_difficulty": "1.5"}]
RUN_TOML = (b'preset = "smoke"\nevaluator = "synthetic"\ntemperature = 0.7\nauditors = ["position"]\n'
            b'rl_steps = 2\n\n[evaluator_options]\nbias = 0.1\n')
PROMPTS = [{"id": "q1", "prompt": "Say hi", "category": "chat"}, {"prompt": "Add 1+1"},
           {"id": 3, "prompt": "Name a colour", "category": "x"}]


def _csv_of(records: list[dict[str, Any]]) -> bytes:
    columns = list(dict.fromkeys(key for record in records for key in record))
    cell = (lambda v: "" if v is None else v if isinstance(v, str) else json.dumps(v))
    return csv_text([columns] + [[cell(record.get(key)) for key in columns] for record in records])


def _mutate_parquet(seed: bytes, rng: random.Random) -> bytes:
    import pyarrow.parquet as pq

    records = pq.read_table(io.BytesIO(seed)).to_pylist()
    mutated = [dict(_mutate_record(record, rng)[0]) if rng.random() < 0.5 else record for record in records]
    for record in mutated:
        for key, value in list(record.items()):
            if value == PLACEHOLDER or isinstance(value, float):
                record[key] = None if value == PLACEHOLDER else value
    try:
        return parquet_bytes(mutated, rng)
    except Exception:  # Arrow cannot infer a type from the mixed values: fall back to the seed's own columns
        return parquet_bytes(records, rng)


def _parquet_seed(records: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(dict.fromkeys(key for record in records for key in record))
    handle = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{key: record.get(key) for key in columns} for record in records]), handle)
    return handle.getvalue()


def _bench_folder(path: Path, questions: bytes | None = None, answers: bytes | None = None) -> Path:
    """A FastChat layout around ``path``: bench/question.jsonl, bench/model_answer/alpha.jsonl, a secret outside."""
    bench = path.parent / "bench"
    (bench / "model_answer").mkdir(parents=True, exist_ok=True)
    (bench / "question.jsonl").write_bytes(questions if questions is not None else _jsonl(QUESTIONS))
    (bench / "model_answer" / "alpha.jsonl").write_bytes(answers if answers is not None else _jsonl(ANSWERS))
    (bench / "model_answer" / "beta.jsonl").write_bytes(_jsonl([{**a, "model_id": "beta"} for a in ANSWERS]))
    return bench


def _read_with_bench(path: Path, questions: bool) -> Any:
    from rlaif_audit.default_plugins.importers.fastchat import read_fastchat

    judgments = path.parent / "judgments.jsonl"
    judgments.write_bytes(_jsonl(FASTCHAT))
    blob = path.read_bytes()
    bench = _bench_folder(path, blob if questions else None, None if questions else blob)
    return read_fastchat(judgments, bench)


def _read_fastchat_judgments(path: Path) -> Any:
    """A FastChat judgment file as ``audit`` reads it: detected, imported with its bench folder, validated."""
    from rlaif_audit.data.inputs import AuditInputs

    return AuditInputs.from_file(path, data=str(_bench_folder(path)))


def _pairs(path: Path) -> Any:
    from rlaif_audit.data.pairs import read_pairs

    return read_pairs(path)


def _human_labels(path: Path) -> Any:
    from rlaif_audit.data.human_labels import read_human_labels

    return read_human_labels(path)


def _human_any(path: Path) -> Any:
    """The ``--human`` route: the reader chosen for the file, then its labels."""
    from rlaif_audit.data.inputs import _importers, human_label_reader
    from rlaif_audit.records.types import PreferencePair

    pairs = [PreferencePair("p1", [{"role": "user", "content": "Say hi"}], "hi", "hello", {})]
    return human_label_reader(str(path), _importers(None))(str(path), pairs)


def _judgments(path: Path) -> Any:
    from rlaif_audit.data.judgment_file import read_judgments

    return read_judgments(path)


def _resumable(path: Path) -> Any:
    from rlaif_audit.data.judgment_file import JudgmentFile
    from rlaif_audit.records.provenance import LabelProvenance

    provenance = LabelProvenance(0, "d", {"p1": "h1", "p2": "h2"})
    return JudgmentFile(path, "synthetic", "eid", provenance)


def _alpaca(path: Path) -> Any:
    """An AlpacaEval annotations file as ``audit`` reads it: detected, imported, validated."""
    from rlaif_audit.data.inputs import AuditInputs

    return AuditInputs.from_file(path)


def _gz_mutate(seed: bytes, rng: random.Random) -> bytes:
    import gzip

    return gzip.compress(mutate_json_records(gzip.decompress(seed), rng), mtime=0)


def _alpaca_labels(path: Path) -> Any:
    from rlaif_audit.default_plugins.importers.alpaca_eval import alpaca_human_labels
    from rlaif_audit.records.types import PreferencePair

    pairs = [PreferencePair("p1", [{"role": "user", "content": "Say hi"}], "hi", "hello", {})]
    return alpaca_human_labels(path, pairs)


def _fastchat_labels(path: Path) -> Any:
    from rlaif_audit.default_plugins.importers.fastchat import fastchat_human_labels
    from rlaif_audit.records.types import PreferencePair

    meta = {"question_id": 81, "turn": 1, "generator_a": "alpha", "generator_b": "beta"}
    return fastchat_human_labels(path, [PreferencePair("p1", [], "", "", meta)])


def _difficulty(path: Path) -> Any:
    from rlaif_audit.data.instruction_difficulty import read_instruction_difficulty

    return read_instruction_difficulty(path)


def _toml(path: Path) -> Any:
    from rlaif_audit.loop.config import read_toml

    return read_toml(path)


def _prompts(path: Path) -> Any:
    from rlaif_audit.loop.prompts import read_prompts

    return read_prompts(path)


def targets() -> dict[str, Target]:
    """Every reader fuzzed, by name."""
    import gzip

    pair_seeds = (_jsonl(NATIVE_PAIRS), _jsonl(PREFERENCE_PAIRS), _jsonl(IMPLICIT_PAIRS))
    json_array = (lambda records: json.dumps(records, indent=1).encode())
    items = [
        Target("pairs-jsonl", "pairs.jsonl", pair_seeds, mutate_json_records, _pairs),
        Target("pairs-jsonl-gz", "pairs.jsonl.gz", tuple(gzip.compress(seed, mtime=0) for seed in pair_seeds),
               _gz_mutate, _pairs),
        Target("pairs-json", "pairs.json", tuple(json_array(r) for r in (NATIVE_PAIRS, PREFERENCE_PAIRS)),
               mutate_json_records, _pairs),
        Target("pairs-csv", "pairs.csv", (_csv_of(NATIVE_PAIRS[:2]), _csv_of(PREFERENCE_PAIRS)), mutate_csv, _pairs),
        Target("pairs-parquet", "pairs.parquet", (_parquet_seed(NATIVE_PAIRS[:1]), _parquet_seed(PREFERENCE_PAIRS[1:])),
               _mutate_parquet, _pairs),
        Target("labels-jsonl", "labels.jsonl", (_jsonl(LABELS),), mutate_json_records, _human_labels),
        Target("labels-csv", "labels.csv", (_csv_of(LABELS),), mutate_csv, _human_labels),
        Target("labels-parquet", "labels.parquet", (_parquet_seed(LABELS[:2]),), _mutate_parquet, _human_labels),
        Target("labels-human-option", "labels.csv", (_csv_of(LABELS),), mutate_csv, _human_any),
        Target("judgment-file", "judgments.jsonl", (_jsonl(JUDGMENTS),), mutate_json_records, _judgments),
        Target("judgment-file-resume", "judgments.jsonl", (_jsonl(JUDGMENTS[:3]),), mutate_json_records, _resumable),
        Target("alpaca-eval", "annotations.json", (json_array(ALPACA),), mutate_json_records, _alpaca),
        Target("fastchat", "gpt-4_pair.jsonl", (_jsonl(FASTCHAT),), mutate_json_records, _read_fastchat_judgments),
        Target("alpaca-eval-human", "human.json", (json_array(ALPACA_HUMAN),), mutate_json_records, _alpaca_labels),
        Target("fastchat-human", "human.json", (json_array(FASTCHAT_HUMAN), _jsonl(FASTCHAT_HUMAN)),
               mutate_json_records, _fastchat_labels),
        Target("fastchat-bench-questions", "question-case.jsonl", (_jsonl(QUESTIONS),), mutate_json_records,
               lambda path: _read_with_bench(path, True)),
        Target("fastchat-bench-answers", "answer-case.jsonl", (_jsonl(ANSWERS),), mutate_json_records,
               lambda path: _read_with_bench(path, False)),
        Target("instruction-difficulty", "difficulty.csv", (_csv_of(DIFFICULTY),), mutate_csv, _difficulty),
        Target("instruction-difficulty-jsonl", "difficulty.jsonl", (_jsonl(DIFFICULTY),), mutate_json_records,
               _difficulty),
        Target("run-config-toml", "run.toml", (RUN_TOML,), toml_case, _toml),
        Target("prompt-file", "prompts.jsonl", (_jsonl(PROMPTS),), mutate_json_records, _prompts),
    ]
    return {target.name: target for target in items}
