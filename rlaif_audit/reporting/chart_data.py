"""Auditor figure data → plot descriptions (series, bars) for each plot kind; drawing is in ``figures``.

A kind reads the loose shapes auditors write: reliability bins, ``points`` rows, ``x``/``y`` lists, named
``series``, MT-Bench category shares. Data that a kind cannot read give ``None``, never an exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterable

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
SERIES_NAMES = {"judge_p_a": "judge", "human_p_a": "humans"}
DATA_KEYS = ("x", "x_label", "y_label", "kind", "title")


def finite(value: Any) -> bool:
    """True for a real, finite number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Series:
    """One line: x and y values, optional CI bounds (whiskers) and counts (annotated n) per point."""

    name: str
    x: list[Any]
    y: list[Any]
    low: list[Any] | None = None
    high: list[Any] | None = None
    count: list[Any] | None = None

    def points(self) -> list[tuple[float, float, int]]:
        """(x, y, index) of the points with finite coordinates."""
        return [(x, y, i) for i, (x, y) in enumerate(zip(self.x, self.y)) if finite(x) and finite(y)]

    def whisker(self, index: int) -> tuple[float, float] | None:
        """The (low, high) bounds at a point, when both are finite."""
        low, high = self.low or [], self.high or []
        if index < len(low) and index < len(high) and finite(low[index]) and finite(high[index]):
            return float(low[index]), float(high[index])
        return None


@dataclass
class LinePlot:
    """Lines with markers; ``x_ticks`` names categories at x = 0, 1, 2, ...; ``diagonal`` draws y = x."""

    title: str
    x_label: str
    y_label: str
    series: list[Series]
    y_range: tuple[float, float] | None = None
    x_range: tuple[float, float] | None = None
    diagonal: bool = False
    x_ticks: list[str] | None = None


@dataclass
class BarPlot:
    """Horizontal 100% stacked bars: one row per label, one share per segment."""

    title: str
    labels: list[str]
    shares: list[list[float]]
    segments: list[str] = field(default_factory=list)


@dataclass
class ValueBars:
    """Horizontal bars of one number per label (e.g. seconds per stage), each bar labelled with its value."""

    title: str
    labels: list[str]
    values: list[float]
    x_label: str = ""


Plot = LinePlot | BarPlot | ValueBars


def value_bars(data: dict[str, Any], title: str) -> ValueBars | None:
    """``{"labels": [...], "values": [...], "x_label"}`` → bars of the labels with a finite value; None if none."""
    kept = [(str(label), float(value)) for label, value in zip(data["labels"], data["values"]) if finite(value)]
    if not kept:
        return None
    return ValueBars(title, [label for label, _ in kept], [value for _, value in kept], str(data.get("x_label", "")))


# --------------------------------------------------------------------------------------------------- lines


def line_plot(series: list[Series], title: str, x_label: str, y_label: str, **extra: Any) -> LinePlot | None:
    """A line plot, or None when no series has a finite point."""
    if not any(s.points() for s in series):
        return None
    return LinePlot(title, x_label, y_label, series, **extra)


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


def _reliability_series(index: int, src: dict[str, Any]) -> Series:
    bins = src.get("bins")
    lists = _bins_to_lists(bins) if isinstance(bins, list) and bins and isinstance(bins[0], dict) else {
        "confidence": _pick(src, "confidence", "mean_confidence", "mean_predicted", "predicted") or [],
        "accuracy": _pick(src, "accuracy", "observed", "fraction_positive", "frequency") or [], "count": []}
    name = src.get("name") or src.get("label") or src.get("scheme") or ("judge" if index == 0 else index)
    counts = list(lists.get("count") or [])
    low, high = bin_whiskers(list(lists["accuracy"]), counts)
    return Series(f"{name} bins", list(lists["confidence"]), list(lists["accuracy"]), low=low, high=high,
                  count=counts)


def bin_whiskers(shares: list[Any], counts: list[Any]) -> tuple[list[Any], list[Any]]:
    """Wilson 95% interval of each bin's observed share (``share · n`` successes of ``n``; a human tie counts
    half), ``None`` where a bin lacks a finite share or a count: the whiskers of a reliability diagram."""
    from rlaif_audit.auditing.stats import wilson_interval

    low: list[Any] = []
    high: list[Any] = []
    for i, share in enumerate(shares):
        count = counts[i] if i < len(counts) else None
        interval = wilson_interval(float(share) * int(count), int(count)) if finite(share) and finite(count) else None
        low.append(interval[0] if interval else None)
        high.append(interval[1] if interval else None)
    return low, high


def reliability_plot(data: dict[str, Any], title: str) -> LinePlot | None:
    """Reliability diagram: observed frequency against judge confidence per bin, with the diagonal."""
    sources = data.get("series") if isinstance(data.get("series"), list) else [data]
    series = [_reliability_series(index, src) for index, src in enumerate(sources)]
    x_label = data.get("x") if isinstance(data.get("x"), str) else "judge probability"
    y_label = data.get("y") if isinstance(data.get("y"), str) else "observed frequency (humans)"
    return line_plot(series, title, x_label, y_label, y_range=(0.0, 1.0), x_range=(0.0, 1.0), diagonal=True)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    return columns


