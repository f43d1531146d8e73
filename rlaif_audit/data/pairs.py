"""Read preference pairs (and the human labels they carry) from any source: the pair set, its hash, the A/B coin."""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from rlaif_audit.data.schemas import (
    REQUIRED,
    Sides,
    chosen_rejected_sides,
    detect_schema,
    native_sides,
    row_metadata,
    row_pair_id,
)
from rlaif_audit.data.sources import (
    Row,
    RowError,
    Source,
    check_on_error,
    id_preview,
    open_source,
    require_columns,
    row_error,
    row_where,
    skip_warnings,
)
from rlaif_audit.errors import ConfigError
from rlaif_audit.records.provenance import data_hash
from rlaif_audit.records.types import HumanLabel, PreferencePair

@dataclass
class PairSet:
    """Pairs read from one source, their human labels, and what the reader noticed.

    ``data_hash`` is :func:`rlaif_audit.records.provenance.data_hash` of the pairs (labels are hashed apart, in the
    report's ``data.labels_hash``).
    """

    pairs: list[PreferencePair]
    labels: list[HumanLabel]
    source: str
    data_hash: str
    skipped: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schema: str = ""
    ab_seed: int | None = None
    """The seed of the A/B coin that placed chosen and rejected in A and B; None when the source fixes A and B."""

    def summary(self) -> dict[str, Any]:
        """Counts for a command's summary line or a report's provenance."""
        return {
            "source": self.source,
            "schema": self.schema,
            "n_pairs": len(self.pairs),
            "n_labels": len(self.labels),
            "n_skipped": len(self.skipped),
            "data_hash": self.data_hash,
            "warnings": list(self.warnings),
        }


def read_pairs(
    source: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    limit: int | None = None,
    on_error: str = "fail",
    split: str = "test",
    data_dir: str | None = None,
) -> PairSet:
    """Read preference pairs (and any human labels they carry) from a file, folder, ``hf://`` id or ``demo``."""
    check_on_error(on_error)
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be 0 or more (got {limit})")
    opened = open_source(source, split=split, data_dir=data_dir)
    builder = PairBuilder(opened, seed=seed, on_error=on_error)
    with contextlib.closing(opened.rows):
        for row in opened.rows:
            if limit is not None and len(builder.pairs) >= limit:
                break
            builder.add(row)
    return builder.result()


def chosen_is_a(seed: int, pair_id: str) -> bool:
    """The seeded per-pair coin that puts the chosen response in slot A (stable under --limit)."""
    return hashlib.sha256(f"{seed}:{pair_id}".encode()).digest()[0] < 128


def pair_warnings(pairs: Sequence[PreferencePair]) -> list[str]:
    """Warnings, with counts and ids, about real-data quirks that are kept: empty replies, differing contexts."""
    empty = [p.id for p in pairs if not p.a.strip() or not p.b.strip()]
    differ = [p.id for p in pairs if "context_b" in p.metadata]
    same = [p.id for p in pairs if p.a == p.b]
    notes = []
    if empty:
        notes.append(f"{_count(empty)} an empty response (kept: an empty reply is a real, bad response): "
                     f"{id_preview(empty)}")
    if differ:
        notes.append(f"{_count(differ)} different conversations before the two replies (kept: context is the one A "
                     f"answers, metadata['context_b'] the one B answers): {id_preview(differ)}")
    if same:
        notes.append(f"{_count(same)} identical responses: {id_preview(same)}")
    return notes


def _count(pair_ids: list[str]) -> str:
    return "1 pair has" if len(pair_ids) == 1 else f"{len(pair_ids)} pairs have"


class PairBuilder:
    """Turns the rows of one source into pairs and labels, collecting skips and warnings."""

    def __init__(self, opened: Source, *, seed: int, on_error: str) -> None:
        self.source = opened
        self.seed = seed
        self.on_error = on_error
        self.pairs: list[PreferencePair] = []
        self.labels: list[HumanLabel] = []
        self.skipped: list[dict[str, Any]] = []
        self.seen: dict[str, str] = {}
        self.schema: str | None = None
        self.id_column = False
        if opened.columns is not None:
            self._set_schema(opened.columns, 1 if opened.kind == "csv" else None)
            require_columns(opened, REQUIRED[self.schema or ""])

    def _set_schema(self, columns: Iterable[str], line: int | None) -> None:
        columns = list(columns)
        self.schema = detect_schema(columns, self.source.display, line)
        self.id_column = "id" in columns

    def add(self, row: Row) -> None:
        """Read one row into a pair, or fail / skip it."""
        try:
            if row.problem is not None or row.record is None:
                raise RowError(None, f"the line {row.problem}")
            if self.schema is None:
                self._set_schema(row.record, row.line)
            self._add_pair(row, row.record)
        except RowError as exc:
            self._reject(row, exc)

    def _add_pair(self, row: Row, record: dict[str, Any]) -> None:
        pair_id = row_pair_id(record, row.index, self.id_column)
        if pair_id in self.seen:
            raise RowError("id", f"duplicate id {pair_id!r} (first at {self.seen[pair_id]})")
        sides = self._sides(record, pair_id)
        metadata = {**row_metadata(record, self.schema or ""), "source_row": row.index}
        if sides.context_b != sides.context_a:
            metadata["context_b"] = sides.context_b
        self.seen[pair_id] = row_where(row)
        self.pairs.append(PreferencePair(pair_id, sides.context_a, sides.a, sides.b, metadata))
        self.labels.extend(HumanLabel(pair_id, preferred, annotator) for preferred, annotator in sides.labels)

    def _sides(self, record: dict[str, Any], pair_id: str) -> Sides:
        if self.schema == "native":
            return native_sides(record)
        return chosen_rejected_sides(record, self.schema or "", chosen_is_a(self.seed, pair_id))

    def _reject(self, row: Row, exc: RowError) -> None:
        error = row_error(self.source, row, exc)
        if self.on_error == "fail":
            raise error from None
        self.skipped.append({"row": row.index, "line": row.line, "field": exc.field, "message": str(error)})

    def result(self) -> PairSet:
        """The pair set with its hash and warnings."""
        return PairSet(
            pairs=self.pairs,
            labels=self.labels,
            source=self.source.display,
            data_hash=data_hash(self.pairs),
            skipped=self.skipped,
            warnings=self._warnings(),
            schema=self.schema or "",
            ab_seed=None if self.schema == "native" else self.seed,
        )

    def _warnings(self) -> list[str]:
        return pair_warnings(self.pairs) + skip_warnings(self.skipped)
