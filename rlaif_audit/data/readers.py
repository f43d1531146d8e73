"""Read preference pairs and human labels from JSONL, CSV, Parquet and Hugging Face datasets."""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from rlaif_audit.errors import ConfigError, InputError
from rlaif_audit.records.types import HumanLabel, Message, PreferencePair

DEMO = "demo"
ON_ERROR_CHOICES = ("fail", "skip")
ROLES = ("system", "user", "assistant")
PREFERRED_VALUES = ("a", "b", "tie")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)
SUPPORTED = ".jsonl, .jsonl.gz, .ndjson, .csv, .csv.gz, .parquet, a Hugging Face dataset folder, hf://owner/name, demo"
SOURCE_ANNOTATOR = "source"
DEFAULT_ANNOTATOR = "human"
SCHEMA_HELP = (
    "native (context, a, b), TRL preference (prompt, chosen, rejected), "
    "or implicit prompt (chosen, rejected as full conversations or HH-RLHF transcripts)"
)
REQUIRED = {
    "native": (("context", "prompt"), ("a",), ("b",)),
    "preference": (("prompt",), ("chosen",), ("rejected",)),
    "implicit": (("chosen",), ("rejected",)),
}
KNOWN_FIELDS = {
    "native": {"id", "context", "prompt", "a", "b", "preferred", "annotator", "labels", "metadata"},
    "preference": {"id", "prompt", "chosen", "rejected", "metadata"},
    "implicit": {"id", "chosen", "rejected", "metadata"},
}
LABEL_FIELDS = ("pair_id", "preferred", "annotator")
MESSAGE_FIELDS = ("context", "prompt", "chosen", "rejected")
HH_ASSISTANT = "\n\nAssistant:"
HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):")
HH_ROLES = {"Human": "user", "Assistant": "assistant"}
PREVIEW = 10


@dataclass
class PairSet:
    """Pairs read from one source, their human labels, and what the reader noticed."""

    pairs: list[PreferencePair]
    labels: list[HumanLabel]
    source: str
    data_hash: str
    skipped: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schema: str = ""

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


class HumanLabels(list[HumanLabel]):
    """A ``list[HumanLabel]`` that also carries the skipped rows and warnings of its file."""

    def __init__(self, labels: Iterable[HumanLabel] = (), source: str = "") -> None:
        super().__init__(labels)
        self.source = source
        self.skipped: list[dict[str, Any]] = []
        self.warnings: list[str] = []


@dataclass(frozen=True)
class Row:
    """One record of a source and where it came from."""

    index: int
    line: int | None
    record: dict[str, Any] | None
    problem: str | None = None


@dataclass
class Source:
    """An opened source: its display name, format, columns (if known up front) and rows."""

    display: str
    kind: str
    columns: list[str] | None
    rows: Iterator[Row]


