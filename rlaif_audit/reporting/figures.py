"""The report's figures drawn with matplotlib (Agg, no pyplot state): inline SVG for report.html, PNG files beside
the report (``figures/<auditor>-<name>.png``) for report.md and model cards, which show images but not inline SVG.

Which figures a report has comes from the auditors' declarations (``figure_kinds``, ``table_figures``); how each
kind reads its data is in :mod:`rlaif_audit.reporting.chart_data`. matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlaif_audit.records.fileio import write_inside
from rlaif_audit.reporting.chart_data import KIND_TITLES, BarPlot, LinePlot, Plot, ValueBars, plot_for
from rlaif_audit.reporting.text import fmt_number

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from rlaif_audit.reporting.report import AuditorOutcome, Report

FIGURE_DIR = "figures"
WIDTH_IN, HEIGHT_IN, DPI = 4.4, 3.0, 100
PALETTE = ("#2b6cb0", "#dd6b20", "#c53030", "#718096", "#2f855a", "#6b46c1")
RC = {"svg.fonttype": "none", "text.parse_math": False, "font.size": 8, "axes.titlesize": 9,
      "axes.titleweight": "bold", "axes.spines.top": False, "axes.spines.right": False}
SVG_NS, XLINK_NS = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"
NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
IN_BAR_SHARE = 0.08  # segments narrower than this carry no percentage label


@dataclass
class FigureSpec:
    """One figure of a report: which auditor drew it, its name, plot kind, title and data."""

    auditor: str
    name: str
    kind: str
    title: str
    data: Any

    @property
    def png_path(self) -> str:
        """Where its PNG lies, relative to the report folder."""
        return f"{FIGURE_DIR}/{_safe(self.auditor)}-{_safe(self.name)}.png"

    def plot(self) -> Plot | None:
        """What to draw, or None when the data are not drawable."""
        return plot_for(self.kind, self.data, self.title)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "figure"


def figure_kind(outcome: AuditorOutcome, name: str, data: Any) -> str:
    """The declared kind of a figure, else its data's ``kind`` field, else ``curve``."""
    declared = outcome.auditor.figure_kinds.get(name)
    return declared or (str(data.get("kind")) if isinstance(data, dict) and data.get("kind") else "curve")


def figure_title(name: str, data: Any) -> str:
    """The data's ``title``, else the figure name in words."""
    return str(data["title"]) if isinstance(data, dict) and data.get("title") else name.replace("_", " ")


def auditor_figures(auditor: str, outcome: AuditorOutcome) -> list[FigureSpec]:
    """An auditor's figures, then the tables it declares as figures."""
    specs = [FigureSpec(auditor, name, figure_kind(outcome, name, data), figure_title(name, data), data)
             for name, data in outcome.figures.items()]
    for table, kind in outcome.auditor.table_figures.items():
        if outcome.tables.get(table):
            title = KIND_TITLES.get(kind) or table.replace("_", " ")
            specs.append(FigureSpec(auditor, table, kind, title, outcome.tables[table]))
    return specs


def report_figures(report: Report) -> list[FigureSpec]:
    """Every figure of the auditors that measured something, in report order."""
    return [spec for name, outcome in report.ok_auditors() for spec in auditor_figures(name, outcome)]


# ------------------------------------------------------------------------------------------------------ drawing


def draw(plot: Plot) -> Figure:
    """A matplotlib figure of a plot description."""
    import matplotlib

    with matplotlib.rc_context(RC):
        if isinstance(plot, ValueBars):
            return draw_value_bars(plot)
        return draw_lines(plot) if isinstance(plot, LinePlot) else draw_bars(plot)


