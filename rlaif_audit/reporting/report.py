"""The typed report: each auditor's outcome, the headline, review queue and provenance; ``to_dict()`` is report.json.

Everything inside rlaif-audit passes these objects; the dict exists only at the edge (report.json, the
``on_generation_end`` hook). :meth:`Report.from_dict` loads a report.json back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypeVar

from rlaif_audit.auditing.auditor import RUN_ONLY, Auditor, AuditResult, Metric

SCHEMA_VERSION = "1.0"
Status = Literal["ok", "skipped", "error"]
Plain = TypeVar("Plain")


def to_jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN/inf to None, tuples to lists, anything else to str."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(key): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(value) for value in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 0) == 0:
        return to_jsonable(obj.item())
    if hasattr(obj, "tolist"):
        return to_jsonable(obj.tolist())
    return str(obj)


def _plain(cls: type[Plain], data: dict[str, Any]) -> Plain:
    """A flat dataclass from its dict; a missing key is a KeyError naming it."""
    return cls(**{f.name: data[f.name] for f in fields(cls)})


def clean_metric(metric: Metric) -> Metric:
    """The metric as report.json holds it: plain floats, NaN and infinities as None, its interval marked.

    Every metric passes here, a plugin's too, so no zero-width or small-n interval reaches a report unmarked.
    """
    from rlaif_audit.auditing.stats import marked

    return marked(Metric.from_dict(to_jsonable(metric.to_dict())))


# ------------------------------------------------------------------------------------------------- pieces


@dataclass
class HeadlineRow:
    """One of the few numbers a reviewer reads first: ``auditor.metric`` with its value, 95% CI and n."""

    key: str
    auditor: str
    metric: str
    value: float | None
    ci: tuple[float | None, float | None] | None
    n: int
    method: str = ""
    note: str = ""

    @classmethod
    def of(cls, auditor: str, name: str, metric: Metric) -> HeadlineRow:
        """The row of an auditor's metric, keyed ``auditor.name``."""
        return cls(f"{auditor}.{name}", auditor, name, metric.value, metric.ci, metric.n, metric.method, metric.note)

    def to_dict(self) -> dict[str, Any]:
        """``{"key", "auditor", "metric", "value", "ci", "n"[, "method"][, "ci_note"]}``."""
        numbers = Metric(self.value, self.ci, self.n, self.method, self.note).to_dict()  # type: ignore[arg-type]
        return {"key": self.key, "auditor": self.auditor, "metric": self.metric, **numbers}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadlineRow:
        """The row of a report.json headline entry."""
        metric = Metric.from_dict(data)
        return cls(data["key"], data["auditor"], data["metric"], metric.value, metric.ci, metric.n, metric.method,
                   metric.note)


def marked_row(row: HeadlineRow) -> HeadlineRow:
    """A headline row an auditor returned, in plain JSON values, its interval marked as every metric's is."""
    clean = HeadlineRow.from_dict(to_jsonable(row.to_dict()))
    clean.note = clean_metric(Metric(clean.value, clean.ci, clean.n, clean.method, clean.note)).note  # type: ignore[arg-type]
    return clean


