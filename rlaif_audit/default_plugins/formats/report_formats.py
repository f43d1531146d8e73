"""Built-in report formats: report.json, report.md and one self-contained report.html with inline SVG plots."""

from __future__ import annotations

import html
import json
import math
from typing import Any, Callable, Iterable, Sequence

from rlaif_audit.reporting.format import ReportFormat
from rlaif_audit.reporting.text import _digits, _ids, _md, _not_ok_auditors, _ok_auditors, fmt_ci, fmt_number, model_card_section

MAX_TABLE_ROWS = 25
REVIEW_SHOWN = 10
PALETTE = ("#2b6cb0", "#dd6b20", "#c53030", "#718096", "#2f855a", "#6b46c1")
POSITION_SEGMENTS = (  # MT-Bench position table (Zheng et al. 2023, Table 2)
    ("consistent", "Consistent"), ("biased_first", "Biased to first"), ("biased_second", "Biased to second"),
    ("error", "Error"), ("partial_tie", "Tie in one order only"),
)
MT_BENCH_PUBLISHED = (  # Zheng et al. 2023, Table 2 (consistent, biased first, biased second, error), for reference
    {"label": "GPT-4 (MT-Bench paper)", "consistent": 0.650, "biased_first": 0.300, "biased_second": 0.050,
     "error": 0.0},
    {"label": "GPT-3.5 (MT-Bench paper)", "consistent": 0.462, "biased_first": 0.500, "biased_second": 0.012,
     "error": 0.025},
    {"label": "Claude-v1 (MT-Bench paper)", "consistent": 0.238, "biased_first": 0.750, "biased_second": 0.0,
     "error": 0.012},
)


# -------------------------------------------------------------------------------------------------- formatting


def _short(value: Any, length: int = 16) -> str:
    text = "" if value is None else str(value)
    return text[:length]


def _provenance_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    evaluator, data = report.get("evaluator") or {}, report.get("data") or {}
    judgments, versions = report.get("judgments") or {}, report.get("versions") or {}
    return [
        ("evaluator", f"{evaluator.get('name') or '—'} (identity {_ids(evaluator)})"),
        ("data", f"{data.get('source') or '—'} (format {data.get('format')}, hash {data.get('hash') or '—'})"),
        ("pairs / judgments / human labels", f"{data.get('n_pairs')} / {data.get('n_judgments')} / "
         f"{data.get('n_labels')} ({data.get('n_annotators')} annotators)"),
        ("judgments file", f"{judgments.get('path') or '—'} (sha256 {judgments.get('hash') or '—'})"),
        *_compare_rows(report),
        ("seed / bootstrap resamples", f"{report.get('seed')} / {report.get('n_bootstrap')}"),
        ("config hash", str(report.get("config_hash"))),
        ("created", str(report.get("created_at"))),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
    ]


def _compare_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    compare = report.get("compare") or {}
    if not compare:
        return []
    other = compare.get("evaluator") or {}
    files = compare.get("judgments") or {}
    return [("compared with", f"{other.get('name') or '—'} (identity {', '.join(other.get('identity_hashes') or [])}"
             f"; {files.get('path')}, sha256 {files.get('hash')}; {compare.get('n_pairs')} shared pairs)")]


