"""Provenance (records.provenance) and JSON files (records.fileio): known hashes, and JSONL that round-trips."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rlaif_audit.errors import InputError
from rlaif_audit.records import fileio, provenance


def test_stable_hash_is_the_sha256_of_canonical_json() -> None:
    canonical = b'{"a":[1,2],"b":"x"}'
    assert provenance.stable_hash({"b": "x", "a": [1, 2]}) == hashlib.sha256(canonical).hexdigest()[:16]
    assert provenance.stable_hash({"a": [1, 2], "b": "x"}, length=64) == hashlib.sha256(canonical).hexdigest()


def test_file_hashes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    blob = bytes(range(256)) * 40_000  # over one 4 MiB block: the blocks are chained
    path.write_bytes(blob)
    assert provenance.sha256_file(path) == hashlib.sha256(blob).hexdigest()
    assert provenance.file_hash(path) == hashlib.sha256(blob).hexdigest()[:16]


def test_tokenizer_hash_follows_the_tokenizer_files_only(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"w")
    first = provenance.tokenizer_hash(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    assert provenance.tokenizer_hash(tmp_path) == first
    (tmp_path / "chat_template.jinja").write_text("{{ messages }}")
    assert provenance.tokenizer_hash(tmp_path) != first


def test_library_versions_name_python_and_the_core_libraries() -> None:
    versions = provenance.library_versions(extra=("no-such-distribution-xyz",))
    assert set(provenance.CORE_DISTRIBUTIONS) | {"python", "no-such-distribution-xyz"} == set(versions)
    assert versions["no-such-distribution-xyz"] == "absent"


def test_jsonl_round_trips_text_with_unicode_line_separators(tmp_path: Path) -> None:
    rows = [{"text": "one\u2028two\u2029three\x85four\rfive", "n": 1}, {"text": "é", "n": 2}]
    path = tmp_path / "rows.jsonl"
    fileio.write_jsonl(path, rows)
    assert fileio.read_jsonl(path) == rows
    fileio.append_jsonl(path, [{"n": 3}])
    assert [row["n"] for row in fileio.read_jsonl(path)] == [1, 2, 3]
    assert path.read_text(encoding="utf-8").count("\n") == 3


def test_bad_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"n": 1}\n\n{"n": \n')
    with pytest.raises(InputError, match=r"bad\.jsonl:3: not valid JSON"):
        fileio.read_jsonl(path)
    whole = tmp_path / "bad.json"
    whole.write_text('{\n  "a": 1,\n  "b": \n}')
    with pytest.raises(InputError, match=r"bad\.json:4: not valid JSON"):
        fileio.read_json(whole)
    whole.write_text(json.dumps({"a": [1]}))
    assert fileio.read_json(whole) == {"a": [1]}
