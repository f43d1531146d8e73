"""Read human-label files (``--human``: pair_id, preferred, optional annotator) from JSONL, CSV or Parquet, and the
answers to a review queue (the same files with a ``human_choice`` column, or a Label Studio JSON export)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from rlaif_audit.data.schemas import PREFERRED_VALUES, annotator_name, parse_preferred, required
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

ANSWER_FIELD = "human_choice"
"""The review-answer column (review_tasks.csv / .jsonl): one of ``PREFERRED_VALUES`` (any case), blank = unanswered."""
LABEL_FIELDS = ("pair_id", "preferred", ANSWER_FIELD, "annotator")
DEFAULT_ANNOTATOR = "human"
LABEL_STUDIO_CHOICES = {"A": "a", "B": "b", "Tie": "tie"}
"""The ``<Choice>`` values of the Label Studio config rlaif-audit writes → the preferred value each stands for."""
LABEL_STUDIO_CONTROL = "human_choice"
"""The ``name`` of the ``<Choices>`` control in that config (``from_name`` of each result in the export)."""
UNANSWERED_CHOICES = ("fail", "skip")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make a spreadsheet read a CSV cell as a formula (OWASP, "CSV Injection")."""
REVIEW_TASK_FIELDS = ("rank", "prompt", "response_a", "response_b", "p_a", "reason")
"""The other columns of review_tasks.csv / .jsonl: read past without an 'ignored fields' warning."""


class HumanLabels(list[HumanLabel]):
    """A ``list[HumanLabel]`` that also carries the skipped rows and warnings of its file."""

    def __init__(self, labels: Iterable[HumanLabel] = (), source: str = "") -> None:
        super().__init__(labels)
        self.source = source
        self.skipped: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.unanswered: list[str] = []


def read_human_labels(path: str | Path, on_error: str = "fail", *, queue: Mapping[str, tuple[str, str]] | None = None,
                      unanswered: str = "fail", annotator: str = DEFAULT_ANNOTATOR) -> HumanLabels:
    """Read a human-label file: JSONL, CSV or Parquet (pair_id, ``preferred`` or ``human_choice``, optional
    annotator), or a Label Studio JSON export of the review tasks (``.json``).

    ``queue``: the review queue's pair ids → their (A, B) texts; a label for any other pair is an error, and so is a
    row whose ``response_a`` / ``response_b`` differ from them (swapped or edited in the tool). ``unanswered``: ``fail``
    (a blank answer is an error) or ``skip`` (its pair id goes to ``.unanswered``). ``annotator``: the name of
    rows that give none.
    """
    check_on_error(on_error)
    if unanswered not in UNANSWERED_CHOICES:
        raise ValueError(f"unanswered must be one of {UNANSWERED_CHOICES}, got {unanswered!r}")
    opened = open_label_file(Path(path), str(path))
    if opened.columns is not None:
        require_columns(opened, (("pair_id",), ("preferred", ANSWER_FIELD)))
    reader = LabelReader(opened, on_error, queue=queue, unanswered=unanswered, annotator=annotator)
    with contextlib.closing(opened.rows):
        for row in opened.rows:
            reader.add(row)
    return reader.result()


def is_label_file(path: str | Path, first: dict[str, Any] | None = None) -> bool:
    """True for a file :func:`read_human_labels` reads: CSV/Parquet, a Label Studio export, or JSON(L) records
    with ``pair_id`` and ``preferred`` or ``human_choice`` (``first``: its first record, when JSON)."""
    from rlaif_audit.data.sources import CSV_SUFFIXES, PARQUET_SUFFIXES

    if Path(path).name.lower().endswith((*CSV_SUFFIXES, *PARQUET_SUFFIXES)):
        return True
    if first is None:
        return False
    return is_label_studio_task(first) or ("pair_id" in first and bool({"preferred", ANSWER_FIELD} & set(first)))


def is_label_studio_task(record: dict[str, Any]) -> bool:
    """A Label Studio task of the review export: a ``data`` object holding ``pair_id``."""
    data = record.get("data")
    return isinstance(data, dict) and "pair_id" in data


def open_label_file(path: Path, display: str) -> Source:
    """The rows of a label file; in a JSON file, each Label Studio task becomes one row per submitted annotation
    (one without an answer when there is none), each on the line where its task starts."""
    opened = open_file(path, display)
    if opened.kind != "json":
        return opened
    return Source(display, opened.kind, None, _label_studio_rows(opened.rows))


def _label_studio_rows(rows: Iterator[Row]) -> Iterator[Row]:
    index = 0
    for row in rows:
        if row.record is None or not is_label_studio_task(row.record):
            yield Row(index, row.line, row.record, row.problem)
            index += 1
            continue
        for record in _task_answers(row.record):
            yield Row(index, row.line, record)
            index += 1


