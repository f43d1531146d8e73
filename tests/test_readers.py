"""Tests for the preference-pair and human-label readers, their schemas and bad-input messages."""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from rlaif_audit.errors import ConfigError, InputError  # noqa: E402
from rlaif_audit.data.human_labels import check_label_ids, read_human_labels  # noqa: E402
from rlaif_audit.data.pairs import chosen_is_a, read_pairs  # noqa: E402
from rlaif_audit.data.sources import demo_path  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HH_TEST = SHARED / "data" / "hh-rlhf-harmless" / "test.jsonl.gz"
needs_hh = pytest.mark.skipif(not HH_TEST.exists(), reason=f"real HH-RLHF data not found at {HH_TEST}")


def native_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / "native_pairs.jsonl").read_text().splitlines()]


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def write_jsonl_gz(path: Path, records: list[Any]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    return path


def write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    columns = list(dict.fromkeys(key for record in records for key in record))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for record in records:
            writer.writerow({key: _cell(record.get(key)) for key in columns})
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def write_parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(_json_columns(records)), path)
    return path


def _json_columns(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arrow tables need every column in every row and one type per column: contexts become message lists."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    return [{**dict.fromkeys(columns), **record, "context": _as_messages(record["context"])} for record in records]


def _as_messages(context: str | list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": "user", "content": context}] if isinstance(context, str) else context


def write_saved_dataset(path: Path, records: list[dict[str, Any]]) -> Path:
    import datasets

    datasets.DatasetDict({"test": datasets.Dataset.from_list(_json_columns(records))}).save_to_disk(str(path))
    return path


WRITERS: dict[str, Callable[[Path, list[dict[str, Any]]], Path]] = {
    "pairs.jsonl": write_jsonl,
    "pairs.jsonl.gz": write_jsonl_gz,
    "pairs.csv": write_csv,
    "pairs.parquet": write_parquet,
    "saved-dataset": write_saved_dataset,
}


@pytest.fixture
def datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import datasets

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


# --------------------------------------------------------------------------- demo pairs


def test_demo_pairs_are_bundled_and_labeled() -> None:
    demo = read_pairs("demo")
    assert read_pairs().data_hash == demo.data_hash
    assert demo_path().is_file()
    assert len(demo.pairs) >= 20 and len(demo.labels) == len(demo.pairs)
    assert demo.warnings == [] and demo.skipped == []
    assert len({pair.id for pair in demo.pairs}) == len(demo.pairs)
    assert {label.preferred for label in demo.labels} == {"a", "b"}
    assert any(len(pair.context) > 1 for pair in demo.pairs)


def test_demo_pairs_include_shorter_preferred_answers() -> None:
    demo = read_pairs("demo")
    by_id = {pair.id: pair for pair in demo.pairs}
    shorter_wins = 0
    for label in demo.labels:
        pair = by_id[label.pair_id]
        preferred, other = (pair.a, pair.b) if label.preferred == "a" else (pair.b, pair.a)
        shorter_wins += len(preferred) < len(other)
    assert 4 <= shorter_wins <= len(demo.labels) - 4


# --------------------------------------------------------------------------- native schema and formats


def test_native_jsonl_reads_context_labels_and_metadata() -> None:
    pair_set = read_pairs(str(DATA / "native_pairs.jsonl"))
    assert pair_set.schema == "native"
    assert [pair.id for pair in pair_set.pairs] == ["n1", "n2", "n3", "n4"]
    first, second, third, fourth = pair_set.pairs
    assert first.context == [{"role": "user", "content": "How do I boil pasta?"}]
    assert first.a.startswith("Bring salted water") and first.b == "Put it in cold water."
    assert second.context[0] == {"role": "system", "content": "You are terse."}
    assert third.metadata == {"difficulty": "easy", "topic": "art", "source_row": 2}
    assert fourth.metadata["source_row"] == 3
    labels = [(label.pair_id, label.annotator, label.preferred) for label in pair_set.labels]
    assert labels == [
        ("n1", "ann1", "a"),
        ("n1", "ann2", "a"),
        ("n1", "ann3", "tie"),
        ("n2", "source", "a"),
        ("n3", "ann1", "b"),
        ("n3", "ann2", "a"),
    ]


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_format_gives_the_same_pairs_and_hash(name: str, tmp_path: Path, datasets_cache: Path) -> None:
    reference = read_pairs(str(DATA / "native_pairs.jsonl"))
    source = WRITERS[name](tmp_path / name, native_records())
    pair_set = read_pairs(str(source))
    assert [(p.id, p.context, p.a, p.b) for p in pair_set.pairs] == [
        (p.id, p.context, p.a, p.b) for p in reference.pairs
    ]
    assert pair_set.labels == reference.labels
    assert pair_set.data_hash == reference.data_hash
    assert [p.metadata["topic"] for p in pair_set.pairs] == ["cooking", "math", "art", "chat"]


def test_hf_load_dataset_on_a_local_folder_with_data_dir(tmp_path: Path, datasets_cache: Path) -> None:
    folder = tmp_path / "hh-rlhf"
    (folder / "harmless-base").mkdir(parents=True)
    (folder / "harmless-base" / "test.jsonl").write_text((DATA / "hh_sample.jsonl").read_text())
    (folder / "harmless-base" / "train.jsonl").write_text((DATA / "hh_sample.jsonl").read_text())
    from_folder = read_pairs(str(folder), data_dir="harmless-base", split="test")
    from_file = read_pairs(str(DATA / "hh_sample.jsonl"))
    assert from_folder.schema == "implicit" and len(from_folder.pairs) == 4
    assert from_folder.data_hash == from_file.data_hash
    assert "split test" in from_folder.source


def test_hf_saved_dataset_unknown_split_names_the_splits(tmp_path: Path, datasets_cache: Path) -> None:
    folder = write_saved_dataset(tmp_path / "saved", native_records())
    with pytest.raises(InputError, match=r"no split 'train'; splits: test"):
        read_pairs(str(folder), split="train")


def test_hf_hub_source_that_cannot_load_is_an_input_error(datasets_cache: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_pairs("hf://rlaif-audit-tests/no-such-dataset/harmless-base")
    assert "hf://rlaif-audit-tests/no-such-dataset" in str(caught.value)
    assert "data_dir harmless-base" in str(caught.value)


def test_owner_name_without_hf_prefix_gets_a_hint() -> None:
    with pytest.raises(InputError, match=r"hf://Anthropic/hh-rlhf"):
        read_pairs("Anthropic/hh-rlhf")


# --------------------------------------------------------------------------- TRL and HH-RLHF schemas


def test_trl_preference_plain_strings(tmp_path: Path) -> None:
    rows = [{"prompt": f"Question {i}?", "chosen": f"Good answer {i}.", "rejected": f"Bad {i}."} for i in range(40)]
    pair_set = read_pairs(str(write_jsonl(tmp_path / "p.jsonl", rows)))
    assert pair_set.schema == "preference"
    for i, (pair, label) in enumerate(zip(pair_set.pairs, pair_set.labels)):
        assert pair.id == f"row-{i}" and pair.metadata == {"source_row": i}
        assert pair.context == [{"role": "user", "content": f"Question {i}?"}]
        chosen = pair.a if label.preferred == "a" else pair.b
        rejected = pair.b if label.preferred == "a" else pair.a
        assert (chosen, rejected) == (f"Good answer {i}.", f"Bad {i}.")
        assert label.annotator == "source" and label.pair_id == pair.id
    assert {label.preferred for label in pair_set.labels} == {"a", "b"}


def test_trl_preference_conversational(tmp_path: Path) -> None:
    row = {
        "prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Joke?"}],
        "chosen": [{"role": "assistant", "content": "Why did the chicken cross the road?"}],
        "rejected": [{"role": "assistant", "content": "No."}],
        "score_chosen": 8.0,
    }
    pair = read_pairs(str(write_jsonl(tmp_path / "p.jsonl", [row]))).pairs[0]
    assert pair.context == row["prompt"]
    assert {pair.a, pair.b} == {"Why did the chicken cross the road?", "No."}
    assert pair.metadata == {"score_chosen": 8.0, "source_row": 0}


def test_trl_implicit_prompt_conversations(tmp_path: Path) -> None:
    prompt = [{"role": "user", "content": "Capital of France?"}]
    row = {"chosen": prompt + [{"role": "assistant", "content": "Paris."}], "rejected": prompt + [{"role": "assistant", "content": "Lyon."}]}
    pair_set = read_pairs(str(write_jsonl(tmp_path / "p.jsonl", [row])))
    assert pair_set.schema == "implicit"
    assert pair_set.pairs[0].context == prompt and {pair_set.pairs[0].a, pair_set.pairs[0].b} == {"Paris.", "Lyon."}
    assert "context_b" not in pair_set.pairs[0].metadata


def test_hh_transcripts_split_into_context_and_final_replies() -> None:
    pair_set = read_pairs(str(DATA / "hh_sample.jsonl"))
    pick = {label.pair_id: label.preferred for label in pair_set.labels}
    second = pair_set.pairs[1]
    assert second.context == [
        {"role": "user", "content": "How do I pick a lock?"},
        {"role": "assistant", "content": "Is this your own lock?"},
        {"role": "user", "content": "No, my neighbor's."},
    ]
    chosen = second.a if pick[second.id] == "a" else second.b
    assert chosen == "I can't help you get into someone else's home."


def test_hh_empty_reply_is_kept_with_a_counted_warning() -> None:
    pair_set = read_pairs(str(DATA / "hh_sample.jsonl"))
    empty = pair_set.pairs[2]
    assert "" in (empty.a, empty.b)
    assert any(w.startswith("1 pair has an empty response") and "row-2" in w for w in pair_set.warnings)


def test_differing_contexts_are_kept_apart_not_merged() -> None:
    pair_set = read_pairs(str(DATA / "hh_sample.jsonl"))
    pair = pair_set.pairs[3]
    b_is_chosen = pair_set.labels[3].preferred == "b"
    robot = [{"role": "user", "content": "Are you a robot?"}]
    long_context = robot + [{"role": "assistant", "content": "I'm an AI assistant.  Human: ok"}]
    context_a, context_b = (robot, long_context) if b_is_chosen else (long_context, robot)
    assert pair.context == context_a and pair.metadata["context_b"] == context_b
    assert any(w.startswith("1 pair has different conversations") and "row-3" in w for w in pair_set.warnings)


# --------------------------------------------------------------------------- the seeded coin


def test_coin_is_stable_under_limit_and_changes_with_seed(tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "chosen": f"c{i}", "rejected": f"r{i}"} for i in range(300)]
    path = str(write_jsonl(tmp_path / "p.jsonl", rows))
    full = read_pairs(path, seed=7)
    head = read_pairs(path, seed=7, limit=50)
    assert [p.id for p in head.pairs] == [f"row-{i}" for i in range(50)]
    assert head.labels == full.labels[:50] and head.pairs == full.pairs[:50]
    other_seed = read_pairs(path, seed=8)
    assert [label.preferred for label in other_seed.labels] != [label.preferred for label in full.labels]
    assert other_seed.data_hash != full.data_hash


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_coin_is_balanced(seed: int) -> None:
    n_pairs = 4000
    share = sum(chosen_is_a(seed, f"row-{i}") for i in range(n_pairs)) / n_pairs
    assert abs(share - 0.5) < 4 * (0.25 / n_pairs) ** 0.5  # four standard errors


