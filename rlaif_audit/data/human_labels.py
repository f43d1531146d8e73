"""Read human-label files (``--human``: pair_id, preferred, optional annotator) from JSONL, CSV or Parquet."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterable

from rlaif_audit.data.schemas import annotator_name, parse_preferred, required
from rlaif_audit.data.sources import (
    Row,
    RowError,
    Source,
    check_on_error,
    id_preview,
    open_file,
    require_columns,
    row_error,
    row_where,
    skip_warnings,
)
from rlaif_audit.errors import InputError
from rlaif_audit.records.types import HumanLabel, PreferencePair

LABEL_FIELDS = ("pair_id", "preferred", "annotator")
DEFAULT_ANNOTATOR = "human"


class HumanLabels(list[HumanLabel]):
    """A ``list[HumanLabel]`` that also carries the skipped rows and warnings of its file."""

    def __init__(self, labels: Iterable[HumanLabel] = (), source: str = "") -> None:
        super().__init__(labels)
        self.source = source
        self.skipped: list[dict[str, Any]] = []
        self.warnings: list[str] = []


def read_human_labels(path: str | Path, on_error: str = "fail") -> HumanLabels:
    """Read a human-label file (JSONL, CSV or Parquet: pair_id, preferred, optional annotator)."""
    check_on_error(on_error)
    opened = open_file(Path(path), str(path))
    if opened.columns is not None:
        require_columns(opened, (("pair_id",), ("preferred",)))
    reader = LabelReader(opened, on_error)
    with contextlib.closing(opened.rows):
        for row in opened.rows:
            reader.add(row)
    return reader.result()


def check_label_ids(labels: Iterable[HumanLabel], pairs: Iterable[PreferencePair], path: str) -> None:
    """Raise an InputError if a label names a pair id that the pairs do not have."""
    known = {pair.id for pair in pairs}
    unknown = sorted({label.pair_id for label in labels} - known)
    if unknown:
        raise InputError(path, f"{len(unknown)} pair id(s) not in the pairs: {id_preview(unknown)}", field="pair_id")


class LabelReader:
    """Turns the rows of a human-label file into labels, collecting skips and warnings."""

    def __init__(self, opened: Source, on_error: str) -> None:
        self.source = opened
        self.on_error = on_error
        self.labels = HumanLabels(source=opened.display)
        self.seen: dict[tuple[str, str], str] = {}
        self.ignored: set[str] = set(opened.columns or ()) - set(LABEL_FIELDS)

    def add(self, row: Row) -> None:
        """Read one row into a label, or fail / skip it."""
        try:
            if row.problem is not None or row.record is None:
                raise RowError(None, f"the line {row.problem}")
            self._add_label(row, row.record)
        except RowError as exc:
            error = row_error(self.source, row, exc)
            if self.on_error == "fail":
                raise error from None
            self.labels.skipped.append({"row": row.index, "line": row.line, "field": exc.field, "message": str(error)})

    def _add_label(self, row: Row, record: dict[str, Any]) -> None:
        self.ignored |= set(record) - set(LABEL_FIELDS)
        pair_id = _label_pair_id(record)
        preferred = parse_preferred(required(record, "preferred"))
        annotator = annotator_name(record.get("annotator"), "annotator", DEFAULT_ANNOTATOR)
        key = (pair_id, annotator)
        if key in self.seen:
            raise RowError("annotator", f"annotator {annotator!r} already labeled pair {pair_id!r} at {self.seen[key]}")
        self.seen[key] = row_where(row)
        self.labels.append(HumanLabel(pair_id, preferred, annotator))  # type: ignore[arg-type]

    def result(self) -> HumanLabels:
        """The labels with their warnings."""
        if self.ignored:
            self.labels.warnings.append(f"{self.source.display}: ignored fields {sorted(self.ignored)}")
        self.labels.warnings.extend(skip_warnings(self.labels.skipped))
        return self.labels


def _label_pair_id(record: dict[str, Any]) -> str:
    value = required(record, "pair_id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise RowError("pair_id", f"must be a non-empty string or integer, got {value!r}")
    return str(value)
