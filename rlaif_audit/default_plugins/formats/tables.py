"""Rows and cells shared by the Markdown and HTML formats: metric tables, auditor tables, win rates, provenance."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rlaif_audit.reporting.chart_data import finite
from rlaif_audit.reporting.text import fmt_ci, fmt_interval, fmt_number, identity_text

if TYPE_CHECKING:
    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.reporting.report import AuditorOutcome, Report

MAX_TABLE_ROWS = 25
CELL_CHARS = 160
GENERATORS = "generators"  # the section the built-in win-rates auditor fills
WIN_RATE_HEADER = ("Generator", "Baseline", "Win rate (%)", "SE", "95% CI", "n_wins", "n_wins_base", "n_draws",
                   "n_total", "discrete win rate (%)", "avg_length", "LC win rate (%)", "LC SE")
PER_GENERATOR_HEADER = ("Generator", "Opponents", "Win rate (%)", "SE", "95% CI", "n_wins", "n_losses", "n_draws",
                        "n_total", "discrete win rate (%)", "avg_length")
METRIC_HEADER = ("Metric", "Value", "95% CI", "n", "Method")


def metric_rows(metrics: dict[str, Metric]) -> list[list[str]]:
    """One row per metric: name, value, CI (with its mark: degenerate, n<30, no valid interval), n, method."""
    return [[name, fmt_number(m.value), fmt_interval(m.ci, m.note), str(m.n), m.method] for name, m in metrics.items()]


def cell(value: Any) -> str:
    """A table cell: numbers rounded, a [low, high] pair as an interval, long text and JSON cut short."""
    if isinstance(value, list) and len(value) == 2 and all(v is None or finite(v) for v in value):
        return fmt_ci(value)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return fmt_number(value)
    else:
        text = "" if value is None else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The columns of the first rows shown, in first-seen order."""
    columns: list[str] = []
    for row in rows[:MAX_TABLE_ROWS]:
        columns += [key for key in row if key not in columns]
    return columns


def shown_tables(outcome: AuditorOutcome) -> list[tuple[str, list[dict[str, Any]]]]:
    """An auditor's tables of rows, without its review table (shown as the review queue)."""
    return [(name, rows) for name, rows in outcome.tables.items()
            if name != outcome.auditor.review_table and isinstance(rows, list) and rows
            and isinstance(rows[0], dict)]


def table_body(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]], str]:
    """Columns, the first rows' cells and a note saying how many rows were left out (empty when none)."""
    columns = table_columns(rows)
    body = [[cell(row.get(column)) for column in columns] for row in rows[:MAX_TABLE_ROWS]]
    more = f"first {MAX_TABLE_ROWS} of {len(rows)} rows; all in report.json" if len(rows) > MAX_TABLE_ROWS else ""
    return columns, body, more


def win_rate_row(row: dict[str, Any]) -> list[Any]:
    """A head-to-head or per-generator win-rate row as table cells."""
    return [row.get("generator"), row.get("baseline", "all"), fmt_number(row.get("win_rate"), 2),
            fmt_number(row.get("standard_error"), 2), fmt_ci(row.get("ci"), 2), row.get("n_wins"),
            row.get("n_wins_base", row.get("n_losses")), row.get("n_draws"), row.get("n_total"),
            fmt_number(row.get("discrete_win_rate"), 2), fmt_number(row.get("avg_length"))]


def head_to_head_row(row: dict[str, Any]) -> list[Any]:
    """A head-to-head row as table cells, with AlpacaEval's length-controlled win rate and its SE."""
    return win_rate_row(row) + [fmt_number(row.get("length_controlled_win_rate"), 2),
                                fmt_number(row.get("lc_standard_error"), 2)]


def length_controlled_statement(rates: dict[str, Any]) -> str:
    """What the length-controlled win rates are fitted with (or why they are missing)."""
    info = rates.get("length_controlled") or {}
    return f"Length-controlled (LC) win rate: {info['statement']}." if info.get("statement") else ""


def other_sections(report: Report) -> dict[str, Any]:
    """Sections shown as JSON: the callers' (``run``, ``gates``), then auditor sections without a view of their own."""
    sections = {key: outcome.section_dict() for key, outcome in report.sections.items() if key != GENERATORS}
    return {**report.extra_sections(), **sections}


def provenance_rows(report: Report) -> list[tuple[str, str]]:
    """Label and text of each provenance line: evaluator, data, counts, files, seeds, hashes, versions."""
    evaluator, data, judgments = report.evaluator, report.data, report.judgments
    return [
        ("evaluator", f"{evaluator.name or '—'} (identity {identity_text(evaluator)})"),
        ("data", f"{data.source or '—'} (format {data.format}, hash {data.hash or '—'})"),
        ("pairs / judgments / human labels", f"{data.n_pairs} / {data.n_judgments} / "
         f"{data.n_labels} ({data.n_annotators} annotators)"),
        ("judgments file", f"{judgments.path or '—'} (sha256 {judgments.hash or '—'})"),
        *_compare_rows(report),
        ("seed / bootstrap resamples", f"{report.seed} / {report.n_bootstrap}"),
        ("config hash", str(report.config_hash)),
        ("created", str(report.created_at)),
        ("versions", ", ".join(f"{k} {v}" for k, v in report.versions.items())),
    ]


def _compare_rows(report: Report) -> list[tuple[str, str]]:
    compare = report.compare
    if compare is None:
        return []
    other, files = compare.evaluator, compare.judgments
    return [("compared with", f"{other.name or '—'} (identity {', '.join(other.identity_hashes)}"
             f"; {files.path}, sha256 {files.hash}; {compare.n_pairs} shared pairs)")]