def draw_value_bars(plot: ValueBars) -> Figure:
    """Horizontal bars, one per label in the given order (top to bottom), each with its value written beside it."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, 1.2 + 0.35 * len(plot.labels)), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    rows = range(len(plot.labels))
    axes.barh(rows, plot.values, height=0.6, color=PALETTE[0])
    for row, value in zip(rows, plot.values):
        axes.annotate(fmt_number(value, 1), (value, row), textcoords="offset points", xytext=(3, 0), va="center",
                      fontsize=7, color="#4a5568")
    axes.set_yticks(rows, plot.labels)
    axes.invert_yaxis()
    axes.margins(x=0.15)
    axes.set(title=plot.title, xlabel=plot.x_label)
    axes.xaxis.set_major_formatter(tick_formatter())
    axes.grid(axis="x", alpha=0.3)
    return figure


def draw_lines(plot: LinePlot) -> Figure:
    """Lines with markers, CI whiskers, annotated counts, category ticks and the diagonal when asked."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN + (0.4 if plot.x_ticks else 0.0)), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    if plot.diagonal:
        axes.plot([0, 1], [0, 1], linestyle="--", linewidth=1, color="#718096", label="_diagonal")
    for index, series in enumerate(plot.series):
        color = PALETTE[index % len(PALETTE)]
        points = series.points()
        axes.plot([x for x, _, _ in points], [y for _, y, _ in points], marker="o", markersize=4, linewidth=1.8,
                  color=color, label=series.name)
        for x, y, i in points:
            whisker = series.whisker(i)
            if whisker:
                axes.vlines(x, *whisker, color=color, linewidth=1)
            if series.count and i < len(series.count) and series.count[i] is not None:
                axes.annotate(f"n = {series.count[i]}", (x, y), textcoords="offset points", xytext=(0, 5),
                              ha="center", fontsize=6, color="#4a5568")
    _frame_lines(axes, plot)
    axes.yaxis.set_major_formatter(tick_formatter())
    return figure


def tick_labels(values: list[float]) -> list[str]:
    """Tick labels that tell neighbouring ticks apart without an offset or a ×10ⁿ corner note: as many decimals
    as the tick spacing needs (ticks at 1e-6 apart read ``0.0000029``-style values, never all ``0``); spacings
    below 1e-4 in scientific notation with the significant digits the spacing needs."""
    import math

    finite_values = [v for v in values if math.isfinite(v)]
    steps = [abs(b - a) for a, b in zip(finite_values, finite_values[1:]) if b != a]
    if not steps:
        return [fmt_number(float(v)) for v in values]
    exponent = math.floor(math.log10(min(steps)))
    if exponent >= -4:
        decimals = max(0, -exponent)
        return [f"{v:.{decimals}f}" for v in values]
    largest = max(abs(v) for v in finite_values) or min(steps)
    significant = max(0, math.floor(math.log10(largest)) - exponent)
    return ["0" if v == 0 else f"{v:.{significant}e}" for v in values]


def tick_formatter() -> Any:
    """A matplotlib formatter using :func:`tick_labels` for the ticks of an axis."""
    from matplotlib.ticker import Formatter

    class _Ticks(Formatter):
        def format_ticks(self, values: Any) -> list[str]:
            return tick_labels([float(v) for v in values])

        def __call__(self, x: float, pos: int | None = None) -> str:
            return fmt_number(float(x))

    return _Ticks()


def _frame_lines(axes: Axes, plot: LinePlot) -> None:
    if plot.x_ticks:
        axes.set_xticks(range(len(plot.x_ticks)), plot.x_ticks, rotation=30, ha="right")
    if plot.x_range:
        axes.set_xlim(*plot.x_range)
    if plot.y_range:
        axes.set_ylim(*plot.y_range)
    axes.set(title=plot.title, xlabel=plot.x_label, ylabel=plot.y_label)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, frameon=False)