@dataclass
class AuditorOutcome:
    """One auditor's result as the report holds it, with where it came from and how long it took.

    ``auditor`` is the class whose declarations (headline, figure kinds, review table, section) the host reads;
    for a report loaded from JSON it is the base :class:`Auditor`, which declares nothing.
    """

    status: Status = "ok"
    reason: str | None = None
    metrics: dict[str, Metric] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plugin: str = ""
    description: str = ""
    seconds: float = 0.0
    error: str | None = None
    traceback: str | None = None
    headline: list[HeadlineRow] = field(default_factory=list)
    section: dict[str, Any] = field(default_factory=dict)
    auditor: type[Auditor] = field(default=Auditor, repr=False, compare=False)

    @classmethod
    def from_result(cls, result: AuditResult, auditor: type[Auditor]) -> AuditorOutcome:
        """The outcome of an auditor's :class:`AuditResult`, already in plain JSON values."""
        return cls(status=result.status, reason=result.reason,
                   metrics={name: clean_metric(m) for name, m in result.metrics.items()},
                   tables=to_jsonable(result.tables), figures=to_jsonable(result.figures),
                   notes=to_jsonable(result.notes),
                   headline=[marked_row(row) for row in result.headline],
                   section=to_jsonable(result.section), auditor=auditor)

    def _failure(self) -> dict[str, Any]:
        return {} if self.error is None else {"error": self.error, "traceback": self.traceback}

    def to_dict(self) -> dict[str, Any]:
        """The ``auditors.<name>`` entry of report.json."""
        return {"status": self.status, "reason": self.reason,
                "metrics": {name: m.to_dict() for name, m in self.metrics.items()}, "tables": self.tables,
                "figures": self.figures, "notes": self.notes, **self._failure(), "plugin": self.plugin,
                "description": self.description, "seconds": self.seconds}

    def section_dict(self) -> dict[str, Any]:
        """The top-level section this outcome fills: its status (and reason unless ok), then the section content."""
        reason = {} if self.status == "ok" else {"reason": self.reason}
        return {"status": self.status, **reason, **self._failure(), **self.section}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditorOutcome:
        """The outcome of a report.json ``auditors.<name>`` entry."""
        return cls(status=data["status"], reason=data["reason"],
                   metrics={name: Metric.from_dict(m) for name, m in data["metrics"].items()},
                   tables=data["tables"], figures=data["figures"], notes=data["notes"], plugin=data["plugin"],
                   description=data["description"], seconds=data["seconds"], error=data.get("error"),
                   traceback=data.get("traceback"))

    @classmethod
    def from_section(cls, data: dict[str, Any]) -> AuditorOutcome:
        """The outcome behind a top-level section of report.json (e.g. ``generators``)."""
        own = ("status", "reason", "error", "traceback")
        return cls(status=data["status"], reason=data.get("reason"), error=data.get("error"),
                   traceback=data.get("traceback"), section={k: v for k, v in data.items() if k not in own})


@dataclass
class EvaluatorInfo:
    """Name(s) and identity hash(es) of the evaluator behind the judgments."""

    name: str = ""
    names: list[str] = field(default_factory=list)
    identity_hashes: list[str] = field(default_factory=list)


@dataclass
class DataInfo:
    """Where the pairs came from and how many pairs, judgments and labels were audited.

    ``hash`` is :func:`rlaif_audit.records.provenance.data_hash` of the judged pairs (the hash `label` prints and
    writes on each judgment); ``labels_hash`` that of their human labels.
    """

    source: str = ""
    hash: str = ""
    labels_hash: str = ""
    format: str = "rlaif"
    n_pairs: int = 0
    n_judgments: int = 0
    n_labels: int = 0
    n_annotators: int = 0
    orders: int = 0


@dataclass
class JudgmentsFile:
    """The judgments file and its sha256 (16 hex digits)."""

    path: str | None = None
    hash: str | None = None