class RowError(Exception):
    """A problem with one row: the field and what is wrong."""

    def __init__(self, field_name: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass
class Sides:
    """A row's two responses with the conversation each one answers."""

    context_a: list[Message]
    a: str
    context_b: list[Message]
    b: str
    labels: list[tuple[str, str]]


# --------------------------------------------------------------------------- public API


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
    _check_on_error(on_error)
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


def read_human_labels(path: str | Path, on_error: str = "fail") -> HumanLabels:
    """Read a human-label file (JSONL, CSV or Parquet: pair_id, preferred, optional annotator)."""
    _check_on_error(on_error)
    opened = _open_file(Path(path), str(path))
    if opened.columns is not None:
        _require_columns(opened, (("pair_id",), ("preferred",)))
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
        raise InputError(path, f"{len(unknown)} pair id(s) not in the pairs: {_preview(unknown)}", field="pair_id")


def chosen_is_a(seed: int, pair_id: str) -> bool:
    """The seeded per-pair coin that puts the chosen response in slot A (stable under --limit)."""
    return hashlib.sha256(f"{seed}:{pair_id}".encode()).digest()[0] < 128


def pairs_hash(pairs: Iterable[PreferencePair], labels: Iterable[HumanLabel]) -> str:
    """sha256 of the canonical content of pairs and labels; the same content gives the same hash in any format."""
    digest = hashlib.sha256()
    for pair in pairs:
        content = {"id": pair.id, "context": pair.context, "a": pair.a, "b": pair.b}
        if "context_b" in pair.metadata:
            content["context_b"] = pair.metadata["context_b"]
        digest.update(_canonical(content))
    for label in labels:
        digest.update(_canonical(label.to_dict()))
    return digest.hexdigest()


def demo_path() -> Path:
    """The bundled demo pairs file."""
    return Path(str(resources.files("rlaif_audit").joinpath("resources", "demo_pairs.jsonl")))


# --------------------------------------------------------------------------- opening sources


def open_source(source: str | os.PathLike[str] | None, *, split: str = "test", data_dir: str | None = None) -> Source:
    """Open a file, a Hugging Face dataset folder, an ``hf://owner/name`` id, or the demo pairs."""
    source = None if source is None else os.fspath(source)
    if source is None or source == DEMO:
        return _open_file(demo_path(), DEMO)
    if source.startswith("hf://"):
        return _open_hub(source, split, data_dir)
    path = Path(source).expanduser()
    if path.is_dir():
        return _open_dataset_folder(path, split, data_dir)
    if data_dir is not None:
        raise ConfigError(f"data_dir applies only to Hugging Face datasets, not to the file {source}")
    if not path.exists():
        return _missing(source)
    return _open_file(path, source)


def _missing(source: str) -> Source:
    hint = ""
    if re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        hint = f" (for the Hugging Face dataset write hf://{source})"
    raise InputError(source, f"no such file or folder{hint}")


def _open_file(path: Path, display: str) -> Source:
    name = path.name.lower()
    if not path.is_file():
        raise InputError(display, "no such file")
    if name.endswith(JSONL_SUFFIXES):
        return Source(display, "jsonl", None, _jsonl_rows(path, display))
    if name.endswith(CSV_SUFFIXES):
        header = _csv_header(path, display)
        return Source(display, "csv", header, _csv_rows(path, display, header))
    if name.endswith(PARQUET_SUFFIXES):
        return _open_parquet(path, display)
    raise InputError(display, f"unsupported file type; supported: {SUPPORTED}")


def _open_binary(path: Path) -> Any:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _open_text(path: Path) -> Any:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def _unreadable(display: str, exc: BaseException) -> InputError:
    return InputError(display, f"cannot read the file: {exc}")


def _jsonl_rows(path: Path, display: str) -> Iterator[Row]:
    index = 0
    try:
        with _open_binary(path) as handle:
            for line_no, raw in enumerate(handle, 1):
                if raw.strip():
                    yield _json_row(raw, index, line_no)
                    index += 1
    except (OSError, EOFError, zlib.error) as exc:
        raise _unreadable(display, exc) from exc


def _json_row(raw: bytes, index: int, line_no: int) -> Row:
    try:
        record = json.loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
    except UnicodeDecodeError as exc:
        return Row(index, line_no, None, f"is not valid UTF-8 ({exc.reason} at byte {exc.start})")
    except json.JSONDecodeError as exc:
        return Row(index, line_no, None, f"is not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(record, dict):
        return Row(index, line_no, None, f"is a JSON {type(record).__name__}, not an object")
    return Row(index, line_no, record)


@contextlib.contextmanager
def _csv_field_limit() -> Iterator[None]:
    previous = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _csv_header(path: Path, display: str) -> list[str]:
    try:
        with _open_text(path) as handle, _csv_field_limit():
            header = next(csv.reader(handle), None)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:
        raise _unreadable(display, exc) from exc
    if not header:
        raise InputError(display, "the file is empty; a CSV needs a header line", line=1)
    names = [name.strip() for name in header]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates or "" in names:
        raise InputError(display, f"bad header: empty or repeated column names {duplicates or ['']}", line=1)
    return names


def _csv_rows(path: Path, display: str, header: list[str]) -> Iterator[Row]:
    index = 0
    try:
        with _open_text(path) as handle, _csv_field_limit():
            reader = csv.reader(handle)
            next(reader)
            start = reader.line_num + 1
            for cells in reader:
                if cells:
                    yield _csv_row(cells, header, index, start)
                    index += 1
                start = reader.line_num + 1
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:
        raise _unreadable(display, exc) from exc


def _csv_row(cells: list[str], header: list[str], index: int, line_no: int) -> Row:
    if len(cells) != len(header):
        return Row(index, line_no, None, f"has {len(cells)} fields but the header has {len(header)}")
    return Row(index, line_no, {name: _csv_cell(name, cell) for name, cell in zip(header, cells)})


def _csv_cell(name: str, cell: str) -> Any:
    """CSV cells are text: decode JSON message lists, label lists and metadata objects; blank optionals → None."""
    if name in ("preferred", "annotator", "labels", "metadata") and not cell.strip():
        return None
    if name in MESSAGE_FIELDS or name in ("labels", "metadata"):
        decoded = _try_json(cell)
        if name in MESSAGE_FIELDS and _looks_like_messages(decoded):
            return decoded
        if (name == "labels" and isinstance(decoded, list)) or (name == "metadata" and isinstance(decoded, dict)):
            return decoded
    return cell


def _try_json(cell: str) -> Any:
    if not cell.lstrip().startswith(("[", "{")):
        return None
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        return None


def _looks_like_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and "role" in item and "content" in item for item in value)
    )