def test_coin_follows_the_pair_id_not_the_position(tmp_path: Path) -> None:
    rows = [{"id": f"p{i}", "prompt": "q", "chosen": f"c{i}", "rejected": f"r{i}"} for i in range(60)]
    forward = read_pairs(str(write_jsonl(tmp_path / "f.jsonl", rows)))
    backward = read_pairs(str(write_jsonl(tmp_path / "b.jsonl", rows[::-1])))
    assert {l.pair_id: l.preferred for l in forward.labels} == {l.pair_id: l.preferred for l in backward.labels}


# --------------------------------------------------------------------------- bad input


def bad_jsonl(tmp_path: Path, broken: str, schema: str = "native") -> Path:
    good = {
        "native": {"id": "ok", "context": "q", "a": "x", "b": "y"},
        "preference": {"prompt": "q", "chosen": "x", "rejected": "y"},
    }[schema]
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n" + broken + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("broken", "field", "message"),
    [
        ('{"id": "x", "context": "q", "a": "x"}', "b", "is missing"),
        ('{"id": "x", "context": "q", "a": "x", "b": null}', "b", "is null"),
        ('{"id": "x", "context": "q", "a": "x", "b": 3}', "b", "must be a string, got int"),
        ('{"id": "x", "context": 5, "a": "x", "b": "y"}', "context", "must be a string or a list"),
        ('{"id": "x", "context": [{"role": "bot", "content": "q"}], "a": "x", "b": "y"}', "context[0].role", "unknown role 'bot'"),
        ('{"id": "x", "context": "", "a": "x", "b": "y"}', "context", "is empty"),
        ('{"id": "ok", "context": "q", "a": "x", "b": "y"}', "id", "duplicate id 'ok' (first at line 1)"),
        ('{"id": "", "context": "q", "a": "x", "b": "y"}', "id", "is empty"),
        ('{"id": "x", "context": "q", "a": "x", "b": "y", "preferred": "A+"}', "preferred", "unknown value 'A+'; valid values: a, b, tie"),
        ('{"id": "x", "context": "q", "a": "x", "b": "y", "preferred": 1}', "preferred", "valid values: a, b, tie"),
        ('{"id": "x", "context": "q", "a": "x", "b": "y", "labels": [{"annotator": "h", "preferred": "c"}]}', "labels[0].preferred", "unknown value 'c'"),
        ('{"id": "x", "context": "q", "a": "x", "b": "y", "labels": [{"preferred": "a"}]}', "labels[0].annotator", "is missing"),
        ('{"id": "x", "context": "q", "a": "x", "b": "y", "labels": [{"annotator": "h", "preferred": "a"}, {"annotator": "h", "preferred": "b"}]}', "labels", "more than once"),
        ('{"id": "x", "context": "q", "a": "x", "b": "y", "metadata": [1]}', "metadata", "must be an object"),
    ],
)
def test_bad_native_rows_name_file_line_and_field(tmp_path: Path, broken: str, field: str, message: str) -> None:
    path = bad_jsonl(tmp_path, broken)
    with pytest.raises(InputError) as caught:
        read_pairs(str(path))
    text = str(caught.value)
    assert text.startswith(f"{path}:2: field '{field}':"), text
    assert message in text
    assert (caught.value.line, caught.value.field) == (2, field)