@dataclass
class Comparison:
    """The ``--compare`` judgments: their file, their evaluator and how many pairs both judged."""

    judgments: JudgmentsFile
    evaluator: EvaluatorInfo
    n_pairs: int

    def to_dict(self) -> dict[str, Any]:
        """The ``compare`` entry of report.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        """The comparison of a ``compare`` dict."""
        return cls(_plain(JudgmentsFile, data["judgments"]), _plain(EvaluatorInfo, data["evaluator"]),
                   data["n_pairs"])


@dataclass
class ReportError:
    """A report format that failed (the others were still written)."""

    format: str
    plugin: str
    error: str


@dataclass
class GateOutcome:
    """One ``--gate``: its text, whether it passed, and the line printed for it."""

    gate: str
    passed: bool
    message: str


# ------------------------------------------------------------------------------------------------- report

KNOWN_KEYS = frozenset({"schema_version", "title", "created_at", "tool", "versions", "config", "config_hash",
                        "evaluator", "data", "judgments", "seed", "n_bootstrap", "headline", "auditors",
                        "review_queue", "compare", "warnings", "method_notes", "report_errors", "gates", "run"})


@dataclass
class Report:
    """Everything report.json holds, typed. ``sections``: top-level sections filled by auditors (``generators``)."""

    title: str = ""
    created_at: str = ""
    tool_version: str | None = None
    versions: dict[str, str | None] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    config_hash: str = ""
    evaluator: EvaluatorInfo = field(default_factory=EvaluatorInfo)
    data: DataInfo = field(default_factory=DataInfo)
    judgments: JudgmentsFile = field(default_factory=JudgmentsFile)
    seed: int = 0
    n_bootstrap: int = 0
    headline: list[HeadlineRow] = field(default_factory=list)
    auditors: dict[str, AuditorOutcome] = field(default_factory=dict)
    sections: dict[str, AuditorOutcome] = field(default_factory=dict)
    review_queue: list[dict[str, Any]] = field(default_factory=list)
    compare: Comparison | None = None
    warnings: list[str] = field(default_factory=list)
    method_notes: list[str] = field(default_factory=list)
    report_errors: list[ReportError] = field(default_factory=list)
    gates: list[GateOutcome] | None = None
    run: dict[str, Any] | None = None
    schema_version: str = SCHEMA_VERSION

    def ok_auditors(self) -> list[tuple[str, AuditorOutcome]]:
        """The auditors that measured something, in report order."""
        return [(name, outcome) for name, outcome in self.auditors.items() if outcome.status == "ok"]

    def not_ok_auditors(self) -> list[tuple[str, AuditorOutcome]]:
        """The auditors that were skipped or failed, in report order, but the run-only ones (:meth:`run_only`)."""
        return [(name, outcome) for name, outcome in self.auditors.items()
                if outcome.status != "ok" and not _run_only(outcome)]

    def run_only(self) -> list[str]:
        """The auditors not applicable to a standalone audit: they need an ``rlaif-audit run`` (``requires`` "run")."""
        return [name for name, outcome in self.auditors.items() if _run_only(outcome)]

    def extra_sections(self) -> dict[str, Any]:
        """Sections added by callers (the loop's ``run``, the command's ``gates``) that formats show as JSON."""
        extra = {"run": self.run, "gates": [asdict(g) for g in self.gates or []]}
        return {key: value for key, value in extra.items() if value}

    def to_dict(self) -> dict[str, Any]:
        """report.json: strict JSON values (no NaN), keys in the documented order."""
        out: dict[str, Any] = {
            "schema_version": self.schema_version, "title": self.title, "created_at": self.created_at,
            "tool": {"name": "rlaif-audit", "version": self.tool_version}, "versions": self.versions,
            "config": self.config, "config_hash": self.config_hash, "evaluator": asdict(self.evaluator),
            "data": asdict(self.data), "judgments": asdict(self.judgments), "seed": self.seed,
            "n_bootstrap": self.n_bootstrap, "headline": [row.to_dict() for row in self.headline],
            "auditors": {name: outcome.to_dict() for name, outcome in self.auditors.items()},
            **{key: outcome.section_dict() for key, outcome in self.sections.items()},
            "review_queue": self.review_queue, "compare": self.compare.to_dict() if self.compare else None,
            "warnings": self.warnings, "method_notes": self.method_notes,
            "report_errors": [asdict(error) for error in self.report_errors],
        }
        if self.gates is not None:
            out["gates"] = [asdict(gate) for gate in self.gates]
        if self.run is not None:
            out["run"] = self.run
        return to_jsonable(out)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Load a report.json dict; a missing key is a KeyError, an unknown one that is no section a ValueError."""
        unknown = [key for key, value in data.items() if key not in KNOWN_KEYS and not _is_section(value)]
        if unknown:
            raise ValueError(f"report.json has unknown top-level keys: {', '.join(sorted(unknown))}")
        return cls(
            schema_version=data["schema_version"], title=data["title"], created_at=data["created_at"],
            tool_version=data["tool"]["version"], versions=data["versions"], config=data["config"],
            config_hash=data["config_hash"], evaluator=_plain(EvaluatorInfo, data["evaluator"]),
            data=_plain(DataInfo, data["data"]), judgments=_plain(JudgmentsFile, data["judgments"]),
            seed=data["seed"], n_bootstrap=data["n_bootstrap"],
            headline=[HeadlineRow.from_dict(row) for row in data["headline"]],
            auditors={name: AuditorOutcome.from_dict(entry) for name, entry in data["auditors"].items()},
            sections={key: AuditorOutcome.from_section(value) for key, value in data.items()
                      if key not in KNOWN_KEYS},
            review_queue=data["review_queue"],
            compare=Comparison.from_dict(data["compare"]) if data["compare"] else None,
            warnings=data["warnings"], method_notes=data["method_notes"],
            report_errors=[_plain(ReportError, error) for error in data["report_errors"]],
            gates=None if data.get("gates") is None else [_plain(GateOutcome, gate) for gate in data["gates"]],
            run=data.get("run"))


def _is_section(value: Any) -> bool:
    return isinstance(value, dict) and value.get("status") in ("ok", "skipped", "error")


def _run_only(outcome: AuditorOutcome) -> bool:
    """Skipped because it needs a run (``auditing.auditor.RUN_ONLY``): not applicable rather than not measured."""
    return outcome.status == "skipped" and outcome.reason == RUN_ONLY