def _open_parquet(path: Path, display: str) -> Source:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several error types for a bad file
        raise _unreadable(display, exc) from exc
    return Source(display, "parquet", list(parquet.schema_arrow.names), _parquet_rows(parquet, display))


def _parquet_rows(parquet: Any, display: str) -> Iterator[Row]:
    index = 0
    try:
        for batch in parquet.iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                yield Row(index, None, record)
                index += 1
    except OSError as exc:
        raise _unreadable(display, exc) from exc


def _open_hub(source: str, split: str, data_dir: str | None) -> Source:
    parts = source[len("hf://") :].strip("/").split("/")
    if parts and parts[0] == "datasets":
        parts = parts[1:]
    if len(parts) < 2:
        raise ConfigError(f"'{source}': write Hugging Face datasets as hf://owner/name[/data_dir]")
    if len(parts) > 2 and data_dir is not None:
        raise ConfigError(f"'{source}' already names a data_dir; do not also pass data_dir='{data_dir}'")
    repo, data_dir = "/".join(parts[:2]), data_dir or ("/".join(parts[2:]) or None)
    return _dataset_source(_hub_display(source, split, data_dir), repo, split, data_dir)


def _hub_display(source: str, split: str, data_dir: str | None) -> str:
    return f"{source} ({f'data_dir {data_dir}, ' if data_dir else ''}split {split})"


def _open_dataset_folder(path: Path, split: str, data_dir: str | None) -> Source:
    display = _hub_display(str(path), split, data_dir)
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        if data_dir is not None:
            raise ConfigError(f"{path} is a saved dataset (save_to_disk); data_dir does not apply to it")
        return _saved_dataset_source(path, split, display)
    return _dataset_source(display, str(path), split, data_dir)


def _dataset_source(display: str, name: str, split: str, data_dir: str | None) -> Source:
    import datasets

    try:
        dataset = datasets.load_dataset(name, data_dir=data_dir, split=split)
    except Exception as exc:  # datasets raises many types (missing files, no network, bad split)
        raise InputError(display, f"cannot load the dataset: {type(exc).__name__}: {exc}") from exc
    return Source(display, "dataset", list(dataset.column_names), _dataset_rows(dataset))


def _saved_dataset_source(path: Path, split: str, display: str) -> Source:
    import datasets

    try:
        dataset = datasets.load_from_disk(str(path))
    except Exception as exc:  # corrupt or partial folders raise several types
        raise InputError(display, f"cannot load the saved dataset: {type(exc).__name__}: {exc}") from exc
    if isinstance(dataset, datasets.DatasetDict):
        if split not in dataset:
            raise InputError(display, f"no split '{split}'; splits: {', '.join(dataset)}")
        dataset = dataset[split]
    return Source(display, "dataset", list(dataset.column_names), _dataset_rows(dataset))


def _dataset_rows(dataset: Any) -> Iterator[Row]:
    for index, record in enumerate(dataset):
        yield Row(index, None, dict(record))


# --------------------------------------------------------------------------- schemas


def detect_schema(columns: Iterable[str], display: str, line: int | None = None) -> str:
    """Which schema the field names describe: native, preference or implicit."""
    keys = set(columns)
    if keys & {"a", "b"}:
        return "native"
    if keys & {"chosen", "rejected"}:
        return "preference" if "prompt" in keys else "implicit"
    message = f"cannot tell the schema from the fields {sorted(keys)}; expected {SCHEMA_HELP}"
    raise InputError(display, message, line=line)