def _task_answers(task: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat record per submitted annotation of a task (``annotations``; ``completions`` in Label Studio
    before 1.0), skipping cancelled ones; one record with no answer when there is none."""
    pair_id = task["data"]["pair_id"]
    annotations = task.get("annotations", task.get("completions")) or []
    if not isinstance(annotations, list):
        return [{"pair_id": pair_id, ANSWER_FIELD: _BadAnswer("'annotations' must be a list")}]
    records = []
    for annotation in annotations:
        if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
            continue
        records.append({"pair_id": pair_id, ANSWER_FIELD: _choice_of(annotation),
                        "annotator": _label_studio_annotator(annotation)})
    return records or [{"pair_id": pair_id, ANSWER_FIELD: None}]


class _BadAnswer(str):
    """A Label Studio annotation whose result cannot be read: the reason, reported as the answer's error."""


def _choice_of(annotation: dict[str, Any]) -> Any:
    results = annotation.get("result")
    if not isinstance(results, list):
        return _BadAnswer("the annotation has no 'result' list")
    picked = [item.get("value") for item in results if isinstance(item, dict)
              and item.get("type") == "choices" and item.get("from_name", LABEL_STUDIO_CONTROL) == LABEL_STUDIO_CONTROL]
    if not picked:
        others = sorted({str(item.get("from_name")) for item in results if isinstance(item, dict)})
        if others:
            return _BadAnswer(f"no result of the control {LABEL_STUDIO_CONTROL!r} (the annotation has {others}); "
                              "label with the config review export wrote (label_studio_config.xml)")
        return None
    choices = picked[0].get("choices") if isinstance(picked[0], dict) else None
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
        return _BadAnswer(f"expected a 'choices' result with exactly one choice, got {picked[0]!r}")
    return LABEL_STUDIO_CHOICES.get(choices[0], choices[0])


def _label_studio_annotator(annotation: dict[str, Any]) -> str | None:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return None if who is None or who == "" else f"label-studio:{who}"


def check_label_ids(labels: Iterable[HumanLabel], pairs: Iterable[PreferencePair], path: str) -> None:
    """Raise an InputError if a label names a pair id that the pairs do not have."""
    known = {pair.id for pair in pairs}
    unknown = sorted({label.pair_id for label in labels} - known)
    if unknown:
        raise InputError(path, f"{len(unknown)} pair id(s) not in the pairs: {id_preview(unknown)}", field="pair_id")


class LabelReader:
    """Turns the rows of a human-label file into labels, collecting skips and warnings."""

    def __init__(self, opened: Source, on_error: str, *, queue: Mapping[str, tuple[str, str]] | None = None,
                 unanswered: str = "fail", annotator: str = DEFAULT_ANNOTATOR) -> None:
        self.source = opened
        self.on_error = on_error
        self.queue = queue
        self.unanswered = unanswered
        self.annotator = annotator
        self.labels = HumanLabels(source=opened.display)
        self.seen: dict[tuple[str, str], str] = {}
        self.ignored: set[str] = set(opened.columns or ()) - set(LABEL_FIELDS) - set(REVIEW_TASK_FIELDS)

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
        self.ignored |= set(record) - set(LABEL_FIELDS) - set(REVIEW_TASK_FIELDS)
        pair_id = _label_pair_id(record)
        if self.queue is not None:
            _check_against_queue(record, pair_id, self.queue)
        field_name = "preferred" if "preferred" in record or ANSWER_FIELD not in record else ANSWER_FIELD
        answer = record.get(field_name) if field_name == ANSWER_FIELD else required(record, field_name)
        if isinstance(answer, _BadAnswer):
            raise RowError(field_name, str(answer))
        if answer is None or (isinstance(answer, str) and not answer.strip()):
            if self.unanswered == "skip":
                self.labels.unanswered.append(pair_id)
                return
            raise RowError(field_name, f"no answer for pair {pair_id!r}; fill in one of "
                           f"{', '.join(PREFERRED_VALUES)} (or skip unanswered pairs: --skip-unanswered)")
        preferred = parse_preferred(answer, field_name)
        who = record.get("annotator")
        if field_name == ANSWER_FIELD and isinstance(who, str) and not who.strip():
            who = None  # the review tasks leave the annotator column blank for the labeler
        annotator = annotator_name(who, "annotator", self.annotator)
        key = (pair_id, annotator)
        if key in self.seen:
            raise RowError("annotator", f"annotator {annotator!r} already labeled pair {pair_id!r} at {self.seen[key]}")
        self.seen[key] = row_where(row)
        self.labels.append(HumanLabel(pair_id, preferred, annotator))  # type: ignore[arg-type]

    def result(self) -> HumanLabels:
        """The labels with their warnings."""
        if self.labels.unanswered:
            self.labels.warnings.append(f"{self.source.display}: {len(self.labels.unanswered)} unanswered pair(s) "
                                        f"skipped: {id_preview(self.labels.unanswered)}")
        if self.ignored:
            self.labels.warnings.append(f"{self.source.display}: ignored fields {sorted(self.ignored)}")
        self.labels.warnings.extend(skip_warnings(self.labels.skipped))
        return self.labels


def _check_against_queue(record: dict[str, Any], pair_id: str, queue: Mapping[str, tuple[str, str]]) -> None:
    if pair_id not in queue:
        raise RowError("pair_id", f"pair id {pair_id!r} is not in the review queue")
    for name, text in zip(("response_a", "response_b"), queue[pair_id]):
        given = record.get(name)
        if isinstance(given, str) and _same_text(given) != _same_text(text):
            raise RowError(name, f"differs from the queue's {name[-1].upper()} for pair {pair_id!r}: the responses "
                           "were swapped or edited, so the answer cannot be placed")


def _same_text(text: str) -> str:
    """A response as compared with the queue: without the CSV's formula guard, line endings normalised
    (spreadsheets write CRLF), ends stripped."""
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _label_pair_id(record: dict[str, Any]) -> str:
    value = required(record, "pair_id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise RowError("pair_id", f"must be a non-empty string or integer, got {value!r}")
    return str(value)
