"""Text shared by the report formats and the model cards: numbers, intervals, Markdown cells, the card section."""

from __future__ import annotations

import html
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlaif_audit.reporting.report import EvaluatorInfo, HeadlineRow, Report


DISPLAY_LIMIT = 20_000
"""Characters of one value that report.html and report.md show; the rest is cut with a note (report.json and
review_queue.jsonl keep every character). A megabyte response stays a readable page."""
HIDDEN_CHARACTERS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064"
    "\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]")
"""Characters a reader cannot see that change what is seen: C0/C1 controls (terminal escapes) but tab and newline,
bidirectional overrides, embeddings, isolates and marks (Trojan Source, CVE-2021-42574), zero-width spaces and
joiners, the soft hyphen, word joiner and invisible operators, line/paragraph separators, lone surrogates, the
byte-order mark, interlinear annotations and the Unicode tag block (invisible "ASCII smuggling" text)."""
MARKDOWN_LINK_END = re.compile(r"\](?=[(\[:])")
"""The ``]`` that ends a Markdown link, image or reference (``](``, ``][``, ``]:``)."""


def visible(text: str) -> str:
    """``text`` with every hidden character (``HIDDEN_CHARACTERS``) written out as ``\\uXXXX`` / ``\\UXXXXXXXX``."""
    return HIDDEN_CHARACTERS.sub(_escape_hidden, text)


def _escape_hidden(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


class Verbatim(str):
    """Text a report shows whole, without the ``DISPLAY_LIMIT`` cut (a JSON block of the report's own data)."""


def shown(text: str, limit: int = DISPLAY_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with a note saying how many more there are and where they are."""
    if len(text) <= limit or isinstance(text, Verbatim):
        return text
    return f"{text[:limit]} … [{len(text) - limit:,} more characters: report.json holds the whole text]"


SMALL_SIGNIFICANT = 2
"""Significant digits a small float keeps when ``digits`` decimals would show fewer (2.9e-4 → ``0.00029``)."""


def fmt_number(value: Any, digits: int = 3) -> str:
    """A number for a table cell or a printed line: integers as is, floats to ``digits`` decimals, missing as an em
    dash. A float so small that ``digits`` decimals would show fewer than two significant digits keeps two
    (``SMALL_SIGNIFICANT``): 2.9e-4 is ``0.00029``, not ``0.000``; 1e4 and above in four significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 1e4:
        return f"{value:.4g}"
    if value != 0 and abs(value) < 10.0 ** (SMALL_SIGNIFICANT - 1 - digits):
        return f"{value:.{SMALL_SIGNIFICANT}g}"
    return f"{value:.{digits}f}"


def fmt_short(value: float | None) -> str:
    """A number in four significant digits for a printed line (gates, the audit summary), missing as an em dash."""
    return "—" if value is None else f"{float(value):.4g}"


def metric_text(metric: Any) -> str:
    """A metric (or headline row) on a printed line: ``0.6833 [95% CI 0.6, 0.76] (n<30) n=12`` — how ``label`` and
    ``audit`` both print a number, so the same agreement reads the same in both."""
    low, high = metric.ci or (None, None)
    mark = f" ({metric.note})" if metric.note else ""
    return f"{fmt_short(metric.value)} [95% CI {fmt_short(low)}, {fmt_short(high)}]{mark} n={metric.n}"


def fmt_ci(ci: Any, digits: int = 3) -> str:
    """``[low, high]`` or an em dash."""
    if not ci or len(ci) != 2 or ci[0] is None or ci[1] is None:
        return "—"
    return f"[{fmt_number(ci[0], digits)}, {fmt_number(ci[1], digits)}]"


def fmt_interval(ci: Any, note: str = "", digits: int = 3) -> str:
    """``[low, high]`` (or an em dash) followed by the interval's mark in parentheses, if it has one."""
    shown = fmt_ci(ci, digits)
    return f"{shown} ({note})" if note else shown


def headline_digits(row: HeadlineRow) -> int:
    """Decimals for a headline number: one for percentages (win rates), three otherwise."""
    return 1 if "%" in row.metric else 3


def run_only_line(report: Report) -> str:
    """``Not applicable here (run-only): a, b.`` for the auditors that need an ``rlaif-audit run``; empty if none."""
    names = report.run_only()
    return f"Not applicable here (run-only): {', '.join(names)}." if names else ""


def md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: cut to ``DISPLAY_LIMIT``, hidden characters made visible, HTML
    escaped, pipes escaped, no link, image or reference (``]`` before ``(``, ``[``, ``:`` escaped), on one line."""
    text = html.escape(visible(shown("" if value is None else str(value))), quote=False)
    text = MARKDOWN_LINK_END.sub(r"\\]", text)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def identity_text(evaluator: EvaluatorInfo) -> str:
    """The evaluator's identity hashes, comma separated, or an em dash."""
    return ", ".join(evaluator.identity_hashes) or "—"


def model_card_section(report: Report) -> str:
    """A Markdown section (headline table and provenance) to paste into a Hugging Face model card README."""
    evaluator, data = report.evaluator, report.data
    lines = [
        "## AI evaluator audit (rlaif-audit)",
        "",
        f"The AI evaluator `{md_cell(evaluator.name or 'unknown')}` was audited with rlaif-audit "
        f"{md_cell(str(report.tool_version))} on {data.n_pairs} preference pairs from "
        f"`{md_cell(str(data.source or 'unknown'))}` (data hash `{data.hash or '—'}`).",
        "",
        "| Metric | Value | 95% CI | n |",
        "|---|---|---|---|",
    ]
    for row in report.headline:
        digits = headline_digits(row)
        lines.append(f"| {md_cell(row.key or row.metric)} | {fmt_number(row.value, digits)} | "
                     f"{fmt_interval(row.ci, row.note, digits)} | {row.n} |")
    grouped: dict[tuple[str, str], list[str]] = {}
    for name, outcome in report.not_ok_auditors():
        grouped.setdefault((str(outcome.status), str(outcome.reason or "")), []).append(f"`{md_cell(name)}`")
    if grouped:
        lines += ["", "Not measured: " + "; ".join(f"{', '.join(names)} ({status}: {md_cell(reason)})"
                                                    for (status, reason), names in grouped.items()) + "."]
    lines += ["", f"Evaluator identity: `{identity_text(evaluator)}`; seed {report.seed}; {report.n_bootstrap} "
              f"bootstrap resamples; report schema {report.schema_version}.", ""]
    return "\n".join(lines)
