"""Assemble the typed :class:`Report` from the auditors' outcomes, and write every report format and the review queue.

The builder reads each auditor's declarations (headline metrics, review table, section, method notes); it never
names an auditor.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.records.provenance import library_versions, stable_hash
from rlaif_audit.reporting.report import (
    AuditorOutcome,
    Comparison,
    DataInfo,
    EvaluatorInfo,
    HeadlineRow,
    JudgmentsFile,
    Report,
    ReportError,
    to_jsonable,
)

if TYPE_CHECKING:
    import pandas as pd
    import pluggy

    from rlaif_audit.auditing.auditor import AuditContext
    from rlaif_audit.records.types import PreferencePair

REVIEW_QUEUE_FILE = "review_queue.jsonl"
HEADLINE_PER_AUDITOR = 2
UNHASHED_CONFIG = ("command", "output", "title")  # settings that do not change a number
METHOD_NOTES = (
    "Position-debiased preference (RLAIF, Lee et al. 2023): P(A ≻ B) = ½·[P_first(A,B) + 1 − P_first(B,A)].",
    "Every headline number carries a 95% confidence interval and its sample size n; the interval method is named "
    "beside each metric.",
    "An interval marked ci_note 'degenerate' has zero width (every resample agreed), one marked 'n<30' rests on "
    "fewer than 30 units, 'no valid interval' means none is reported; none of them is a 95% CI to rely on.",
)


def evaluator_section(judgments: pd.DataFrame) -> dict[str, Any]:
    """Name(s) and identity hash(es) of the evaluator behind a judgments table (the ``evaluator`` entry)."""
    names, ids = (sorted({str(v) for v in judgments[column].dropna().unique() if str(v) != ""})
                  if column in judgments.columns else [] for column in ("evaluator", "evaluator_id"))
    return {"name": names[0] if len(names) == 1 else ", ".join(names), "names": names, "identity_hashes": ids}


# ---------------------------------------------------------------------------------------------------- headline


def declared_headline(name: str, outcome: AuditorOutcome) -> list[HeadlineRow]:
    """The first measured metrics the auditor declares as headline (none declared or measured: its first metric)."""
    preferred = [metric for metric in outcome.auditor.headline if metric in outcome.metrics]
    chosen = preferred[:HEADLINE_PER_AUDITOR] or list(outcome.metrics)[:1]
    return [HeadlineRow.of(name, metric, outcome.metrics[metric]) for metric in chosen]


def build_headline(auditors: dict[str, AuditorOutcome], sections: dict[str, AuditorOutcome]) -> list[HeadlineRow]:
    """The few numbers a reviewer reads first: each auditor's declared metrics, then the rows auditors returned."""
    rows = [row for name, outcome in auditors.items() if outcome.status == "ok"
            for row in declared_headline(name, outcome)]
    everyone = [*auditors.values(), *sections.values()]
    return rows + [row for outcome in everyone if outcome.status == "ok" for row in outcome.headline]


# ------------------------------------------------------------------------------------------------ review queue


def _pair_lookup(pairs: Sequence[PreferencePair] | None) -> dict[str, PreferencePair]:
    return {pair.id: pair for pair in pairs or ()}


def review_rows(outcomes: dict[str, AuditorOutcome]) -> list[dict[str, Any]]:
    """The rows of every auditor's declared review table (whatever its status), in auditor order."""
    return [row for outcome in outcomes.values() if outcome.auditor.review_table
            for row in outcome.tables.get(outcome.auditor.review_table) or []]


def build_review_queue(outcomes: dict[str, AuditorOutcome],
                       pairs: Sequence[PreferencePair] | None) -> list[dict[str, Any]]:
    """The review rows with each pair's texts attached (the tasks of review_queue.jsonl)."""
    lookup = _pair_lookup(pairs)
    tasks = []
    for position, row in enumerate(review_rows(outcomes), start=1):
        pair = lookup.get(str(row.get("pair_id")))
        task = {"rank": row.get("rank", position), "pair_id": row.get("pair_id"), "reason": row.get("reason"),
                "p_a": row.get("p_a"), "human_p_a": row.get("human_p_a")}
        if pair is not None:
            task.update(context=pair.context, a=pair.a, b=pair.b, generator_a=pair.metadata.get("generator_a"),
                        generator_b=pair.metadata.get("generator_b"))
        tasks.append({**task, **{k: v for k, v in row.items() if k not in task}})
    return to_jsonable(tasks)


# ---------------------------------------------------------------------------------------------------- the report


def method_notes(outcomes: dict[str, AuditorOutcome], extra: Sequence[str] = ()) -> list[str]:
    """The host's notes (and ``extra``), each auditor's declared method notes, then the notes of each result."""
    declared = [note for outcome in outcomes.values() for note in outcome.auditor.method_notes]
    found = [f"{name}: {note}" for name, outcome in outcomes.items() for note in outcome.notes]
    return [*METHOD_NOTES, *extra, *declared, *found]