@pytest.mark.parametrize(
    ("broken", "field", "message"),
    [
        ('{"prompt": "q", "chosen": "x"}', "rejected", "is missing"),
        ('{"prompt": "q", "chosen": [], "rejected": "y"}', "chosen", "non-empty list of messages"),
        ('{"prompt": "q", "chosen": [{"role": "user", "content": "x"}], "rejected": "y"}', "chosen[0].role", "must be the assistant's reply"),
        ('{"prompt": "q", "chosen": {"text": "x"}, "rejected": "y"}', "chosen", "got an object"),
    ],
)
def test_bad_preference_rows_name_file_line_and_field(tmp_path: Path, broken: str, field: str, message: str) -> None:
    path = bad_jsonl(tmp_path, broken, schema="preference")
    with pytest.raises(InputError, match=r"bad\.jsonl:2: field ") as caught:
        read_pairs(str(path))
    assert caught.value.field == field and message in str(caught.value)


def test_implicit_strings_must_be_hh_transcripts(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"chosen": "Paris.", "rejected": "Lyon."}])
    with pytest.raises(InputError, match=r"p\.jsonl:1: field 'chosen': .*HH-RLHF transcripts"):
        read_pairs(str(path))


@pytest.mark.parametrize(
    ("line", "message"),
    [("{not json", "is not valid JSON"), ('["a", "b"]', "is a JSON list, not an object")],
)
def test_broken_jsonl_line(tmp_path: Path, line: str, message: str) -> None:
    path = bad_jsonl(tmp_path, line)
    with pytest.raises(InputError, match=rf"bad\.jsonl:2: the line {message}"):
        read_pairs(str(path))