def _extra_sections(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """Top-level sections added by callers (e.g. the loop's ``run``) that the formats show as JSON."""
    return [(key, report[key]) for key in ("run", "gates") if report.get(key)]


# ------------------------------------------------------------------------------------------------- model card


# --------------------------------------------------------------------------------------------------------- JSON


class JsonReport(ReportFormat):
    """report.json: the whole report dict, strict JSON (no NaN)."""

    name = "json"
    description = "Machine-readable report (every metric as value, CI and n)."
    filename = "report.json"

    def render(self, report: dict[str, Any]) -> str:
        return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# ----------------------------------------------------------------------------------------------------- Markdown


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _metric_rows(metrics: dict[str, Any]) -> list[list[str]]:
    return [[name, fmt_number(m.get("value")), fmt_ci(m.get("ci")), str(m.get("n")), m.get("method", "")]
            for name, m in metrics.items()]


CELL_CHARS = 160


def _cell(value: Any) -> str:
    """A table cell: numbers rounded, a [low, high] pair as an interval, long text and JSON cut short."""
    if isinstance(value, list) and len(value) == 2 and all(v is None or _finite(v) for v in value):
        return fmt_ci(value)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return fmt_number(value)
    else:
        text = "" if value is None else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _table_columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows[:MAX_TABLE_ROWS]:
        columns += [key for key in row if key not in columns]
    return columns


def _md_generic_table(name: str, rows: list[dict[str, Any]]) -> list[str]:
    if not rows or not isinstance(rows[0], dict):
        return []
    columns = _table_columns(rows)
    more = f" (first {MAX_TABLE_ROWS} of {len(rows)} rows; all in report.json)" if len(rows) > MAX_TABLE_ROWS else ""
    body = [[_cell(row.get(col)) for col in columns] for row in rows[:MAX_TABLE_ROWS]]
    return [f"**{_md(name)}**{more}", ""] + _md_table(columns, body)


WIN_RATE_HEADER = ("Generator", "Baseline", "Win rate (%)", "SE", "95% CI", "n_wins", "n_wins_base", "n_draws",
                   "n_total", "discrete win rate (%)", "avg_length")
PER_GENERATOR_HEADER = ("Generator", "Opponents", "Win rate (%)", "SE", "95% CI", "n_wins", "n_losses", "n_draws",
                        "n_total", "discrete win rate (%)", "avg_length")


def _win_rate_row(row: dict[str, Any]) -> list[str]:
    return [row.get("generator"), row.get("baseline", "all"), fmt_number(row.get("win_rate"), 2),
            fmt_number(row.get("standard_error"), 2), fmt_ci(row.get("ci"), 2), row.get("n_wins"),
            row.get("n_wins_base", row.get("n_losses")), row.get("n_draws"), row.get("n_total"),
            fmt_number(row.get("discrete_win_rate"), 2), fmt_number(row.get("avg_length"))]


def _md_generators(report: dict[str, Any]) -> list[str]:
    gens = report.get("generators") or {}
    if gens.get("status") != "ok":
        return ["## Generator win rates", "", f"Skipped: {_md(gens.get('reason') or 'no generators')}", ""]
    lines = ["## Generator win rates", "", f"Rule: `{gens.get('rule')}` (percent; a tie counts half).", ""]
    lines += _md_table(WIN_RATE_HEADER, (_win_rate_row(r) for r in gens.get("head_to_head") or []))
    if len(gens.get("per_generator") or []) > 2:
        lines += ["Against all opponents (FastChat pairwise-all):", ""]
        lines += _md_table(PER_GENERATOR_HEADER, (_win_rate_row(r) for r in gens["per_generator"]))
    return lines


def _md_auditor(name: str, result: dict[str, Any]) -> list[str]:
    lines = [f"### {_md(name)}", "", _md(result.get("description") or ""), ""]
    lines += _md_table(("Metric", "Value", "95% CI", "n", "Method"), _metric_rows(result.get("metrics") or {}))
    for table_name, rows in (result.get("tables") or {}).items():
        if table_name != "review_queue":
            lines += _md_generic_table(table_name, rows)
    lines += [f"- {_md(note)}" for note in result.get("notes") or []]
    return lines + [""]


def _md_review_queue(report: dict[str, Any]) -> list[str]:
    tasks = report.get("review_queue") or []
    if not tasks:
        return []
    rows = [[t.get("rank"), t.get("pair_id"), fmt_number(t.get("p_a")), t.get("reason")]
            for t in tasks[:MAX_TABLE_ROWS]]
    return ["## Human review queue", "", f"{len(tasks)} pairs, most useful first; texts in review_queue.jsonl.", ""] \
        + _md_table(("Rank", "Pair", "Judge P(A)", "Why"), rows)


def _md_not_ok(report: dict[str, Any]) -> list[str]:
    rows = _not_ok_auditors(report)
    lines = ["## Skipped and failed auditors", ""] if rows else []
    for name, res in rows:
        lines.append(f"- **{_md(name)}** — {res.get('status')}: {_md(res.get('reason') or '')}")
        if res.get("traceback"):
            lines += ["", "```", str(res["traceback"]).replace("```", "'''"), "```"]
    for err in report.get("report_errors") or []:
        lines.append(f"- report format **{_md(err.get('format'))}** failed: {_md(err.get('error'))}")
    return lines + ([""] if lines else [])


def _md_extra(report: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in _extra_sections(report):
        blob = json.dumps(value, indent=2, ensure_ascii=False).replace("```", "'''")
        lines += [f"## {key.capitalize()}", "", "```json", blob, "```", ""]
    return lines


def _md_reproducibility(report: dict[str, Any]) -> list[str]:
    config = json.dumps(report.get("config") or {}, indent=2, ensure_ascii=False).replace("```", "'''")
    lines = ["## Reproducibility", ""] + [f"- {label}: {_md(value)}" for label, value in _provenance_rows(report)]
    command = (report.get("config") or {}).get("command")
    if command:
        lines += ["", "```bash", str(command).replace("```", "'''"), "```"]
    return lines + ["", "Configuration:", "", "```json", config, "```", ""]


class MarkdownReport(ReportFormat):
    """report.md: headline, per-auditor sections, skipped/errors, method notes, reproducibility, model card."""

    name = "markdown"
    description = "Human-readable Markdown report with a model-card section."
    filename = "report.md"

    def render(self, report: dict[str, Any]) -> str:
        lines = [f"# {_md(report.get('title'))}", ""]
        lines += ["## Headline", ""] + _md_table(("Metric", "Value", "95% CI", "n"), (
            [row.get("key"), fmt_number(row.get("value"), _digits(row)), fmt_ci(row.get("ci"), _digits(row)),
             row.get("n")] for row in report.get("headline") or []))
        lines += [f"> warning: {_md(w)}" for w in report.get("warnings") or []] + [""]
        lines += _md_generators(report) + ["## Auditors", ""]
        for name, result in _ok_auditors(report):
            lines += _md_auditor(name, result)
        lines += _md_review_queue(report) + _md_not_ok(report)
        lines += ["## Method notes", ""] + [f"- {_md(n)}" for n in report.get("method_notes") or []] + [""]
        lines += _md_extra(report) + _md_reproducibility(report)
        lines += ["## Model card section", "", "Paste into a Hugging Face model card README:", ""]
        return "\n".join(lines) + "\n" + model_card_section(report)


# -------------------------------------------------------------------------------------------------------- SVG

SVG_W, SVG_H = 440, 300
MARGIN = {"left": 56, "right": 16, "top": 40, "bottom": 48}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Axes:
    """Maps data coordinates to an SVG plot area and draws axes with ticks and labels."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], title: str, x_label: str,
                 y_label: str, x_ticks: Sequence[str] | None = None) -> None:
        self.x0, self.x1 = x_range if x_range[1] > x_range[0] else (x_range[0] - 1, x_range[0] + 1)
        self.y0, self.y1 = y_range if y_range[1] > y_range[0] else (y_range[0] - 1, y_range[0] + 1)
        self.title, self.x_label, self.y_label = title, x_label, y_label
        self.x_ticks = list(x_ticks) if x_ticks else None  # category names at x = 0, 1, 2, ...
        self.left, self.top = MARGIN["left"], MARGIN["top"]
        self.width = SVG_W - MARGIN["left"] - MARGIN["right"]
        self.bottom = MARGIN["bottom"] + (34 if self.x_ticks else 0)
        self.svg_height = SVG_H + (34 if self.x_ticks else 0)
        self.height = self.svg_height - MARGIN["top"] - self.bottom

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.width

    def py(self, y: float) -> float:
        return self.top + self.height - (y - self.y0) / (self.y1 - self.y0) * self.height

    def frame(self) -> list[str]:
        parts = [f'<rect x="{self.left}" y="{self.top}" width="{self.width}" height="{self.height}" class="plot"/>']
        parts += self._x_tick_parts()
        for i in range(5):
            y = self.y0 + (self.y1 - self.y0) * i / 4
            parts.append(f'<line x1="{self.left}" x2="{self.left + self.width}" y1="{self.py(y):.1f}" '
                         f'y2="{self.py(y):.1f}" class="grid"/>')
            parts.append(f'<text x="{self.left - 6}" y="{self.py(y) + 4:.1f}" class="tick" '
                         f'text-anchor="end">{_e(_tick(y))}</text>')
        parts.append(f'<text x="{self.left + self.width / 2}" y="{self.svg_height - 8}" class="label" '
                     f'text-anchor="middle">{_e(self.x_label)}</text>')
        parts.append(f'<text x="14" y="{self.top + self.height / 2}" class="label" text-anchor="middle" '
                     f'transform="rotate(-90 14 {self.top + self.height / 2})">{_e(self.y_label)}</text>')
        parts.append(f'<text x="{self.left}" y="18" class="title">{_e(self.title)}</text>')
        return parts


    def _x_tick_parts(self) -> list[str]:
        base = self.top + self.height + 14
        if self.x_ticks:
            return [f'<text x="{self.px(i):.1f}" y="{base}" class="tick" text-anchor="end" '
                    f'transform="rotate(-30 {self.px(i):.1f} {base})">{_e(label)}</text>'
                    for i, label in enumerate(self.x_ticks)]
        ticks = (self.x0 + (self.x1 - self.x0) * i / 4 for i in range(5))
        return [f'<text x="{self.px(x):.1f}" y="{base + 2}" class="tick" text-anchor="middle">{_e(_tick(x))}</text>'
                for x in ticks]


def _tick(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def _svg(parts: list[str], label: str, height: int = SVG_H) -> str:
    return (f'<svg viewBox="0 0 {SVG_W} {height}" width="{SVG_W}" height="{height}" role="img" '
            f'aria-label="{_e(label)}">' + "".join(parts) + "</svg>")


def svg_line_chart(series: list[dict[str, Any]], title: str, x_label: str, y_label: str,
                   y_range: tuple[float, float] | None = None, diagonal: bool = False,
                   x_range: tuple[float, float] | None = None, x_ticks: Sequence[str] | None = None) -> str:
    """Lines with markers (and optional CI whiskers); ``series`` items: name, x, y, optional low/high/count.

    With ``x_ticks`` the x values are category positions 0, 1, 2, ... labelled by those names.
    """
    xs = [x for s in series for x in s["x"] if _finite(x)]
    ys = [y for s in series for key in ("y", "low", "high") for y in s.get(key) or [] if _finite(y)]
    if not xs or not ys:
        return ""
    if x_ticks:
        x_range = (-0.5, len(x_ticks) - 0.5)
    axes = Axes(x_range or (min(xs), max(xs)), y_range or (min(ys), max(ys)), title, x_label, y_label, x_ticks)
    parts = axes.frame()
    if diagonal:
        lo, hi = max(axes.x0, axes.y0), min(axes.x1, axes.y1)
        parts.append(f'<line x1="{axes.px(lo):.1f}" y1="{axes.py(lo):.1f}" x2="{axes.px(hi):.1f}" '
                     f'y2="{axes.py(hi):.1f}" class="diag"/>')
    for index, s in enumerate(series):
        parts += _series_parts(axes, s, PALETTE[index % len(PALETTE)])
    parts += _legend([s["name"] for s in series], axes)
    return _svg(parts, title, axes.svg_height)


def _series_parts(axes: Axes, s: dict[str, Any], color: str) -> list[str]:
    points = [(x, y, i) for i, (x, y) in enumerate(zip(s["x"], s["y"], strict=False)) if _finite(x) and _finite(y)]
    parts = []
    if len(points) > 1:
        coords = " ".join(f"{axes.px(x):.1f},{axes.py(y):.1f}" for x, y, _ in points)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
    low, high = s.get("low") or [], s.get("high") or []
    for x, y, i in points:
        if i < len(low) and i < len(high) and _finite(low[i]) and _finite(high[i]):
            parts.append(f'<line x1="{axes.px(x):.1f}" x2="{axes.px(x):.1f}" y1="{axes.py(low[i]):.1f}" '
                         f'y2="{axes.py(high[i]):.1f}" stroke="{color}" stroke-width="1"/>')
        count = (s.get("count") or [None] * (i + 1))[i] if i < len(s.get("count") or []) else None
        hover = f"x = {x:.3g}, y = {y:.3g}" + (f", n = {count}" if count is not None else "")
        parts.append(f'<circle cx="{axes.px(x):.1f}" cy="{axes.py(y):.1f}" r="3.5" fill="{color}">'
                     f"<title>{_e(hover)}</title></circle>")
    return parts


def _legend(names: Sequence[str], axes: Axes) -> list[str]:
    """One row of legend entries between the title and the plot."""
    parts, x = [], float(axes.left)
    for index, name in enumerate(names):
        color = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x:.1f}" y="{axes.top - 15}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{axes.top - 6}" class="legend">{_e(name)}</text>')
        x += 30 + 6 * len(str(name))
    return parts


def svg_stacked_bars(rows: list[dict[str, Any]], segment_names: Sequence[str], title: str) -> str:
    """Horizontal 100% stacked bars; ``rows`` items: label and shares (fractions summing to ≤ 1) per segment."""
    if not rows:
        return ""
    bar_h, left, width = 26, 150, SVG_W - 170
    height = 60 + len(rows) * (bar_h + 10) + 20 * math.ceil(len(segment_names) / 2)
    parts = [f'<text x="10" y="18" class="title">{_e(title)}</text>']
    for r_index, row in enumerate(rows):
        y, x = 34 + r_index * (bar_h + 10), float(left)
        parts.append(f'<text x="{left - 6}" y="{y + 17}" class="tick" text-anchor="end">{_e(row["label"])}</text>')
        for s_index, share in enumerate(row["shares"]):
            if _finite(share) and share > 0:
                w = share * width
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                             f'fill="{PALETTE[s_index % len(PALETTE)]}"><title>{_e(segment_names[s_index])}: '
                             f'{share * 100:.1f}%</title></rect>')
                if w > 34:
                    parts.append(f'<text x="{x + w / 2:.1f}" y="{y + 17}" class="inbar" '
                                 f'text-anchor="middle">{share * 100:.1f}%</text>')
                x += w
    legend_y = 44 + len(rows) * (bar_h + 10)
    for s_index, name in enumerate(segment_names):
        lx, ly = 10 + (s_index % 2) * 210, legend_y + 20 * (s_index // 2)
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{PALETTE[s_index % len(PALETTE)]}"/>')
        parts.append(f'<text x="{lx + 14}" y="{ly}" class="legend">{_e(name)}</text>')
    return (f'<svg viewBox="0 0 {SVG_W} {height}" width="{SVG_W}" '
            f'height="{height}" role="img" aria-label="{_e(title)}">' + "".join(parts) + "</svg>")


# ------------------------------------------------------------------------------------- figures from auditor data


def _pick(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in data and data[name] is not None:
            return data[name]
    return None


def _bins_to_lists(bins: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {
        "confidence": [_pick(b, "confidence", "mean_confidence", "conf", "predicted", "mean_predicted") for b in bins],
        "accuracy": [_pick(b, "accuracy", "observed", "acc", "frequency", "fraction_positive") for b in bins],
        "count": [_pick(b, "n", "count") for b in bins],
    }


def reliability_svg(data: dict[str, Any], title: str) -> str:
    """Reliability diagram: observed frequency against judge confidence per bin, with the diagonal."""
    series_src = data.get("series") if isinstance(data.get("series"), list) else [data]
    series = []
    for index, src in enumerate(series_src):
        bins = src.get("bins")
        lists = _bins_to_lists(bins) if isinstance(bins, list) and bins and isinstance(bins[0], dict) else {
            "confidence": _pick(src, "confidence", "mean_confidence", "mean_predicted", "predicted") or [],
            "accuracy": _pick(src, "accuracy", "observed", "fraction_positive", "frequency") or [], "count": []}
        name = src.get("name") or src.get("label") or src.get("scheme") or ("judge" if index == 0 else index)
        series.append({"name": f"{name} bins", "x": list(lists["confidence"]),
                       "y": list(lists["accuracy"]), "count": list(lists.get("count") or [])})
    x_label = data.get("x") if isinstance(data.get("x"), str) else "judge probability"
    y_label = data.get("y") if isinstance(data.get("y"), str) else "observed frequency (humans)"
    return svg_line_chart(series, title, x_label, y_label, (0.0, 1.0), diagonal=True, x_range=(0.0, 1.0))


def _position_shares(source: dict[str, Any]) -> list[float] | None:
    shares = []
    for key, _label in POSITION_SEGMENTS:
        value = _pick(source, key, f"{key}_share", f"share_{key}")
        if isinstance(value, dict):
            value = value.get("value")
        shares.append(float(value) if _finite(value) else 0.0)
    if sum(shares) <= 0:
        return None
    total = sum(shares)
    return [s / total for s in shares] if total > 1.0001 else shares


def _category_rows_to_source(rows: list[Any]) -> list[Any]:
    """``[{category, share}, ...]`` (one row per category) → one bar's ``{category: share}``."""
    if rows and all(isinstance(r, dict) and "category" in r and "share" in r for r in rows):
        return [{str(r["category"]): r["share"] for r in rows}]
    return rows


def _position_rows(sources: Iterable[Any], default_label: str) -> list[dict[str, Any]]:
    rows = []
    for src in (s for s in sources if isinstance(s, dict)):
        shares = _position_shares(src)
        if shares is not None:
            label = src.get("label") or src.get("evaluator") or src.get("name") or default_label
            rows.append({"label": str(label), "shares": shares})
    return rows


def position_svg(rows_or_data: Any, title: str, published: bool = False) -> str:
    """MT-Bench position table as stacked bars: consistent / biased to first / biased to second / error.

    With ``published``, the paper's GPT-4, GPT-3.5 and Claude-v1 rows are drawn below for reference.
    """
    sources = _category_rows_to_source(rows_or_data) if isinstance(rows_or_data, list) else [rows_or_data]
    rows = _position_rows(sources, "this judge")
    if not rows:
        return ""
    rows += _position_rows(MT_BENCH_PUBLISHED, "") if published else []
    used = [i for i in range(len(POSITION_SEGMENTS)) if any(r["shares"][i] > 0 for r in rows)] or [0]
    rows = [{"label": r["label"], "shares": [r["shares"][i] for i in used]} for r in rows]
    return svg_stacked_bars(rows, [POSITION_SEGMENTS[i][1] for i in used], title)


SERIES_NAMES = {"judge_p_a": "judge", "human_p_a": "humans"}


def _points_curve(data: dict[str, Any], title: str) -> str:
    """A curve from ``points``: rows with one category (or numeric x) key and numeric series (counts as n*)."""
    points = [p for p in data["points"] if isinstance(p, dict)]
    if not points:
        return ""
    keys = _table_columns(points)
    category = next((k for k in keys if all(isinstance(p.get(k), str) for p in points)), None)
    x_key = category or next((k for k in keys if k in ("x", "mid", "center", "value")), None)
    names = [k for k in keys if k != x_key and not k.startswith("n") and any(_finite(p.get(k)) for p in points)]
    xs = list(range(len(points))) if category or x_key is None else [p.get(x_key) for p in points]
    counts = [p.get("n") for p in points]
    series = [{"name": SERIES_NAMES.get(k, k), "x": xs, "y": [p.get(k) for p in points], "count": counts}
              for k in names]
    values = [v for s in series for v in s["y"] if _finite(v)]
    y_range = (0.0, 1.0) if values and min(values) >= 0 and max(values) <= 1 else None
    ticks = [str(p.get(category)) for p in points] if category else None
    return svg_line_chart(series, title, str(data.get("x") or data.get("x_label") or x_key or "x"),
                          str(data.get("y") or data.get("y_label") or "y"), y_range, x_ticks=ticks)


def curve_svg(data: dict[str, Any], title: str) -> str:
    """A generic curve (e.g. P(prefer A) against the length difference) from points, x/y lists or named series."""
    if isinstance(data.get("points"), list):
        return _points_curve(data, title)
    raw_series = data.get("series") if isinstance(data.get("series"), list) else None
    if raw_series is None:
        ys = {k: v for k, v in data.items() if k not in ("x", "x_label", "y_label", "kind", "title") and
              isinstance(v, list) and len(v) == len(data.get("x") or [])}
        raw_series = [{"name": k, "x": data.get("x") or [], "y": v} for k, v in ys.items()]
    series = [{"name": str(s.get("name", i)), "x": list(s.get("x") or data.get("x") or []), "y": list(s.get("y") or []),
               "low": s.get("low"), "high": s.get("high")} for i, s in enumerate(raw_series) if isinstance(s, dict)]
    return svg_line_chart(series, title, str(data.get("x_label") or "x"), str(data.get("y_label") or "y"))


def figure_kind(name: str, data: dict[str, Any]) -> str:
    """Which plot a figure's data asks for: its ``kind`` field, else guessed from its name and keys."""
    kind = str(data.get("kind") or "")
    lowered = name.lower()
    if kind:
        return kind
    if "reliab" in lowered or "calibration" in lowered:
        return "reliability"
    if "position" in lowered or "mt_bench" in lowered or "consisten" in lowered:
        return "position"
    return "curve"


FIGURE_RENDERERS: dict[str, Callable[[Any, str], str]] = {
    "reliability": reliability_svg,
    "position": position_svg,
    "stacked_bar": position_svg,
    "curve": curve_svg,
    "line": curve_svg,
}


def render_figure(name: str, data: Any) -> str:
    """Inline SVG for one figure's data; empty when the data are not drawable (never raises)."""
    if not isinstance(data, (dict, list)):
        return ""
    kind = figure_kind(name, data) if isinstance(data, dict) else "position"
    try:
        return FIGURE_RENDERERS.get(kind, curve_svg)(data, str(data.get("title") if isinstance(data, dict) and
                                                                data.get("title") else name.replace("_", " ")))
    except (TypeError, ValueError, KeyError, ZeroDivisionError):
        return ""


def position_figure_from_metrics(result: dict[str, Any]) -> str:
    """The MT-Bench stacked bar from a position auditor's tables or metrics when it has no figure of its own."""
    title = "MT-Bench position table (this judge vs published)"
    for table_name, rows in (result.get("tables") or {}).items():
        if "position" in table_name or "mt_bench" in table_name:
            svg = position_svg(rows, title, published=True)
            if svg:
                return svg
    return position_svg(result.get("metrics") or {}, title, published=True)


# ---------------------------------------------------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1a202c;
background:#f7fafc;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{border-bottom:2px solid #e2e8f0;padding-bottom:4px;margin-top:32px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:8px 20px 16px;margin:16px 0}
table{border-collapse:collapse;margin:8px 0;font-size:.92em}th,td{border:1px solid #e2e8f0;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#edf2f7}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.meta{color:#4a5568;font-size:.92em}
.warn{background:#fffaf0;border-left:4px solid #dd6b20;padding:6px 10px;margin:6px 0}
.err{background:#fff5f5;border-left:4px solid #c53030;padding:6px 10px;margin:6px 0}
.skip{background:#f7fafc;border-left:4px solid #a0aec0;padding:6px 10px;margin:6px 0}
.figs{display:flex;flex-wrap:wrap;gap:16px}.figs svg{background:#fff;border:1px solid #e2e8f0;border-radius:6px}
pre{background:#f7fafc;border:1px solid #e2e8f0;padding:8px;overflow-x:auto;white-space:pre-wrap;font-size:.85em}
.card{display:inline-block;min-width:200px;margin:6px 12px 6px 0;padding:10px 14px;border:1px solid #e2e8f0;
border-radius:8px;background:#fff}.card .v{font-size:1.5em;font-weight:600}.card .k{color:#4a5568;font-size:.85em}
.plot{fill:#fff;stroke:#a0aec0}.grid{stroke:#edf2f7}.diag{stroke:#718096;stroke-dasharray:4 3}
.tick{font-size:10px;fill:#4a5568}.label{font-size:11px;fill:#2d3748}.title{font-size:12px;font-weight:600;fill:#1a202c}
.legend{font-size:10px;fill:#2d3748}.inbar{font-size:10px;fill:#fff}details{margin:6px 0}
.text{white-space:pre-wrap;border-left:3px solid #cbd5e0;padding-left:8px;margin:4px 0}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _html_table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{_e(c)}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_headline(report: dict[str, Any]) -> str:
    cards = []
    for row in report.get("headline") or []:
        digits = _digits(row)
        cards.append(f'<div class="card"><div class="k">{_e(row.get("key"))}</div><div class="v">'
                     f'{_e(fmt_number(row.get("value"), digits))}</div><div class="k">95% CI '
                     f'{_e(fmt_ci(row.get("ci"), digits))} · n = {_e(row.get("n"))}</div></div>')
    body = "".join(cards) or "<p>No auditor produced a metric.</p>"
    return f'<section id="headline"><h2>Headline</h2>{body}</section>'


def _html_messages(report: dict[str, Any]) -> str:
    warns = "".join(f'<div class="warn">{_e(w)}</div>' for w in report.get("warnings") or [])
    errors = "".join(f'<div class="err">Report format {_e(e.get("format"))} failed: {_e(e.get("error"))}</div>'
                     for e in report.get("report_errors") or [])
    return f'<section id="warnings"><h2>Warnings</h2>{warns}{errors}</section>' if warns or errors else ""


def _html_generators(report: dict[str, Any]) -> str:
    gens = report.get("generators") or {}
    if gens.get("status") != "ok":
        return (f'<section id="generators"><h2>Generator win rates</h2><div class="skip">Skipped: '
                f'{_e(gens.get("reason") or "no generators")}</div></section>')
    table = _html_table(WIN_RATE_HEADER, (_win_rate_row(r) for r in gens.get("head_to_head") or []), range(2, 11))
    extra = ""
    if len(gens.get("per_generator") or []) > 2:
        extra = "<p>Against all opponents:</p>" + _html_table(
            PER_GENERATOR_HEADER, (_win_rate_row(r) for r in gens["per_generator"]), range(2, 11))
    return (f'<section id="generators"><h2>Generator win rates</h2><p class="meta">Rule {_e(gens.get("rule"))}; '
            f"percent; a tie counts half; 95% CI = win rate ± 1.96·SE.</p>{table}{extra}</section>")


def _html_figures(name: str, result: dict[str, Any]) -> str:
    svgs = [render_figure(fig_name, data) for fig_name, data in (result.get("figures") or {}).items()]
    if name == "position" and not any(svgs):
        svgs.append(position_figure_from_metrics(result))
    svgs = [svg for svg in svgs if svg]
    return f'<div class="figs">{"".join(svgs)}</div>' if svgs else ""


def _html_generic_table(name: str, rows: Any) -> str:
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return ""
    columns = _table_columns(rows)
    body = [[_cell(row.get(col)) for col in columns] for row in rows[:MAX_TABLE_ROWS]]
    more = f" — first {MAX_TABLE_ROWS} of {len(rows)} rows (all in report.json)" if len(rows) > MAX_TABLE_ROWS else ""
    return f"<details><summary>{_e(name)}{_e(more)}</summary>{_html_table(columns, body)}</details>"


def _html_auditor(name: str, result: dict[str, Any]) -> str:
    metrics = _html_table(("Metric", "Value", "95% CI", "n", "Method"), _metric_rows(result.get("metrics") or {}),
                          (1, 2, 3))
    tables = "".join(_html_generic_table(t, rows) for t, rows in (result.get("tables") or {}).items()
                     if t != "review_queue")
    notes = "".join(f"<li>{_e(n)}</li>" for n in result.get("notes") or [])
    return (f'<section id="auditor-{_e(name)}"><h2>{_e(name)}</h2><p class="meta">{_e(result.get("description"))}'
            f"</p>{metrics}{_html_figures(name, result)}{tables}{f'<ul>{notes}</ul>' if notes else ''}</section>")


def _html_message_list(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    return "".join(f'<div class="text"><b>{_e(m.get("role"))}:</b> {_e(m.get("content"))}</div>'
                   for m in messages if isinstance(m, dict))


def _html_review_queue(report: dict[str, Any]) -> str:
    tasks = report.get("review_queue") or []
    if not tasks:
        return ""
    items = []
    for task in tasks[:REVIEW_SHOWN]:
        items.append(
            f"<details><summary>#{_e(task.get('rank'))} {_e(task.get('pair_id'))} · judge P(A) = "
            f"{_e(fmt_number(task.get('p_a')))} · {_e(task.get('reason'))}</summary>"
            f"{_html_message_list(task.get('context'))}<p><b>A</b></p><div class=\"text\">{_e(task.get('a'))}</div>"
            f"<p><b>B</b></p><div class=\"text\">{_e(task.get('b'))}</div></details>")
    return (f'<section id="review-queue"><h2>Human review queue</h2><p class="meta">{len(tasks)} pairs, most useful '
            f"first (all in review_queue.jsonl); the first {min(len(tasks), REVIEW_SHOWN)} shown.</p>"
            f"{''.join(items)}</section>")


def _html_not_ok(report: dict[str, Any]) -> str:
    rows = []
    for name, res in _not_ok_auditors(report):
        css = "err" if res.get("status") == "error" else "skip"
        trace = f"<pre>{_e(res.get('traceback'))}</pre>" if res.get("traceback") else ""
        rows.append(f'<div class="{css}"><b>{_e(name)}</b> — {_e(res.get("status"))}: {_e(res.get("reason"))}'
                    f"{trace}</div>")
    return f'<section id="not-run"><h2>Skipped and failed auditors</h2>{"".join(rows)}</section>' if rows else ""


def _html_tail(report: dict[str, Any]) -> str:
    notes = "".join(f"<li>{_e(n)}</li>" for n in report.get("method_notes") or [])
    provenance = _html_table(("", ""), _provenance_rows(report))
    config = json.dumps(report.get("config") or {}, indent=2, ensure_ascii=False)
    extra = "".join(f'<section id="{_e(key)}"><h2>{_e(key.capitalize())}</h2><details><summary>{_e(key)} (JSON)'
                    f"</summary><pre>{_e(json.dumps(value, indent=2, ensure_ascii=False))}</pre></details></section>"
                    for key, value in _extra_sections(report))
    return (f'<section id="method-notes"><h2>Method notes</h2><ul>{notes}</ul></section>{extra}'
            f'<section id="reproducibility"><h2>Reproducibility</h2>{provenance}<details><summary>Configuration'
            f"</summary><pre>{_e(config)}</pre></details></section>"
            f'<section id="model-card"><h2>Model card section</h2><p class="meta">Markdown to paste into a Hugging '
            f"Face model card README:</p><pre>{_e(model_card_section(report))}</pre></section>")


class HtmlReport(ReportFormat):
    """report.html: one self-contained file (inline CSS and SVG, no scripts, no external requests)."""

    name = "html"
    description = "Self-contained HTML report with inline SVG plots."
    filename = "report.html"

    def render(self, report: dict[str, Any]) -> str:
        evaluator, data = report.get("evaluator") or {}, report.get("data") or {}
        header = (f"<header><h1>{_e(report.get('title'))}</h1><p class=\"meta\">Evaluator "
                  f"<b>{_e(evaluator.get('name'))}</b> · data {_e(data.get('source'))} · {_e(data.get('n_pairs'))} "
                  f"pairs · created {_e(report.get('created_at'))}</p></header>")
        body = [header, _html_headline(report), _html_messages(report), _html_generators(report)]
        body += [_html_auditor(name, result) for name, result in _ok_auditors(report)]
        body += [_html_review_queue(report), _html_not_ok(report), _html_tail(report)]
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{_e(report.get('title'))}</title><style>{CSS}</style></head><body><main>"
                + "".join(body) + "</main></body></html>\n")


FORMATS = (JsonReport, MarkdownReport, HtmlReport)
"""The formats this module defines, registered by the package's plugin."""
