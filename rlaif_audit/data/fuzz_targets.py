"""The readers fuzzed by :mod:`rlaif_audit.data.fuzz`: valid seed files of every format and how each is read."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

from rlaif_audit.data.fuzz import (
    PLACEHOLDER,
    Target,
    _mutate_record,
    csv_text,
    mutate_csv,
    mutate_json_records,
    parquet_bytes,
    toml_case,
)

# ---------------------------------------------------------------------------------------------------- seed files


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
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


def csv_bytes(records: list[dict[str, Any]]) -> bytes:
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


def bench_folder(path: Path, questions: bytes | None = None, answers: bytes | None = None) -> Path:
    """A FastChat layout around ``path``: bench/question.jsonl, bench/model_answer/alpha.jsonl, a secret outside."""
    bench = path.parent / "bench"
    (bench / "model_answer").mkdir(parents=True, exist_ok=True)
    (bench / "question.jsonl").write_bytes(questions if questions is not None else jsonl_bytes(QUESTIONS))
    (bench / "model_answer" / "alpha.jsonl").write_bytes(answers if answers is not None else jsonl_bytes(ANSWERS))
    (bench / "model_answer" / "beta.jsonl").write_bytes(jsonl_bytes([{**a, "model_id": "beta"} for a in ANSWERS]))
    return bench


def _read_with_bench(path: Path, questions: bool) -> Any:
    from rlaif_audit.default_plugins.importers.fastchat import read_fastchat

    judgments = path.parent / "judgments.jsonl"
    judgments.write_bytes(jsonl_bytes(FASTCHAT))
    blob = path.read_bytes()
    bench = bench_folder(path, blob if questions else None, None if questions else blob)
    return read_fastchat(judgments, bench)


def _read_fastchat_judgments(path: Path) -> Any:
    """A FastChat judgment file as ``audit`` reads it: detected, imported with its bench folder, validated."""
    from rlaif_audit.data.inputs import AuditInputs

    return AuditInputs.from_file(path, data=str(bench_folder(path)))


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

    pair_seeds = (jsonl_bytes(NATIVE_PAIRS), jsonl_bytes(PREFERENCE_PAIRS), jsonl_bytes(IMPLICIT_PAIRS))
    json_array = (lambda records: json.dumps(records, indent=1).encode())
    items = [
        Target("pairs-jsonl", "pairs.jsonl", pair_seeds, mutate_json_records, _pairs),
        Target("pairs-jsonl-gz", "pairs.jsonl.gz", tuple(gzip.compress(seed, mtime=0) for seed in pair_seeds),
               _gz_mutate, _pairs),
        Target("pairs-json", "pairs.json", tuple(json_array(r) for r in (NATIVE_PAIRS, PREFERENCE_PAIRS)),
               mutate_json_records, _pairs),
        Target("pairs-csv", "pairs.csv", (csv_bytes(NATIVE_PAIRS[:2]), csv_bytes(PREFERENCE_PAIRS)), mutate_csv,
               _pairs),
        Target("pairs-parquet", "pairs.parquet", (_parquet_seed(NATIVE_PAIRS[:1]), _parquet_seed(PREFERENCE_PAIRS[1:])),
               _mutate_parquet, _pairs),
        Target("labels-jsonl", "labels.jsonl", (jsonl_bytes(LABELS),), mutate_json_records, _human_labels),
        Target("labels-csv", "labels.csv", (csv_bytes(LABELS),), mutate_csv, _human_labels),
        Target("labels-parquet", "labels.parquet", (_parquet_seed(LABELS[:2]),), _mutate_parquet, _human_labels),
        Target("labels-human-option", "labels.csv", (csv_bytes(LABELS),), mutate_csv, _human_any),
        Target("labels-human-option-json", "human.json",
               (json_array(FASTCHAT_HUMAN), json_array(ALPACA_HUMAN), jsonl_bytes(LABELS)), mutate_json_records,
               _human_any),
        Target("judgment-file", "judgments.jsonl", (jsonl_bytes(JUDGMENTS),), mutate_json_records, _judgments),
        Target("judgment-file-resume", "judgments.jsonl", (jsonl_bytes(JUDGMENTS[:3]),), mutate_json_records,
               _resumable),
        Target("alpaca-eval", "annotations.json", (json_array(ALPACA),), mutate_json_records, _alpaca),
        Target("fastchat", "gpt-4_pair.jsonl", (jsonl_bytes(FASTCHAT),), mutate_json_records, _read_fastchat_judgments),
        Target("alpaca-eval-human", "human.json", (json_array(ALPACA_HUMAN),), mutate_json_records, _alpaca_labels),
        Target("fastchat-human", "human.json", (json_array(FASTCHAT_HUMAN), jsonl_bytes(FASTCHAT_HUMAN)),
               mutate_json_records, _fastchat_labels),
        Target("fastchat-bench-questions", "question-case.jsonl", (jsonl_bytes(QUESTIONS),), mutate_json_records,
               lambda path: _read_with_bench(path, True)),
        Target("fastchat-bench-answers", "answer-case.jsonl", (jsonl_bytes(ANSWERS),), mutate_json_records,
               lambda path: _read_with_bench(path, False)),
        Target("instruction-difficulty", "difficulty.csv", (csv_bytes(DIFFICULTY),), mutate_csv, _difficulty),
        Target("instruction-difficulty-jsonl", "difficulty.jsonl", (jsonl_bytes(DIFFICULTY),), mutate_json_records,
               _difficulty),
        Target("run-config-toml", "run.toml", (RUN_TOML,), toml_case, _toml),
        Target("prompt-file", "prompts.jsonl", (jsonl_bytes(PROMPTS),), mutate_json_records, _prompts),
    ]
    return {target.name: target for target in items}