def draw_bars(plot: BarPlot) -> Figure:
    """Horizontal 100% stacked bars with in-bar percentages and a legend below."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    height = 1.3 + 0.42 * len(plot.labels) + 0.2 * ((len(plot.segments) + 1) // 2)
    figure = Figure(figsize=(WIDTH_IN + 0.8, height), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    rows = range(len(plot.labels))
    left = [0.0] * len(plot.labels)
    for s_index, segment in enumerate(plot.segments):
        widths = [shares[s_index] for shares in plot.shares]
        axes.barh(rows, widths, left=left, height=0.7, color=PALETTE[s_index % len(PALETTE)], label=segment)
        for row, (start, width) in enumerate(zip(left, widths)):
            if width >= IN_BAR_SHARE:
                axes.text(start + width / 2, row, f"{width * 100:.1f}%", ha="center", va="center", fontsize=7,
                          color="white")
        left = [start + width for start, width in zip(left, widths)]
    axes.set_yticks(rows, plot.labels)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.xaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_title(plot.title)
    figure.legend(loc="outside lower center", ncols=2, fontsize=7, frameon=False)
    return figure


# ---------------------------------------------------------------------------------------------------- output


def figure_svg(spec: FigureSpec) -> str:
    """Inline SVG of one figure (no XML prolog, no references outside itself); empty when not drawable."""
    import matplotlib

    plot = spec.plot()
    if plot is None:
        return ""
    prefix = f"{_safe(spec.auditor)}-{_safe(spec.name)}"
    buffer = io.StringIO()
    with matplotlib.rc_context({**RC, "svg.hashsalt": prefix}):
        draw(plot).savefig(buffer, format="svg", metadata=NO_METADATA)
    return self_contained_svg(buffer.getvalue(), prefix, spec.title)


def self_contained_svg(svg: str, prefix: str, title: str) -> str:
    """The SVG with each ``<use>`` replaced by a copy of what it names, ids made unique, labelled for readers.

    report.html allows no ``<use>``/``href`` (nothing that could point outside the file); matplotlib draws
    markers with them, so they are expanded here.
    """
    import copy
    import xml.etree.ElementTree as ET

    ET.register_namespace("", SVG_NS)
    root = ET.fromstring(svg)
    by_id = {element.get("id"): element for element in root.iter() if element.get("id")}
    href = f"{{{XLINK_NS}}}href"
    for parent in list(root.iter()):
        for index, child in enumerate(list(parent)):
            if child.tag == f"{{{SVG_NS}}}use":
                target = copy.deepcopy(by_id[child.get(href, "").lstrip("#")])
                target.attrib.pop("id", None)
                place = {"transform": f"translate({child.get('x', 0)} {child.get('y', 0)})"}
                if child.get("style"):
                    place["style"] = child.get("style")  # the marker's stroke and fill
                group = ET.Element(f"{{{SVG_NS}}}g", place)
                group.append(target)
                parent[index] = group
    _unique_ids(root, prefix)
    root.set("role", "img")
    root.set("aria-label", title)
    return ET.tostring(root, encoding="unicode")


def _unique_ids(root: Any, prefix: str) -> None:
    """Prefix the ids that ``url(#id)`` references point at; drop the other ids (matplotlib's group names)."""
    referenced = {match for element in root.iter() for value in element.attrib.values()
                  for match in re.findall(r"url\(#([^)]+)\)", value)}
    for element in root.iter():
        for key, value in element.attrib.items():
            if "url(#" in value:
                element.set(key, re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", value))
        ident = element.attrib.pop("id", None)
        if ident in referenced:
            element.set("id", f"{prefix}-{ident}")


def write_png(spec: FigureSpec, folder: Path) -> str | None:
    """Draw one figure to ``folder/figures/<auditor>-<name>.png``; its relative path, or None when not drawable."""
    import matplotlib

    plot = spec.plot()
    if plot is None:
        return None
    buffer = io.BytesIO()
    with matplotlib.rc_context(RC):
        draw(plot).savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    write_inside(folder, spec.png_path, buffer.getvalue())  # figure names come from plugins: kept inside
    return spec.png_path


def write_pngs(report: Report, folder: Path) -> dict[tuple[str, str], str]:
    """Write the PNG of every drawable figure: ``{(auditor, figure name): relative path}``."""
    written = {}
    for spec in report_figures(report):
        path = write_png(spec, folder)
        if path:
            written[spec.auditor, spec.name] = path
    return written
