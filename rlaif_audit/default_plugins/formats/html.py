"""report.html: one self-contained page from the Jinja2 template ``resources/report.html.j2`` (autoescaped), with
the figures inlined as SVG."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rlaif_audit.default_plugins.formats.tables import (
    GENERATORS,
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
from rlaif_audit.reporting.text import (Verbatim, fmt_interval, fmt_number, headline_digits, model_card_section,
                                       run_only_line, shown, visible)

if TYPE_CHECKING:
    import jinja2

    from rlaif_audit.reporting.report import AuditorOutcome, Report

TEMPLATE = "resources/report.html.j2"
REVIEW_SHOWN = 10
NUMERIC_WIN_RATE_COLUMNS = range(2, 13)


@lru_cache(maxsize=1)
def template() -> jinja2.Template:
    """The report template, autoescaping every value that is not marked safe."""
    from importlib import resources

    import jinja2

    source = resources.files("rlaif_audit").joinpath(TEMPLATE).read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True, finalize=_blank_none)
    return environment.from_string(source)


def _blank_none(value: Any) -> Any:
    """What the template prints for a value: missing values (None) as nothing, text cut to ``DISPLAY_LIMIT``
    (hidden characters are made visible on the whole page, :meth:`HtmlReport.render`)."""
    if value is None:
        return ""
    return shown(value) if isinstance(value, str) and not hasattr(value, "__html__") else value


def headline_cards(report: Report) -> list[dict[str, Any]]:
    """Key, value, CI and n of each headline number, formatted."""
    return [{"key": row.key, "value": fmt_number(row.value, headline_digits(row)),
             "ci": fmt_interval(row.ci, row.note, headline_digits(row)), "n": row.n} for row in report.headline]


def generators_view(report: Report) -> dict[str, Any] | None:
    """The win-rate tables, or the reason they were skipped; None without a generators section."""
    outcome = report.sections.get(GENERATORS)
    if outcome is None:
        return None
    if outcome.status != "ok":
        return {"skipped": outcome.reason or "no generators"}
    rates = outcome.section
    per_generator = rates.get("per_generator") or []
    return {"skipped": None, "rule": rates.get("rule"), "header": WIN_RATE_HEADER,
            "rows": [head_to_head_row(r) for r in rates.get("head_to_head") or []],
            "length_controlled": length_controlled_statement(rates),
            "all_header": PER_GENERATOR_HEADER,
            "all_rows": [win_rate_row(r) for r in per_generator] if len(per_generator) > 2 else [],
            "numeric": NUMERIC_WIN_RATE_COLUMNS, "dropped": rates.get("dropped_pairs") or []}


def figure_svgs(name: str, outcome: AuditorOutcome) -> list[str]:
    """The auditor's drawable figures as inline SVG (the template marks them safe: matplotlib escapes its text)."""
    from rlaif_audit.reporting.figures import auditor_figures, figure_svg

    return [svg for svg in (figure_svg(spec) for spec in auditor_figures(name, outcome)) if svg]


def auditor_view(name: str, outcome: AuditorOutcome) -> dict[str, Any]:
    """One auditor's section: metrics, figures, tables and notes."""
    tables = []
    for table_name, rows in shown_tables(outcome):
        columns, body, more = table_body(rows)
        tables.append({"name": table_name + (f" — {more}" if more else ""), "columns": columns, "rows": body})
    return {"name": name, "description": outcome.description, "metric_header": METRIC_HEADER,
            "metrics": metric_rows(outcome.metrics), "figures": figure_svgs(name, outcome), "tables": tables,
            "notes": outcome.notes}


def review_view(report: Report) -> list[dict[str, Any]]:
    """The first review tasks with their texts and P(A) formatted."""
    return [{"rank": task.get("rank"), "pair_id": task.get("pair_id"), "reason": task.get("reason"),
             "p_a_text": fmt_number(task.get("p_a")), "a": task.get("a"), "b": task.get("b"),
             "messages": _messages(task.get("context"))} for task in report.review_queue[:REVIEW_SHOWN]]


def _messages(context: Any) -> list[dict[str, Any]]:
    messages = context if isinstance(context, list) else []
    return [{"role": m.get("role"), "content": m.get("content")} for m in messages if isinstance(m, dict)]


def not_ok_view(report: Report) -> list[dict[str, Any]]:
    """The skipped and failed auditors with status, reason and traceback."""
    return [{"name": name, "css": "err" if outcome.status == "error" else "skip", "status": outcome.status,
             "reason": outcome.reason, "traceback": outcome.traceback} for name, outcome in report.not_ok_auditors()]


def page_context(report: Report) -> dict[str, Any]:
    """Everything the template shows, as plain values (the template escapes them)."""
    return {
        "report": report, "headline": headline_cards(report), "generators": generators_view(report),
        "auditors": [auditor_view(name, outcome) for name, outcome in report.ok_auditors()],
        "review": review_view(report), "review_total": len(report.review_queue), "not_ok": not_ok_view(report),
        "run_only": run_only_line(report),
        "other_sections": {key: Verbatim(json.dumps(value, indent=2, ensure_ascii=False))
                           for key, value in other_sections(report).items()},
        "provenance": provenance_rows(report),
        "config": Verbatim(json.dumps(report.config, indent=2, ensure_ascii=False)),
        "model_card": Verbatim(model_card_section(report)),
    }


class HtmlReport(ReportFormat):
    """report.html: one self-contained file (inline CSS and SVG, no scripts, no external requests)."""

    name = "html"
    description = "Self-contained HTML report with inline SVG plots."
    filename = "report.html"
    reader_rank = 2

    def render(self, report: Report) -> str:
        """The page; bidi controls, zero-width and other hidden characters written out (``text.visible``)."""
        return visible(template().render(**page_context(report)))


FORMATS = (HtmlReport,)
"""The formats this module defines, registered by the package's plugin."""