def _counts(ctx: AuditContext) -> dict[str, int]:
    labels = ctx.labels
    annotators = labels["annotator"].nunique() if len(labels) and "annotator" in labels.columns else 0
    orders = ctx.judgments["order"].nunique() if "order" in ctx.judgments.columns else 0
    return {"n_pairs": int(len(ctx.pairs)), "n_judgments": int(len(ctx.judgments)), "n_labels": int(len(labels)),
            "n_annotators": int(annotators), "orders": int(orders)}


def _labels_hash(ctx: AuditContext) -> str:
    """:func:`rlaif_audit.records.provenance.labels_hash` of the audited human labels."""
    from rlaif_audit.records.provenance import labels_hash
    from rlaif_audit.records.types import HumanLabel

    labels = ctx.labels
    if not len(labels):
        return ""
    annotators = labels["annotator"] if "annotator" in labels.columns else ["source"] * len(labels)
    return labels_hash(HumanLabel(str(pair_id), str(preferred), str(annotator))  # type: ignore[arg-type]
                       for pair_id, preferred, annotator in zip(labels["pair_id"], labels["preferred"], annotators))


def build_report(
    ctx: AuditContext,
    results: dict[str, AuditorOutcome],
    *,
    pairs: Sequence[PreferencePair] | None = None,
    config: dict[str, Any] | None = None,
    data_source: str = "",
    data_hash: str = "",
    judgments_path: str | Path | None = None,
    judgments_hash: str | None = None,
    source_format: str = "rlaif",
    title: str = "",
    warnings: Sequence[str] = (),
    compare: dict[str, Any] | None = None,
) -> Report:
    """The report: provenance, the auditors' outcomes and sections, headline and review queue."""
    from rlaif_audit.auditing.flags import adjust_report
    from rlaif_audit.records.provenance import file_hash

    config = to_jsonable(config or {})
    fdr_note = adjust_report(results)
    if judgments_path is not None and judgments_hash is None and Path(judgments_path).is_file():
        judgments_hash = file_hash(judgments_path)
    auditors = {name: outcome for name, outcome in results.items() if not outcome.auditor.section}
    sections = {str(outcome.auditor.section): outcome for outcome in results.values() if outcome.auditor.section}
    evaluator = EvaluatorInfo(**evaluator_section(ctx.judgments))
    versions = library_versions()
    return Report(
        title=title or f"Evaluator audit: {evaluator.name or 'unknown evaluator'}",
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        tool_version=versions.get("rlaif-audit"), versions=versions, config=config,
        config_hash=stable_hash({k: v for k, v in config.items() if k not in UNHASHED_CONFIG}),
        evaluator=evaluator, data=DataInfo(source=data_source, hash=data_hash, labels_hash=_labels_hash(ctx),
                                                  format=source_format, **_counts(ctx)),
        judgments=JudgmentsFile(str(judgments_path) if judgments_path else None, judgments_hash),
        seed=ctx.seed, n_bootstrap=ctx.n_bootstrap, headline=build_headline(auditors, sections),
        auditors=auditors, sections=sections, review_queue=build_review_queue(results, pairs),
        compare=Comparison.from_dict(to_jsonable(compare)) if compare else None, warnings=list(warnings),
        method_notes=method_notes(results, [fdr_note] if fdr_note else []),
    )


# ------------------------------------------------------------------------------------------------------ writing


def write_review_queue(report: Report, folder: Path) -> Path:
    """Write ``review_queue.jsonl`` atomically: one human-review task per line, most useful first.

    Each line is a flat JSON object — ``rank``, ``pair_id``, ``reason``, ``p_a``, ``human_p_a``, ``context``
    (messages), ``a``, ``b``, ``generator_a``, ``generator_b`` and the auditor's other columns — so Label Studio
    and similar tools import it as tasks; answers come back as ``--human`` labels (pair_id, preferred, annotator).
    """
    from rlaif_audit.records.fileio import write_jsonl

    path = Path(folder) / REVIEW_QUEUE_FILE
    write_jsonl(path, report.review_queue)
    return path


def write_report(
    report: Report, folder: Path | str, pm: pluggy.PluginManager, formats: Sequence[str] | None = None
) -> dict[str, Path]:
    """Write every (or the named) report format atomically; a failing format is recorded in ``report_errors``.

    Returns ``{format name: path}`` with the most readable format (highest ``reader_rank``) first and the review
    queue last.

    Formats that declare ``writes_last`` (report.json) come last, so they list the other formats' failures.
    """
    from rlaif_audit.host import report_formats

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    registry = report_formats(pm)
    names = list(formats) if formats else registry.names()
    classes = {name: registry.get(name) for name in names}
    written: dict[str, Path] = {"review_queue": write_review_queue(report, folder)}
    report.report_errors = []  # this call's failures (a report written to several folders is not double-counted)
    for name in sorted(classes, key=lambda n: bool(getattr(classes[n], "writes_last", False))):
        try:
            written[name] = classes[name]().write(report, folder)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - one broken format must not stop the others
            report.report_errors.append(ReportError(name, registry.items[name].plugin, f"{type(exc).__name__}: {exc}"))
    by_rank = sorted((n for n in written if n in classes), key=lambda n: -getattr(classes[n], "reader_rank", 0))
    return {**{name: written[name] for name in by_rank}, "review_queue": written["review_queue"]}
