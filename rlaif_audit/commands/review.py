"""`rlaif-audit review`: the human round trip — the review queue out to labeling tools, the answers back as labels."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence
from xml.sax.saxutils import quoteattr

import click

from rlaif_audit import hookimpl

QUEUE_FILE = "review_queue.jsonl"
TASKS_JSONL = "review_tasks.jsonl"
TASKS_CSV = "review_tasks.csv"
LABEL_STUDIO_TASKS = "label_studio_tasks.json"
LABEL_STUDIO_CONFIG = "label_studio_config.xml"
CSV_COLUMNS = ("rank", "pair_id", "prompt", "response_a", "response_b", "p_a", "reason", "human_choice", "annotator")
"""The columns of review_tasks.csv, in this order (stable: tools and scripts may address them by position)."""
FORMATS = ("jsonl", "csv", "label-studio")
LABELS_FILE = "human_labels.jsonl"


# ---------------------------------------------------------------------------------------------------- the queue


def queue_path(source: str | Path) -> Path:
    """review_queue.jsonl itself, or the one inside a report folder."""
    path = Path(source)
    return path / QUEUE_FILE if path.is_dir() else path


def read_queue(source: str | Path) -> list[dict[str, Any]]:
    """The tasks of a review queue; a line without a pair id is an error naming the file and line."""
    from rlaif_audit.errors import InputError
    from rlaif_audit.records.fileio import json_line, jsonl_lines

    path = queue_path(source)
    if not path.is_file():
        raise InputError(str(path), f"no such file (expected {QUEUE_FILE}, which `rlaif-audit audit` writes)")
    tasks = []
    for line, text in jsonl_lines(path):
        task = json_line(str(path), line, text)
        if not isinstance(task, dict) or task.get("pair_id") in (None, ""):
            raise InputError(str(path), "not a review task (no pair id)", line=line, field="pair_id")
        tasks.append(task)
    return tasks


def prompt_text(context: Any) -> str:
    """The conversation before the two responses as one text: a lone user turn as it is, else 'role: content'."""
    if isinstance(context, str):
        return context
    turns = [turn for turn in context or [] if isinstance(turn, dict)]
    if len(turns) == 1 and turns[0].get("role") == "user":
        return str(turns[0].get("content", ""))
    return "\n\n".join(f"{turn.get('role', '?')}: {turn.get('content', '')}" for turn in turns)


def task_row(task: dict[str, Any]) -> dict[str, Any]:
    """One labeling task with the stable columns, ``human_choice`` and ``annotator`` empty for the labeler."""
    return {"rank": task.get("rank"), "pair_id": str(task["pair_id"]), "prompt": prompt_text(task.get("context")),
            "response_a": task.get("a") or "", "response_b": task.get("b") or "", "p_a": task.get("p_a"),
            "reason": task.get("reason") or "", "human_choice": "", "annotator": ""}


# ------------------------------------------------------------------------------------------------ the formats


def spreadsheet_safe(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula: a leading ``= + - @``, tab or CR gets a ``'`` before it
    (OWASP, "CSV Injection"); `review import` compares texts without that guard."""
    from rlaif_audit.data.human_labels import FORMULA_TRIGGERS

    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def tasks_csv(rows: Sequence[dict[str, Any]]) -> str:
    """review_tasks.csv: a header of ``CSV_COLUMNS``, one task a row, every field quoted where needed, text cells
    guarded against formula injection (the responses are model output)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        texts = {name: spreadsheet_safe(row[name]) for name in ("prompt", "response_a", "response_b", "reason")}
        writer.writerow({**row, **texts, "p_a": "" if row["p_a"] is None else row["p_a"]})
    return buffer.getvalue()


def label_studio_tasks(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label Studio's JSON import format: a list of tasks, each ``{"data": {...}}`` with the fields the labeling
    config names as ``$prompt``, ``$response_a``, ``$response_b`` (https://labelstud.io/guide/tasks)."""
    keep = ("pair_id", "rank", "prompt", "response_a", "response_b", "p_a", "reason")
    return [{"data": {name: row[name] for name in keep}} for row in rows]


