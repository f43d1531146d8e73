"""Provenance: stable hashes of objects and files, model weights and tokenizer hashes, library versions."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from rlaif_audit.errors import ConfigError, InputError
from rlaif_audit.records.fileio import atomic_write_json, read_json

if TYPE_CHECKING:
    from rlaif_audit.records.types import HumanLabel, PreferencePair

CORE_DISTRIBUTIONS = ("rlaif-audit", "torch", "transformers", "trl", "gguf")
"""The distributions whose versions change an evaluator's numbers."""
HASH_FILE = ".rlaif-audit-weights-hash.json"
"""The per-folder cache of weight-file hashes, keyed by file name (size and mtime decide when to rehash)."""
TOKENIZER_FILE_PREFIXES = ("tokenizer", "special_tokens_map", "vocab", "merges", "added_tokens", "chat_template")
TOKENIZER_FILE_SUFFIXES = (".jinja", ".model", ".tiktoken")


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short sha256 of the canonical JSON of ``obj``."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def ab_hash(a: str, b: str) -> str:
    """The A/B hash of one pair: its two response texts in the slots the judge saw them, A then B."""
    return stable_hash({"a": a, "b": b})


def pair_content(pair: PreferencePair) -> dict[str, Any]:
    """What of a pair the judge sees: id, context, A, B (and B's own context when the two differ)."""
    content = {"id": pair.id, "context": pair.context, "a": pair.a, "b": pair.b}
    if "context_b" in pair.metadata:
        content["context_b"] = pair.metadata["context_b"]
    return content


def data_hash(pairs: Iterable[PreferencePair]) -> str:
    """sha256 of the judged pairs' content (:func:`pair_content`), in pair-id order.

    The one data hash: `label` prints it and writes it on each judgment, the report records it for the pairs it
    audits, so labeling and auditing the same pairs give the same hash in any file format and any row order.
    """
    return _lines_hash(pair_content(pair) for pair in sorted(pairs, key=lambda pair: pair.id))


def labels_hash(labels: Iterable[HumanLabel]) -> str:
    """sha256 of human labels (pair id, preferred, annotator), in pair-id order (stable within a pair)."""
    return _lines_hash(label.to_dict() for label in sorted(labels, key=lambda label: label.pair_id))


def _lines_hash(records: Iterable[Any]) -> str:
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class LabelProvenance:
    """What a labeling run writes on each judgment: the A/B seed, the pairs' data hash, each pair's A/B hash."""

    ab_seed: int | None
    data_hash: str
    ab_hashes: dict[str, str]

    @classmethod
    def of(cls, pairs: Iterable[PreferencePair], ab_seed: int | None) -> LabelProvenance:
        """The provenance of labeling ``pairs`` (A and B as the A/B coin of ``ab_seed`` placed them)."""
        pairs = list(pairs)
        return cls(ab_seed, data_hash(pairs), {pair.id: ab_hash(pair.a, pair.b) for pair in pairs})


def library_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of Python and the libraries that change an evaluator's numbers (plus ``extra`` ones)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for dist in CORE_DISTRIBUTIONS + extra:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "absent"
    return versions


def sha256_file(path: Path | str) -> str:
    """sha256 of a file's bytes (all 64 hex digits), read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hash(path: Path | str) -> str:
    """sha256 of a file's bytes (first 16 hex digits)."""
    return sha256_file(path)[:16]


def weights_hash(path: str | os.PathLike[str]) -> str:
    """sha256 over a model folder's safetensors files; cached beside them and recomputed only when they change."""
    folder = Path(path)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ConfigError(f"Model folder {folder} has no .safetensors files to hash.")
    cache_file = folder / HASH_FILE
    try:
        cached = read_json(cache_file)
    except (OSError, ValueError, InputError):
        cached = {}
    cached = cached if isinstance(cached, dict) else {}
    entries = {f.name: _hash_entry(f, cached.get(f.name)) for f in files}
    if entries != cached:
        try:
            atomic_write_json(cache_file, entries)
        except OSError:
            pass  # a read-only model folder: hash again next time
    lines = "".join(f"{name}:{entry['sha256']}\n" for name, entry in entries.items())
    return hashlib.sha256(lines.encode()).hexdigest()


def tokenizer_hash(path: str | os.PathLike[str]) -> str:
    """sha256 over a model folder's tokenizer and chat-template files (they change the prompt's tokens)."""
    digest = hashlib.sha256()
    for file in sorted(Path(path).iterdir()):
        if file.name.startswith(TOKENIZER_FILE_PREFIXES) or file.suffix in TOKENIZER_FILE_SUFFIXES:
            digest.update(f"{file.name}:{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def _hash_entry(file: Path, cached: dict[str, Any] | None) -> dict[str, Any]:
    stat = file.stat()
    if cached and cached.get("size") == stat.st_size and cached.get("mtime_ns") == stat.st_mtime_ns:
        return cached
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_file(file)}