def _require_columns(opened: Source, required: Iterable[tuple[str, ...]]) -> None:
    columns = set(opened.columns or ())
    for names in required:
        if not columns & set(names):
            line = 1 if opened.kind == "csv" else None
            missing = " or ".join(f"'{name}'" for name in names)
            message = f"no column {missing} (columns: {sorted(columns)})"
            raise InputError(opened.display, message, line=line, field=names[0])


def _required(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if value is None:
        raise RowError(name, "is missing" if name not in record else "is null")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RowError(name, f"must be a string, got {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), type(value).__name__)


def _messages(value: Any, name: str) -> list[Message]:
    """A context: a string (one user message) or a list of {role, content} messages; never empty."""
    if isinstance(value, str):
        if not value.strip():
            raise RowError(name, "is empty")
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise RowError(name, f"must be a string or a list of {{role, content}} messages, got {_type_name(value)}")
    if not value:
        raise RowError(name, "is an empty list of messages")
    return [_message(item, f"{name}[{i}]") for i, item in enumerate(value)]


def _message(item: Any, name: str) -> Message:
    if not isinstance(item, dict):
        raise RowError(name, f"must be a {{role, content}} message, got {_type_name(item)}")
    role, content = item.get("role"), item.get("content")
    if role not in ROLES:
        raise RowError(f"{name}.role", f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    if not isinstance(content, str):
        raise RowError(f"{name}.content", f"must be a string, got {_type_name(content)}")
    return {"role": role, "content": content}


def _final_reply(value: Any, name: str) -> tuple[list[Message], str]:
    """A response given as a string, or as messages whose last one is the assistant's reply."""
    if isinstance(value, str):
        return [], value
    if not isinstance(value, list) or not value:
        raise RowError(name, f"must be a string or a non-empty list of messages, got {_type_name(value)}")
    messages = [_message(item, f"{name}[{i}]") for i, item in enumerate(value)]
    if messages[-1]["role"] != "assistant":
        raise RowError(f"{name}[{len(value) - 1}].role", "the last message must be the assistant's reply")
    return messages[:-1], messages[-1]["content"]


def _conversation(value: Any, name: str) -> tuple[list[Message], str]:
    """An implicit-prompt side: an HH-RLHF transcript string or a whole chat conversation."""
    if isinstance(value, str):
        return split_hh_transcript(value, name)
    context, reply = _final_reply(value, name)
    if not context:
        raise RowError(name, "has only the reply; an implicit-prompt conversation needs the prompt messages too")
    return context, reply


def split_hh_transcript(text: str, name: str = "chosen") -> tuple[list[Message], str]:
    """Split '\\n\\nHuman: ...\\n\\nAssistant: ...' into the conversation and the final assistant reply."""
    marker = text.rfind(HH_ASSISTANT)
    if marker < 0:
        raise RowError(
            name,
            "is a string without '\\n\\nAssistant:'; without a 'prompt' field, chosen and rejected must be "
            "HH-RLHF transcripts or chat message lists",
        )
    parts = HH_TURN.split(text[:marker])
    if parts[0].strip():
        raise RowError(name, "has text before the first 'Human:' turn; not an HH-RLHF transcript")
    context = [{"role": HH_ROLES[role], "content": body.strip()} for role, body in zip(parts[1::2], parts[2::2])]
    if not context:
        raise RowError(name, "has no conversation before the final 'Assistant:' reply")
    return context, text[marker + len(HH_ASSISTANT) :].strip()


def _native_sides(record: dict[str, Any]) -> Sides:
    context_field = "context" if "context" in record else "prompt"
    context = _messages(_required(record, context_field), context_field)
    a, b = _text(_required(record, "a"), "a"), _text(_required(record, "b"), "b")
    return Sides(context, a, context, b, _native_labels(record))


def _native_labels(record: dict[str, Any]) -> list[tuple[str, str]]:
    labels: list[tuple[str, str]] = []
    if record.get("preferred") is not None:
        annotator = _annotator(record.get("annotator"), "annotator", SOURCE_ANNOTATOR)
        labels.append((parse_preferred(record["preferred"], "preferred"), annotator))
    listed = record.get("labels")
    if listed is not None:
        labels.extend(_label_list(listed))
    annotators = [annotator for _, annotator in labels]
    repeated = sorted({name for name in annotators if annotators.count(name) > 1})
    if repeated:
        raise RowError("labels", f"annotator {repeated[0]!r} labels this pair more than once")
    return labels


def _label_list(listed: Any) -> list[tuple[str, str]]:
    if not isinstance(listed, list):
        raise RowError("labels", f"must be a list of {{annotator, preferred}} objects, got {_type_name(listed)}")
    labels = []
    for i, item in enumerate(listed):
        if not isinstance(item, dict):
            raise RowError(f"labels[{i}]", f"must be an {{annotator, preferred}} object, got {_type_name(item)}")
        preferred = parse_preferred(_required_in(item, "preferred", f"labels[{i}]"), f"labels[{i}].preferred")
        annotator = _annotator(_required_in(item, "annotator", f"labels[{i}]"), f"labels[{i}].annotator", "")
        labels.append((preferred, annotator))
    return labels


def _required_in(item: dict[str, Any], key: str, prefix: str) -> Any:
    if item.get(key) is None:
        raise RowError(f"{prefix}.{key}", "is missing")
    return item[key]


def _annotator(value: Any, name: str, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise RowError(name, f"must be a non-empty string, got {value!r}")
    return str(value).strip()


def parse_preferred(value: Any, name: str = "preferred") -> str:
    """'a', 'b' or 'tie' (any case); anything else is an error listing the valid values."""
    if isinstance(value, str) and value.strip().lower() in PREFERRED_VALUES:
        return value.strip().lower()
    raise RowError(name, f"unknown value {value!r}; valid values: {', '.join(PREFERRED_VALUES)}")


def _chosen_rejected_sides(record: dict[str, Any], schema: str, pair_id: str, seed: int) -> Sides:
    if schema == "preference":
        prompt = _messages(_required(record, "prompt"), "prompt")
        chosen_extra, chosen = _final_reply(_required(record, "chosen"), "chosen")
        rejected_extra, rejected = _final_reply(_required(record, "rejected"), "rejected")
        chosen_side, rejected_side = (prompt + chosen_extra, chosen), (prompt + rejected_extra, rejected)
    else:
        chosen_side = _conversation(_required(record, "chosen"), "chosen")
        rejected_side = _conversation(_required(record, "rejected"), "rejected")
    if chosen_is_a(seed, pair_id):
        return Sides(*chosen_side, *rejected_side, [("a", SOURCE_ANNOTATOR)])
    return Sides(*rejected_side, *chosen_side, [("b", SOURCE_ANNOTATOR)])


def _metadata(record: dict[str, Any], schema: str) -> dict[str, Any]:
    given = record.get("metadata")
    if given is not None and not isinstance(given, dict):
        raise RowError("metadata", f"must be an object, got {_type_name(given)}")
    known = KNOWN_FIELDS[schema] - ({"prompt"} if schema == "native" and "context" in record else set())
    extras = {key: value for key, value in record.items() if key not in known}
    return {**(given or {}), **extras}


def _pair_id(record: dict[str, Any], index: int, id_column: bool) -> str:
    if not id_column:
        return f"row-{index}"
    value = _required(record, "id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowError("id", f"must be a string or an integer, got {_type_name(value)}")
    if not str(value).strip():
        raise RowError("id", "is empty")
    return str(value)


# --------------------------------------------------------------------------- building pair sets


def pair_warnings(pairs: Sequence[PreferencePair]) -> list[str]:
    """Warnings, with counts and ids, about real-data quirks that are kept: empty replies, differing contexts."""
    empty = [p.id for p in pairs if not p.a.strip() or not p.b.strip()]
    differ = [p.id for p in pairs if "context_b" in p.metadata]
    same = [p.id for p in pairs if p.a == p.b]
    notes = []
    if empty:
        notes.append(f"{_count(empty)} an empty response (kept: an empty reply is a real, bad response): "
                     f"{_preview(empty)}")
    if differ:
        notes.append(f"{_count(differ)} different conversations before the two replies (kept: context is the one A "
                     f"answers, metadata['context_b'] the one B answers): {_preview(differ)}")
    if same:
        notes.append(f"{_count(same)} identical responses: {_preview(same)}")
    return notes


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
            _require_columns(opened, REQUIRED[self.schema or ""])

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
        pair_id = _pair_id(record, row.index, self.id_column)
        if pair_id in self.seen:
            raise RowError("id", f"duplicate id {pair_id!r} (first at {self.seen[pair_id]})")
        sides = self._sides(record, pair_id)
        metadata = {**_metadata(record, self.schema or ""), "source_row": row.index}
        if sides.context_b != sides.context_a:
            metadata["context_b"] = sides.context_b
        self.seen[pair_id] = _where(row)
        self.pairs.append(PreferencePair(pair_id, sides.context_a, sides.a, sides.b, metadata))
        self.labels.extend(HumanLabel(pair_id, preferred, annotator) for preferred, annotator in sides.labels)

    def _sides(self, record: dict[str, Any], pair_id: str) -> Sides:
        if self.schema == "native":
            return _native_sides(record)
        return _chosen_rejected_sides(record, self.schema or "", pair_id, self.seed)

    def _reject(self, row: Row, exc: RowError) -> None:
        error = _row_error(self.source, row, exc)
        if self.on_error == "fail":
            raise error from None
        self.skipped.append({"row": row.index, "line": row.line, "field": exc.field, "message": str(error)})

    def result(self) -> PairSet:
        """The pair set with its hash and warnings."""
        return PairSet(
            pairs=self.pairs,
            labels=self.labels,
            source=self.source.display,
            data_hash=pairs_hash(self.pairs, self.labels),
            skipped=self.skipped,
            warnings=self._warnings(),
            schema=self.schema or "",
        )

    def _warnings(self) -> list[str]:
        return pair_warnings(self.pairs) + skip_warnings(self.skipped)


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
            error = _row_error(self.source, row, exc)
            if self.on_error == "fail":
                raise error from None
            self.labels.skipped.append({"row": row.index, "line": row.line, "field": exc.field, "message": str(error)})

    def _add_label(self, row: Row, record: dict[str, Any]) -> None:
        self.ignored |= set(record) - set(LABEL_FIELDS)
        pair_id = _label_pair_id(record)
        preferred = parse_preferred(_required(record, "preferred"))
        annotator = _annotator(record.get("annotator"), "annotator", DEFAULT_ANNOTATOR)
        key = (pair_id, annotator)
        if key in self.seen:
            raise RowError("annotator", f"annotator {annotator!r} already labeled pair {pair_id!r} at {self.seen[key]}")
        self.seen[key] = _where(row)
        self.labels.append(HumanLabel(pair_id, preferred, annotator))  # type: ignore[arg-type]

    def result(self) -> HumanLabels:
        """The labels with their warnings."""
        if self.ignored:
            self.labels.warnings.append(f"{self.source.display}: ignored fields {sorted(self.ignored)}")
        self.labels.warnings.extend(skip_warnings(self.labels.skipped))
        return self.labels


def _label_pair_id(record: dict[str, Any]) -> str:
    value = _required(record, "pair_id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise RowError("pair_id", f"must be a non-empty string or integer, got {value!r}")
    return str(value)


# --------------------------------------------------------------------------- messages


def _where(row: Row) -> str:
    return f"line {row.line}" if row.line is not None else f"row {row.index}"


def _row_error(opened: Source, row: Row, exc: RowError) -> InputError:
    """An InputError naming the file, the line (JSONL, CSV) or 0-based row (Parquet, datasets), and the field."""
    if row.line is None:
        return InputError(opened.display, f"{exc.message} (row {row.index}, counting from 0)", field=exc.field)
    suffix = f" (data row {row.index}, counting from 0)" if opened.kind == "csv" else ""
    return InputError(opened.display, exc.message + suffix, line=row.line, field=exc.field)


def skip_warnings(skipped: list[dict[str, Any]]) -> list[str]:
    if not skipped:
        return []
    shown = "; ".join(item["message"] for item in skipped[:3])
    more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
    rows = "row" if len(skipped) == 1 else "rows"
    return [f"skipped {len(skipped)} bad {rows} (on_error='skip'): {shown}{more}"]


def _count(pair_ids: list[str]) -> str:
    return "1 pair has" if len(pair_ids) == 1 else f"{len(pair_ids)} pairs have"


def _preview(items: list[str]) -> str:
    shown = ", ".join(items[:PREVIEW])
    return shown + (f", ... ({len(items) - PREVIEW} more)" if len(items) > PREVIEW else "")


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR_CHOICES:
        raise ConfigError(f"on_error must be one of: {', '.join(ON_ERROR_CHOICES)} (got {on_error!r})")