def label_studio_config() -> str:
    """The labeling config of those tasks: the prompt, the two responses side by side, one required choice."""
    from rlaif_audit.data.human_labels import LABEL_STUDIO_CHOICES, LABEL_STUDIO_CONTROL

    choices = "\n".join(f"    <Choice value={quoteattr(value)}/>" for value in LABEL_STUDIO_CHOICES)
    return f"""<View>
  <Header value="Prompt"/>
  <Text name="prompt" value="$prompt"/>
  <View style="display: grid; grid-template-columns: 1fr 1fr; column-gap: 1em">
    <View>
      <Header value="Response A"/>
      <Text name="response_a" value="$response_a"/>
    </View>
    <View>
      <Header value="Response B"/>
      <Text name="response_b" value="$response_b"/>
    </View>
  </View>
  <Header value="Which response is better? (Tie: neither)"/>
  <Choices name={quoteattr(LABEL_STUDIO_CONTROL)} toName="prompt" choice="single" required="true" showInline="true">
{choices}
  </Choices>
</View>
"""


def export_files(tasks: Sequence[dict[str, Any]], formats: Sequence[str]) -> dict[str, str]:
    """File name → text of every requested format (built in memory first: nothing half-written)."""
    from rlaif_audit.records.fileio import json_row

    rows = [task_row(task) for task in tasks]
    files: dict[str, str] = {}
    if "jsonl" in formats:
        files[TASKS_JSONL] = "".join(json_row(row) for row in rows)
    if "csv" in formats:
        files[TASKS_CSV] = tasks_csv(rows)
    if "label-studio" in formats:
        files[LABEL_STUDIO_TASKS] = json.dumps(label_studio_tasks(rows), ensure_ascii=False, indent=1) + "\n"
        files[LABEL_STUDIO_CONFIG] = label_studio_config()
    return files


def has_answers(path: Path) -> bool:
    """True when a task file already holds a filled ``human_choice`` (rewriting it would lose those answers)."""
    if not path.is_file():
        return False
    try:
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                return any(str(row.get("human_choice") or "").strip() for row in csv.DictReader(handle))
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, csv.Error, json.JSONDecodeError):
        return True  # not a file this command wrote: do not overwrite it either
    return any(isinstance(row, dict) and str(row.get("human_choice") or "").strip() for row in rows)