def _points_curve(data: dict[str, Any], title: str) -> LinePlot | None:
    """A curve from ``points``: rows with one category (or numeric x) key and numeric series (counts as n*)."""
    points = [p for p in data["points"] if isinstance(p, dict)]
    if not points:
        return None
    keys = _columns(points)
    category = next((k for k in keys if all(isinstance(p.get(k), str) for p in points)), None)
    x_key = category or next((k for k in keys if k in ("x", "mid", "center", "value")), None)
    names = [k for k in keys if k != x_key and not k.startswith("n") and any(finite(p.get(k)) for p in points)]
    xs = list(range(len(points))) if category or x_key is None else [p.get(x_key) for p in points]
    counts = [p.get("n") for p in points]
    series = [Series(SERIES_NAMES.get(k, k), xs, [p.get(k) for p in points], count=counts if i == 0 else None)
              for i, k in enumerate(names)]
    values = [v for s in series for v in s.y if finite(v)]
    y_range = (0.0, 1.0) if values and min(values) >= 0 and max(values) <= 1 else None
    ticks = [str(p.get(category)) for p in points] if category else None
    return line_plot(series, title, str(data.get("x") or data.get("x_label") or x_key or "x"),
                     str(data.get("y") or data.get("y_label") or "y"), y_range=y_range, x_ticks=ticks,
                     x_range=(-0.5, len(points) - 0.5) if ticks else None)


def curve_plot(data: dict[str, Any], title: str) -> LinePlot | None:
    """A generic curve (e.g. P(prefer A) against the length difference) from points, x/y lists or named series."""
    if isinstance(data.get("points"), list):
        return _points_curve(data, title)
    raw_series = data.get("series") if isinstance(data.get("series"), list) else None
    if raw_series is None:
        ys = {k: v for k, v in data.items() if k not in DATA_KEYS and isinstance(v, list)
              and len(v) == len(data.get("x") or [])}
        raw_series = [{"name": k, "x": data.get("x") or [], "y": v} for k, v in ys.items()]
    series = [Series(str(s.get("name", i)), list(s.get("x") or data.get("x") or []), list(s.get("y") or []),
                     s.get("low"), s.get("high")) for i, s in enumerate(raw_series) if isinstance(s, dict)]
    return line_plot(series, title, str(data.get("x_label") or "x"), str(data.get("y_label") or "y"))


# ---------------------------------------------------------------------------------------------------- bars


def _position_shares(source: dict[str, Any]) -> list[float] | None:
    shares = []
    for key, _label in POSITION_SEGMENTS:
        value = _pick(source, key, f"{key}_share", f"share_{key}")
        if isinstance(value, dict):
            value = value.get("value")
        shares.append(float(value) if finite(value) else 0.0)
    total = sum(shares)
    if total <= 0:
        return None
    return [s / total for s in shares] if total > 1.0001 else shares


def _category_rows_to_source(rows: list[Any]) -> list[Any]:
    """``[{category, share}, ...]`` (one row per category) → one bar's ``{category: share}``."""
    if rows and all(isinstance(r, dict) and "category" in r and "share" in r for r in rows):
        return [{str(r["category"]): r["share"] for r in rows}]
    return rows


def _position_rows(sources: Iterable[Any], default_label: str) -> list[tuple[str, list[float]]]:
    rows = []
    for src in (s for s in sources if isinstance(s, dict)):
        shares = _position_shares(src)
        if shares is not None:
            rows.append((str(src.get("label") or src.get("evaluator") or src.get("name") or default_label), shares))
    return rows


def position_plot(rows_or_data: Any, title: str, published: bool = False) -> BarPlot | None:
    """MT-Bench position table as stacked bars: consistent / biased to first / biased to second / error.

    With ``published``, the paper's GPT-4, GPT-3.5 and Claude-v1 rows are drawn below for reference.
    """
    sources = _category_rows_to_source(rows_or_data) if isinstance(rows_or_data, list) else [rows_or_data]
    rows = _position_rows(sources, "this judge")
    if not rows:
        return None
    rows += _position_rows(MT_BENCH_PUBLISHED, "") if published else []
    used = [i for i in range(len(POSITION_SEGMENTS)) if any(shares[i] > 0 for _, shares in rows)]
    return BarPlot(title, [label for label, _ in rows], [[shares[i] for i in used] for _, shares in rows],
                   [POSITION_SEGMENTS[i][1] for i in used])


PLOT_KINDS: dict[str, Callable[[Any, str], Plot | None]] = {
    "reliability": reliability_plot,
    "curve": curve_plot,
    "line": curve_plot,
    "stacked-bars": position_plot,
    "bars": value_bars,
    "mt-bench": partial(position_plot, published=True),
    "position": position_plot,  # the kind names figure data used before the declarations
    "stacked_bar": position_plot,
}
KIND_TITLES = {"mt-bench": "MT-Bench position table (this judge vs published)"}


def plot_for(kind: str, data: Any, title: str) -> Plot | None:
    """The plot of one figure's data as ``kind`` reads it (unknown kinds as curves); None when not drawable."""
    reader = PLOT_KINDS.get(kind, curve_plot)
    if not isinstance(data, (dict, list)) or (isinstance(data, list) and reader is curve_plot):
        return None
    try:
        return reader(data, title)
    except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError):
        return None