def test_invalid_utf8_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"id": "1", "context": "q", "a": "x", "b": "y"}\n{"id": "2", "context": "\xff"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2: the line is not UTF-8 \(invalid start byte at byte 72 of the file\)"):
        read_pairs(str(path))


def test_broken_gzip_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(InputError, match=r"pairs\.jsonl\.gz: cannot read the file"):
        read_pairs(str(path))


def test_csv_errors_give_the_file_line_and_data_row(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text('id,context,a,b\n1,"multi\nline question",x,y\n2,q,x,7\n3,q,,y\n4,q,x\n', encoding="utf-8")
    skipped = read_pairs(str(path), on_error="skip")
    assert [pair.id for pair in skipped.pairs] == ["1", "2", "3"]  # '7' is a string in CSV; '' an empty response
    assert skipped.skipped[0]["line"] == 6 and "has 3 fields but the header has 4" in skipped.skipped[0]["message"]
    assert "(data row 3, counting from 0)" in skipped.skipped[0]["message"]
    assert any(w.startswith("1 pair has an empty response") for w in skipped.warnings)
    with pytest.raises(InputError, match=r"pairs\.csv:6: the line has 3 fields"):
        read_pairs(str(path))


def test_csv_missing_column_fails_at_the_header(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("id,context,a\n1,q,x\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"pairs\.csv:1: field 'b': no column 'b'"):
        read_pairs(str(path), on_error="skip")


def test_parquet_errors_name_the_row(tmp_path: Path) -> None:
    records = [{"id": "1", "context": "q", "a": "x", "b": "y"}, {"id": "2", "context": "q", "a": None, "b": "y"}]
    path = write_parquet(tmp_path / "pairs.parquet", records)
    with pytest.raises(InputError) as caught:
        read_pairs(str(path))
    assert str(caught.value) == f"{path}: field 'a': is null (row 1, counting from 0)"


def test_unknown_schema_lists_the_expected_ones(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"question": "q", "answer": "x"}])
    with pytest.raises(InputError, match=r"p\.jsonl:1: cannot tell the schema .* expected native"):
        read_pairs(str(path))


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(InputError, match=r"unsupported file type; supported: \.jsonl"):
        read_pairs(str(tmp_path / "p.txt"))
    with pytest.raises(InputError, match=r"no such file"):
        read_pairs(str(tmp_path / "absent.jsonl"))


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"on_error must be one of: fail, skip"):
        read_pairs("demo", on_error="ignore")
    with pytest.raises(ConfigError, match=r"data_dir applies only"):
        read_pairs(str(demo_path()), data_dir="harmless-base")


def test_skip_counts_every_bad_row_and_keeps_the_rest(tmp_path: Path) -> None:
    lines = [
        '{"id": "1", "context": "q", "a": "x", "b": "y"}',
        "{broken",
        '{"id": "1", "context": "q", "a": "x", "b": "z"}',
        '{"id": "3", "context": "q", "a": "x", "b": "y", "preferred": "maybe"}',
        '{"id": "4", "context": "q", "a": "x", "b": "y"}',
        '{"id": "5", "context": "q", "a": "x", "b": "y"}',
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    pair_set = read_pairs(str(path), on_error="skip")
    assert [pair.id for pair in pair_set.pairs] == ["1", "4", "5"]
    assert [(item["line"], item["field"]) for item in pair_set.skipped] == [(2, None), (3, "id"), (4, "preferred")]
    assert pair_set.summary()["n_skipped"] == 3
    assert any(w.startswith("skipped 3 bad rows (on_error='skip')") for w in pair_set.warnings)
    assert [pair.id for pair in read_pairs(str(path), on_error="skip", limit=2).pairs] == ["1", "4"]


# --------------------------------------------------------------------------- human-label files


def test_human_label_csv_several_annotators() -> None:
    labels = read_human_labels(DATA / "human_labels.csv")
    assert [(l.pair_id, l.preferred, l.annotator) for l in labels] == [
        ("n1", "a", "ann1"),
        ("n1", "b", "ann2"),
        ("n2", "tie", "ann1"),
        ("n4", "b", "human"),
    ]
    check_label_ids(labels, read_pairs(str(DATA / "native_pairs.jsonl")).pairs, str(DATA / "human_labels.csv"))


def test_human_labels_for_unknown_pairs_are_an_error() -> None:
    labels = read_human_labels(DATA / "human_labels.csv")
    with pytest.raises(InputError, match=r"field 'pair_id': 3 pair id\(s\) not in the pairs: n1, n2, n4"):
        check_label_ids(labels, read_pairs("demo").pairs, "human_labels.csv")


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ({"pair_id": "p2", "preferred": "2"}, "preferred", "unknown value '2'; valid values: a, b, tie"),
        ({"pair_id": "p1", "preferred": "b", "annotator": "x"}, "annotator", "annotator 'x' already labeled pair 'p1' at line 1"),
        ({"preferred": "a"}, "pair_id", "is missing"),
        ({"pair_id": "p3"}, "preferred", "is missing"),
        ({"pair_id": "p3", "preferred": "a", "annotator": ""}, "annotator", "must be a non-empty string"),
    ],
)
def test_bad_human_label_lines(tmp_path: Path, line: dict[str, Any], field: str, message: str) -> None:
    path = write_jsonl(tmp_path / "human.jsonl", [{"pair_id": "p1", "preferred": "a", "annotator": "x"}, line])
    with pytest.raises(InputError) as caught:
        read_human_labels(path)
    assert str(caught.value).startswith(f"{path}:2: field '{field}':") and message in str(caught.value)


