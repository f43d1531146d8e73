"""Open a source of rows: JSONL, CSV, Parquet, a Hugging Face dataset (folder or hf:// id) or the bundled demo;
and the messages shared by the readers of its rows (a row's place, skips, bad rows)."""

from __future__ import annotations

import contextlib
import csv
import gzip
import os
import re
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator

from rlaif_audit.errors import ConfigError, InputError
from rlaif_audit.records.fileio import JSONProblem, loads, read_records

DEMO = "demo"
ON_ERROR_CHOICES = ("fail", "skip")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)
JSON_SUFFIXES = (".json",)
SUPPORTED = (".jsonl, .jsonl.gz, .ndjson, .json (one array of objects), .csv, .csv.gz, .parquet, a Hugging Face "
             "dataset folder, hf://owner/name, demo")
MESSAGE_FIELDS = ("context", "prompt", "chosen", "rejected")
PREVIEW = 10


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


def demo_path() -> Path:
    """The bundled demo pairs file."""
    return Path(str(resources.files("rlaif_audit").joinpath("resources", "demo_pairs.jsonl")))


# --------------------------------------------------------------------------- opening sources


def open_source(source: str | os.PathLike[str] | None, *, split: str = "test", data_dir: str | None = None) -> Source:
    """Open a file, a Hugging Face dataset folder, an ``hf://owner/name`` id, or the demo pairs."""
    source = None if source is None else os.fspath(source)
    if source is None or source == DEMO:
        return open_file(demo_path(), DEMO)
    if source.startswith("hf://"):
        return _open_hub(source, split, data_dir)
    path = Path(source).expanduser()
    if path.is_dir():
        return _open_dataset_folder(path, split, data_dir)
    if data_dir is not None:
        raise ConfigError(f"data_dir applies only to Hugging Face datasets, not to the file {source}")
    if not path.exists():
        return _missing(source)
    return open_file(path, source)


def _missing(source: str) -> Source:
    hint = ""
    if re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        hint = f" (for the Hugging Face dataset write hf://{source})"
    raise InputError(source, f"no such file or folder{hint}")


def open_file(path: Path, display: str) -> Source:
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
    if name.endswith(JSON_SUFFIXES):
        return Source(display, "json", None, _json_array_rows(path, display))
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
    index, offset = 0, 0
    try:
        with _open_binary(path) as handle:
            for line_no, raw in enumerate(handle, 1):
                if raw.strip():
                    yield _json_row(raw, index, line_no, offset)
                    index += 1
                offset += len(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise _unreadable(display, exc) from exc


def _json_row(raw: bytes, index: int, line_no: int, offset: int) -> Row:
    try:
        record = loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
    except UnicodeDecodeError as exc:
        return Row(index, line_no, None, f"is not UTF-8 ({exc.reason} at byte {offset + exc.start} of the file)")
    except JSONProblem as exc:
        return Row(index, line_no, None, f"is not valid JSON ({exc.where()})")
    if not isinstance(record, dict):
        return Row(index, line_no, None, f"is a JSON {type(record).__name__}, not an object")
    return Row(index, line_no, record)


def _json_array_rows(path: Path, display: str) -> Iterator[Row]:
    """The records of a JSON file (one array of objects, or JSONL), each with the line it starts on."""
    for index, (line_no, record) in enumerate(read_records(path)):
        yield Row(index, line_no, record)


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
        return loads(cell)
    except JSONProblem:
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
    from pyarrow import ArrowException

    index = 0
    try:
        for batch in parquet.iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                yield Row(index, None, record)
                index += 1
    except UnicodeDecodeError as exc:
        raise InputError(display, f"a string value of row {index} or after is not UTF-8 ({exc.reason}): a corrupt "
                         "Parquet page?") from None
    except (OSError, ValueError, ArrowException) as exc:  # a corrupt page: ArrowInvalid, ArrowIOError, OSError
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


def require_columns(opened: Source, required: Iterable[tuple[str, ...]]) -> None:
    columns = set(opened.columns or ())
    for names in required:
        if not columns & set(names):
            line = 1 if opened.kind == "csv" else None
            missing = " or ".join(f"'{name}'" for name in names)
            message = f"no column {missing} (columns: {sorted(columns)})"
            raise InputError(opened.display, message, line=line, field=names[0])


# --------------------------------------------------------------------------- messages


def row_where(row: Row) -> str:
    return f"line {row.line}" if row.line is not None else f"row {row.index}"


def row_error(opened: Source, row: Row, exc: RowError) -> InputError:
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


def id_preview(items: list[str]) -> str:
    shown = ", ".join(items[:PREVIEW])
    return shown + (f", ... ({len(items) - PREVIEW} more)" if len(items) > PREVIEW else "")


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR_CHOICES:
        raise ConfigError(f"on_error must be one of: {', '.join(ON_ERROR_CHOICES)} (got {on_error!r})")
