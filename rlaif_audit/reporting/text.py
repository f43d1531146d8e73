"""Text helpers shared by the report formats and the model cards: numbers, intervals, Markdown cells, the card section."""

from __future__ import annotations

import html
import math
from typing import Any


def fmt_number(value: Any, digits: int = 3) -> str:
    """A number for a table cell: integers as is, floats to ``digits`` decimals, missing as an em dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.4g}"


def fmt_ci(ci: Any, digits: int = 3) -> str:
    """``[low, high]`` or an em dash."""
    if not ci or len(ci) != 2 or ci[0] is None or ci[1] is None:
        return "—"
    return f"[{fmt_number(ci[0], digits)}, {fmt_number(ci[1], digits)}]"


def _digits(metric: dict[str, Any]) -> int:
    return 1 if "%" in str(metric.get("metric", "")) else 3


def _ok_auditors(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, res) for name, res in (report.get("auditors") or {}).items() if res.get("status") == "ok"]


def _not_ok_auditors(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, res) for name, res in (report.get("auditors") or {}).items() if res.get("status") != "ok"]


def _md(value: Any) -> str:
    """Text safe inside a Markdown table cell: HTML escaped, pipes escaped, on one line."""
    text = html.escape("" if value is None else str(value), quote=False)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _ids(evaluator: dict[str, Any]) -> str:
    return ", ".join(evaluator.get("identity_hashes") or []) or "—"


def model_card_section(report: dict[str, Any]) -> str:
    """A Markdown section (headline table and provenance) to paste into a Hugging Face model card README."""
    evaluator, data = report.get("evaluator") or {}, report.get("data") or {}
    lines = [
        "## AI evaluator audit (rlaif-audit)",
        "",
        f"The AI evaluator `{_md(evaluator.get('name') or 'unknown')}` was audited with rlaif-audit "
        f"{_md(str((report.get('tool') or {}).get('version')))} on {data.get('n_pairs')} preference pairs from "
        f"`{_md(str(data.get('source') or 'unknown'))}` (data hash `{data.get('hash') or '—'}`).",
        "",
        "| Metric | Value | 95% CI | n |",
        "|---|---|---|---|",
    ]
    for row in report.get("headline") or []:
        digits = _digits(row)
        lines.append(f"| {_md(row.get('key') or row.get('metric'))} | {fmt_number(row.get('value'), digits)} | "
                     f"{fmt_ci(row.get('ci'), digits)} | {row.get('n')} |")
    grouped: dict[tuple[str, str], list[str]] = {}
    for name, res in _not_ok_auditors(report):
        grouped.setdefault((str(res.get("status")), str(res.get("reason") or "")), []).append(f"`{_md(name)}`")
    if grouped:
        lines += ["", "Not measured: " + "; ".join(f"{', '.join(names)} ({status}: {_md(reason)})"
                                                    for (status, reason), names in grouped.items()) + "."]
    lines += ["", f"Evaluator identity: `{', '.join(evaluator.get('identity_hashes') or []) or '—'}`; "
              f"seed {report.get('seed')}; {report.get('n_bootstrap')} bootstrap resamples; "
              f"report schema {report.get('schema_version')}.", ""]
    return "\n".join(lines)