def parse_formats(text: str) -> list[str]:
    """``"jsonl,csv"`` → names; an unknown one is a usage error naming the valid ones."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise click.BadParameter(f"unknown format(s) {unknown or [text]}; valid: {', '.join(FORMATS)}",
                                 param_hint="--formats")
    return names


# ---------------------------------------------------------------------------------------------------- importing


def import_answers(answers: str | Path, queue: str | Path, *, skip_unanswered: bool = False,
                   annotator: str | None = None) -> Any:
    """The answers as human labels, validated against the queue (unknown pair ids, blanks, duplicates: errors)."""
    from rlaif_audit.data.human_labels import DEFAULT_ANNOTATOR, read_human_labels

    texts = {str(task["pair_id"]): (task.get("a") or "", task.get("b") or "") for task in read_queue(queue)}
    return read_human_labels(answers, queue=texts, unanswered="skip" if skip_unanswered else "fail",
                             annotator=annotator or DEFAULT_ANNOTATOR)


# ------------------------------------------------------------------------------------------------------ commands


@click.group(name="review")
def group() -> None:
    """Send the review queue to human labelers and bring their answers back as human labels."""


@group.command(name="export")
@click.argument("queue", type=click.Path(exists=True))
@click.option("-o", "--output", default=None, type=click.Path(file_okay=False),
              help="Folder for the task files [default: the folder of the queue].")
@click.option("--formats", "format_names", default=",".join(FORMATS), show_default=True,
              help=f"Comma-separated: jsonl ({TASKS_JSONL}), csv ({TASKS_CSV}), label-studio ({LABEL_STUDIO_TASKS} "
              f"and {LABEL_STUDIO_CONFIG}).")
@click.option("--force", is_flag=True, help="Overwrite task files that already hold answers.")
def export_command(queue: str, output: str | None, format_names: str, force: bool) -> None:
    """Write the review queue (a report folder or its review_queue.jsonl) as labeling tasks."""
    from rlaif_audit.records.fileio import atomic_write_text

    formats = parse_formats(format_names)
    tasks = read_queue(queue)
    folder = Path(output) if output else queue_path(queue).parent
    files = export_files(tasks, formats)
    answered = [str(folder / name) for name in files if not force and has_answers(folder / name)]
    if answered:
        raise click.UsageError(f"{', '.join(answered)}: already hold answers (human_choice filled); import them, "
                               "or pass --force to overwrite")
    for name, text in files.items():
        atomic_write_text(folder / name, text)
    click.echo(f"{len(tasks)} review tasks → {', '.join(str(folder / name) for name in files)}")
    click.echo("Fill human_choice with a, b or tie; then: rlaif-audit review import ANSWERS --queue "
               f"{queue_path(queue)} -o {LABELS_FILE}")


@group.command(name="import")
@click.argument("answers", type=click.Path(dir_okay=False))
@click.option("--queue", default=None, type=click.Path(exists=True),
              help="The review queue the answers answer (a report folder or its review_queue.jsonl).")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Human-label file to write (JSONL: pair_id, preferred, annotator), for `audit --human`.")
@click.option("--run", "run_folder", default=None, type=click.Path(exists=True, file_okay=False),
              help="A run folder: answer GENERATION's review queue (gen-G/audit) and write gen-G/review/answers.jsonl,"
              " which later generations use (reward-model training pairs, agreement audit).")
@click.option("--generation", type=click.IntRange(min=0), default=None,
              help="With --run: the generation whose review queue the answers answer.")
@click.option("--skip-unanswered", is_flag=True, help="Leave out tasks without an answer instead of failing.")
@click.option("--annotator", default=None, help="Annotator name of rows that give none [default: human].")
def import_command(answers: str, queue: str | None, output: str | None, run_folder: str | None,
                   generation: int | None, skip_unanswered: bool, annotator: str | None) -> None:
    """Read filled review tasks (CSV, JSONL or a Label Studio JSON export) into human labels."""
    from rlaif_audit.records.fileio import write_jsonl

    queue, output = import_targets(queue, output, run_folder, generation)
    labels = import_answers(answers, queue, skip_unanswered=skip_unanswered, annotator=annotator)
    for warning in labels.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if not labels:
        raise click.UsageError(f"{answers}: no answered task; nothing to import")
    write_jsonl(output, (label.to_dict() for label in labels))
    pairs = len({label.pair_id for label in labels})
    click.echo(f"{output}: {len(labels)} human labels for {pairs} pairs; audit with --human {output}")
    if run_folder is not None and generation is not None:
        click.echo(run_use_line(Path(run_folder), generation))


def import_targets(queue: str | None, output: str | None, run_folder: str | None,
                   generation: int | None) -> tuple[str, str]:
    """The queue and output of an import: given (--queue, -o), or a run generation's (--run, --generation)."""
    from rlaif_audit.loop.human_review import REVIEW_QUEUE, answers_file
    from rlaif_audit.loop.layout import generation_folder

    if run_folder is None:
        if generation is not None or queue is None or output is None:
            raise click.UsageError("give --queue and -o, or --run RUN --generation G")
        return queue, output
    if generation is None or queue is not None or output is not None:
        raise click.UsageError("--run needs --generation (and takes neither --queue nor -o)")
    found = Path(run_folder) / generation_folder(generation) / REVIEW_QUEUE
    if not found.is_file():
        raise click.UsageError(f"{found}: no review queue (generation {generation}'s audit stage has not run)")
    return str(found), str(answers_file(Path(run_folder), generation))


def run_use_line(folder: Path, generation: int) -> str:
    """Which generations of the run will use the answers (those after it that have not labeled yet)."""
    from rlaif_audit.loop.layout import MANIFEST, generation_folder, marker
    from rlaif_audit.records.fileio import read_json

    total = (read_json(folder / MANIFEST).get("config") or {}).get("generations", generation + 1)
    later = [g for g in range(generation + 1, int(total))
             if not (folder / generation_folder(g) / marker("label")).exists()]
    if not later:
        return ("No later generation of this run is left to label: `rlaif-audit audit --human` and `rlaif-audit "
                "export --human` use the answers.")
    return (f"Generations {', '.join(map(str, later))} will use them (reward-model training pairs and the agreement "
            f"audit): rlaif-audit run --resume {folder}")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``rlaif-audit review export`` and ``rlaif-audit review import``."""
    cli.add_command(group)
