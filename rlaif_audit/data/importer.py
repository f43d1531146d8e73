"""The Importer base class that every judgment-format plugin subclasses, and the helpers importers share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Sequence

from rlaif_audit.errors import InputError
from rlaif_audit.records.provenance import stable_hash
from rlaif_audit.records.types import HumanLabel, PreferencePair

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Imported:
    """What an importer read from another tool's file, not yet validated; unpacks as (pairs, judgments, labels).

    ``judgment_lines`` holds the file line each judgment row came from (errors name it); ``evaluator_field`` the
    file's field that names the evaluator (``annotator``, ``judge``), so a file mixing two evaluators is reported
    at that field.
    """

    pairs: list[PreferencePair]
    judgments: pd.DataFrame
    labels: list[HumanLabel] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    judgment_lines: list[int] | None = None
    evaluator_field: str = "evaluator_id"
    source: str = ""
    data_hash: str = ""

    def __iter__(self) -> Iterator[Any]:
        return iter((self.pairs, self.judgments, self.labels))


class Importer:
    """A judgments format made by another tool (AlpacaEval, FastChat, Inspect, promptfoo, ...).

    Subclasses set ``name`` (what ``audit --format`` selects and ``report.json`` records as ``data.format``) and
    ``description`` (one line naming the format's fields), and implement :meth:`detect` and :meth:`read`. A
    format whose files also hold human labels (``audit --human``) implements :meth:`detect_labels` and
    :meth:`read_labels`; ``labels_format`` and ``labels_description`` name and describe that format. The host
    validates what :meth:`read` returns (orders, ``p_first`` in [0, 1], one evaluator, no pair judged twice in one
    order, every judged pair among the pairs) and hashes the file once.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    labels_format: ClassVar[str] = ""
    labels_description: ClassVar[str] = ""
    one_order_note: ClassVar[str] = ""
    """When set, the warning shown instead of the count of pairs judged in one order only (a one-order format)."""

    def detect(self, first_record: dict[str, Any]) -> bool:
        """Whether a judgments file whose first record is ``first_record`` is in this format."""
        raise NotImplementedError

    def read(self, path: str, data: str | None) -> Imported:
        """The pairs, judgments (rlaif-audit's judgment columns) and any labels of ``path``; ``data`` is ``--data``."""
        raise NotImplementedError

    def detect_labels(self, first_record: dict[str, Any]) -> bool:
        """Whether a ``--human`` file whose first record is ``first_record`` holds this format's human labels."""
        return False

    def read_labels(self, path: str, pairs: Sequence[PreferencePair]) -> tuple[list[HumanLabel], list[str]]:
        """Human labels of ``path`` matched to the judged ``pairs``, and warnings (e.g. unmatched labels)."""
        raise InputError(path, f"the {self.name} importer reads no human labels")


# ----------------------------------------------------------------------------------- helpers for importers


def text_field(path: str, line: int, record: dict[str, Any], name: str, required: bool = True) -> str | None:
    """The string field ``name`` of a record; an error naming file, line and field when missing or not a string."""
    value = record.get(name)
    if value is None and not required:
        return None
    if name not in record:
        raise InputError(path, "is missing", line=line, field=name)
    if not isinstance(value, str):
        raise InputError(path, f"must be a string, got {type(value).__name__}", line=line, field=name)
    return value


def judgment_frame(rows: list[dict[str, Any]], source: str) -> pd.DataFrame:
    """Rows → a judgments DataFrame in rlaif-audit's columns; ``evaluator_id`` from the source and evaluator name."""
    import pandas as pd

    from rlaif_audit.data.judgment_file import JUDGMENT_FIELDS

    for row in rows:
        row["evaluator_id"] = stable_hash({"source": source, "evaluator": row["evaluator"]})
    return pd.DataFrame.from_records(rows).reindex(columns=JUDGMENT_FIELDS)


def failed_warning(judgments: pd.DataFrame, what: str) -> list[str]:
    """``["N <what>"]`` when N judgments failed to parse, else nothing."""
    failed = int((judgments["parse_status"] == "failed").sum())
    return [f"{failed} {what}"] if failed else []


def unmatched_warning(path: str, unmatched: int) -> list[str]:
    """The warning for human labels that match no judged pair."""
    return [f"{unmatched} human labels in {path} match no judged pair and were ignored"] if unmatched else []