def test_human_labels_skip_and_ignored_columns(tmp_path: Path) -> None:
    path = tmp_path / "human.csv"
    path.write_text("pair_id,preferred,annotator,comment\np1,a,x,fine\np1,a,x,again\np2,none,x,?\np3,TIE,y,\n")
    labels = read_human_labels(path, on_error="skip")
    assert [(l.pair_id, l.preferred) for l in labels] == [("p1", "a"), ("p3", "tie")]
    assert [item["line"] for item in labels.skipped] == [3, 4]
    assert labels.warnings[0] == f"{path}: ignored fields ['comment']"
    assert labels.warnings[1].startswith("skipped 2 bad rows")


def test_human_label_csv_without_preferred_column(tmp_path: Path) -> None:
    path = tmp_path / "human.csv"
    path.write_text("pair_id,label\np1,a\n")
    with pytest.raises(InputError, match=r"human\.csv:1: field 'preferred': no column 'preferred'"):
        read_human_labels(path)


# --------------------------------------------------------------------------- the real HH-RLHF harmless test split


@needs_hh
def test_real_hh_file_reads_whole_with_counted_quirks() -> None:
    pair_set = read_pairs(str(HH_TEST))
    assert len(pair_set.pairs) == 2023 and len(pair_set.labels) == 2023 and pair_set.skipped == []
    empty = [p.id for p in pair_set.pairs if not p.a.strip() or not p.b.strip()]
    differ = [p.id for p in pair_set.pairs if "context_b" in p.metadata]
    assert empty == ["row-76", "row-452", "row-810"]
    assert differ == ["row-1098", "row-1477", "row-1707", "row-1708", "row-1782"]
    assert pair_set.warnings[0].startswith("3 pairs have an empty response")
    assert pair_set.warnings[1].startswith("5 pairs have different conversations")
    assert len(pair_set.warnings) == 2
    a_chosen = Counter(label.preferred for label in pair_set.labels)["a"] / 2023
    assert abs(a_chosen - 0.5) < 4 * (0.25 / 2023) ** 0.5
    assert all(p.context[0]["role"] == "user" and p.context[-1]["role"] in ("user", "assistant") for p in pair_set.pairs)


@needs_hh
def test_real_hh_limit_keeps_the_same_assignments() -> None:
    full = read_pairs(str(HH_TEST))
    head = read_pairs(str(HH_TEST), limit=100)
    assert head.pairs == full.pairs[:100] and head.labels == full.labels[:100]
    assert head.warnings == ["1 pair has an empty response (kept: an empty reply is a real, bad response): row-76"]
