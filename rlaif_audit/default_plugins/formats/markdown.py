"""report.md: headline, generator win rates, one section per auditor with its figures as PNG images, and the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from rlaif_audit.default_plugins.formats.tables import (
    GENERATORS,
    MAX_TABLE_ROWS,
    METRIC_HEADER,
    PER_GENERATOR_HEADER,
    WIN_RATE_HEADER,
    metric_rows,
    other_sections,
    provenance_rows,
    shown_tables,
    table_body,
    head_to_head_row,
    length_controlled_statement,
    win_rate_row,
)
from rlaif_audit.reporting.format import ReportFormat
from rlaif_audit.reporting.text import (fmt_interval, fmt_number, headline_digits, md_cell, model_card_section,
                                      run_only_line, visible)

if TYPE_CHECKING:
    from rlaif_audit.reporting.report import AuditorOutcome, Report


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A Markdown table with every cell escaped, and a blank line after it."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _fenced(text: str, language: str = "") -> list[str]:
    return [f"```{language}", text.replace("```", "'''"), "```"]


def _generic_table(name: str, rows: list[dict[str, Any]]) -> list[str]:
    columns, body, more = table_body(rows)
    return [f"**{md_cell(name)}**" + (f" ({more})" if more else ""), ""] + md_table(columns, body)


def _generators(report: Report) -> list[str]:
    if GENERATORS not in report.sections:
        return []
    outcome = report.sections[GENERATORS]
    if outcome.status != "ok":
        return ["## Generator win rates", "", f"Skipped: {md_cell(outcome.reason or 'no generators')}", ""]
    rates = outcome.section
    lines = ["## Generator win rates", "", f"Rule: `{rates.get('rule')}` (percent; a tie counts half).", ""]
    lines += md_table(WIN_RATE_HEADER, (head_to_head_row(r) for r in rates.get("head_to_head") or []))
    if length_controlled_statement(rates):
        lines += [md_cell(length_controlled_statement(rates)), ""]
    if len(rates.get("per_generator") or []) > 2:
        lines += ["Against all opponents (FastChat pairwise-all):", ""]
        lines += md_table(PER_GENERATOR_HEADER, (win_rate_row(r) for r in rates["per_generator"]))
    for dropped in rates.get("dropped_pairs") or []:
        lines += [f"{dropped['pairs']} pair(s) left out of {md_cell(dropped['left_out_of'])}: "
                  f"{md_cell(dropped['reason'])}.", ""]
    return lines


def _images(name: str, outcome: AuditorOutcome) -> list[str]:
    from rlaif_audit.reporting.figures import auditor_figures

    specs = [spec for spec in auditor_figures(name, outcome) if spec.plot() is not None]
    return [line for spec in specs for line in (f"![{md_cell(spec.title)}]({spec.png_path})", "")]


def _auditor(name: str, outcome: AuditorOutcome) -> list[str]:
    lines = [f"### {md_cell(name)}", "", md_cell(outcome.description), ""]
    lines += md_table(METRIC_HEADER, metric_rows(outcome.metrics)) + _images(name, outcome)
    for table_name, rows in shown_tables(outcome):
        lines += _generic_table(table_name, rows)
    lines += [f"- {md_cell(note)}" for note in outcome.notes]
    return lines + [""]


def _review_queue(report: Report) -> list[str]:
    tasks = report.review_queue
    if not tasks:
        return []
    rows = [[t.get("rank"), t.get("pair_id"), fmt_number(t.get("p_a")), t.get("reason")] for t in tasks[:MAX_TABLE_ROWS]]
    return ["## Human review queue", "", f"{len(tasks)} pairs, most useful first; texts in review_queue.jsonl.", ""] \
        + md_table(("Rank", "Pair", "Judge P(A)", "Why"), rows)


def _not_ok(report: Report) -> list[str]:
    rows, run_only = report.not_ok_auditors(), run_only_line(report)
    lines = ["## Skipped and failed auditors", ""] if rows or run_only else []
    for name, outcome in rows:
        lines.append(f"- **{md_cell(name)}** — {outcome.status}: {md_cell(outcome.reason or '')}")
        if outcome.traceback:
            lines += [""] + _fenced(str(outcome.traceback))
    for err in report.report_errors:
        lines.append(f"- report format **{md_cell(err.format)}** failed: {md_cell(err.error)}")
    if run_only:
        lines += ([""] if rows or report.report_errors else []) + [md_cell(run_only)]
    return lines + ([""] if lines else [])


def _other_sections(report: Report) -> list[str]:
    lines = []
    for key, value in other_sections(report).items():
        lines += [f"## {key.capitalize()}", ""] + _fenced(json.dumps(value, indent=2, ensure_ascii=False), "json")
        lines += [""]
    return lines


def _reproducibility(report: Report) -> list[str]:
    config = json.dumps(report.config, indent=2, ensure_ascii=False)
    lines = ["## Reproducibility", ""] + [f"- {label}: {md_cell(value)}" for label, value in provenance_rows(report)]
    command = report.config.get("command")
    if command:
        lines += [""] + _fenced(str(command), "bash")
    return lines + ["", "Configuration:", ""] + _fenced(config, "json") + [""]


class MarkdownReport(ReportFormat):
    """report.md: headline, auditors (with PNG figures), skipped/errors, notes, reproducibility, model card."""

    name = "markdown"
    description = "Human-readable Markdown report with PNG figures and a model-card section."
    filename = "report.md"
    reader_rank = 1

    def render(self, report: Report) -> str:
        lines = [f"# {md_cell(report.title)}", ""]
        lines += ["## Headline", ""] + md_table(("Metric", "Value", "95% CI", "n"), (
            [row.key, fmt_number(row.value, headline_digits(row)), fmt_interval(row.ci, row.note, headline_digits(row)),
             row.n]
            for row in report.headline))
        lines += [f"> warning: {md_cell(w)}" for w in report.warnings] + [""]
        lines += _generators(report) + ["## Auditors", ""]
        for name, outcome in report.ok_auditors():
            lines += _auditor(name, outcome)
        lines += _review_queue(report) + _not_ok(report)
        lines += ["## Method notes", ""] + [f"- {md_cell(n)}" for n in report.method_notes] + [""]
        lines += _other_sections(report) + _reproducibility(report)
        lines += ["## Model card section", "", "Paste into a Hugging Face model card README:", ""]
        return visible("\n".join(lines) + "\n" + model_card_section(report))  # hidden characters written out

    def write(self, report: Report, folder: Path) -> Path:
        """Write the figures' PNG files under ``figures/``, then report.md (which links them)."""
        from rlaif_audit.reporting.figures import write_pngs

        write_pngs(report, Path(folder))
        return super().write(report, folder)


FORMATS = (MarkdownReport,)
"""The formats this module defines, registered by the package's plugin."""
