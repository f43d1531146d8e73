"""Run auditors one at a time, assemble the report.json dict, and write every report format and the review queue."""

from __future__ import annotations

import math
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.auditing.auditor import AuditContext, AuditResult
from rlaif_audit.records.provenance import library_versions, stable_hash

if TYPE_CHECKING:
    import pandas as pd
    import pluggy

    from rlaif_audit.records.types import PreferencePair

SCHEMA_VERSION = "1.0"
REVIEW_QUEUE_FILE = "review_queue.jsonl"
TRACEBACK_FRAMES = 4
# The numbers a reviewer reads first: (auditor, metric) in order; an auditor missing here shows its first metric.
HEADLINE_METRICS: dict[str, tuple[str, ...]] = {
    "agreement": ("accuracy_without_ties", "cohen_kappa", "ceiling_fraction"),
    "position": ("consistent", "first_slot_preference", "conflict_rate"),
    "calibration": ("ece_equal_width", "ece_equal_mass", "brier"),
    "length": ("longer_excess", "length_coef"),
}
HEADLINE_PER_AUDITOR = 2
UNHASHED_CONFIG = ("command", "output", "title")  # settings that do not change a number
METHOD_NOTES = (
    "Position-debiased preference (RLAIF, Lee et al. 2023): P(A ≻ B) = ½·[P_first(A,B) + 1 − P_first(B,A)].",
    "Every headline number carries a 95% confidence interval and its sample size n; the interval method is named "
    "beside each metric.",
    "Generator win rates follow AlpacaEval's get_winrate: 100·mean(preference − 1) with a tie counting half, standard "
    "error = 100·sem (ddof = 1), 95% CI = win rate ± 1.96·SE; FastChat matches count as a win only when both games "
    "agree (FastChat show_result).",
)


# ----------------------------------------------------------------------------------------------- requirements


def _column(frame: pd.DataFrame, name: str) -> pd.Series | None:
    return frame[name] if name in frame.columns else None


def _unmet_human(ctx: AuditContext) -> str | None:
    human = _column(ctx.pairs, "human_p_a")
    if len(ctx.labels) == 0 or human is None or human.notna().sum() == 0:
        return "no human labels for the judged pairs (give DATA with chosen/rejected, or --human FILE)"
    return None


def _unmet_both_orders(ctx: AuditContext) -> str | None:
    ab, ba = _column(ctx.pairs, "p_first_ab"), _column(ctx.pairs, "p_first_ba")
    if ab is None or ba is None or (ab.notna() & ba.notna()).sum() == 0:
        return ("the judgments hold only one order per pair (AlpacaEval keeps one un-swapped verdict), so "
                "position effects cannot be measured")
    return None


def _unmet_probabilities(ctx: AuditContext) -> str | None:
    flags = [ctx.pairs[c] for c in ("prob_ab", "prob_ba") if c in ctx.pairs.columns]
    if flags:
        has_probability = any(bool(flag.fillna(False).astype(bool).any()) for flag in flags)
    else:
        p_first = _column(ctx.judgments, "p_first")
        has_probability = p_first is not None and p_first.notna().any()
    if not has_probability:
        return "the judgments carry verdicts only, no probabilities (p_first is empty)"
    return None


def _unmet_generators(ctx: AuditContext) -> str | None:
    a, b = _column(ctx.pairs, "generator_a"), _column(ctx.pairs, "generator_b")
    if a is None or b is None or (a.notna() & b.notna()).sum() == 0:
        return "the pairs do not name the generators of their responses (metadata generator_a/generator_b)"
    return None


REQUIREMENT_CHECKS = {
    "human": _unmet_human,
    "both_orders": _unmet_both_orders,
    "probabilities": _unmet_probabilities,
    "generators": _unmet_generators,
}


def unmet_requirement(ctx: AuditContext, requires: Sequence[str]) -> str | None:
    """Why an auditor with these ``requires`` cannot run on ``ctx``; None when it can."""
    for requirement in requires:
        check = REQUIREMENT_CHECKS.get(requirement)
        reason = check(ctx) if check else f"unknown requirement {requirement!r}"
        if reason:
            return reason
    return None


# --------------------------------------------------------------------------------------------- running auditors


def _short_traceback(exc: BaseException) -> str:
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "".join(frames[-TRACEBACK_FRAMES:]).strip()


def _error_result(exc: BaseException) -> dict[str, Any]:
    out = AuditResult(status="error", reason=f"{type(exc).__name__}: {exc}").to_dict()
    out["error"] = f"{type(exc).__name__}: {exc}"
    out["traceback"] = _short_traceback(exc)
    return out


def run_one_auditor(cls: type, ctx: AuditContext) -> dict[str, Any]:
    """One auditor's result dict: skipped when its data are missing, error (with a short traceback) when it raises."""
    reason = unmet_requirement(ctx, getattr(cls, "requires", ()))
    if reason:
        return AuditResult(status="skipped", reason=reason).to_dict()
    try:
        result = cls().audit(ctx)
        if not isinstance(result, AuditResult):
            raise TypeError(f"audit() returned {type(result).__name__}, not AuditResult")
        return result.to_dict()
    except Exception as exc:  # noqa: BLE001 - one auditor's failure is recorded; the others still run
        return _error_result(exc)


def run_auditors(ctx: AuditContext, pm: pluggy.PluginManager, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Run each auditor on its own; ``{name: AuditResult dict}`` with status ok, skipped (reason) or error."""
    from rlaif_audit.host import auditors

    registry = auditors(pm)
    selected = list(names) if names else registry.names()
    classes = {name: registry.get(name) for name in selected}  # an unknown name is an error naming the valid ones
    results: dict[str, Any] = {}
    for name, cls in classes.items():
        started = time.perf_counter()
        result = run_one_auditor(cls, ctx)
        result.update(plugin=registry.items[name].plugin, description=cls.description,
                      seconds=round(time.perf_counter() - started, 4))
        results[name] = to_jsonable(result)
    return results


# ---------------------------------------------------------------------------------------------- building report


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


def evaluator_section(judgments: pd.DataFrame) -> dict[str, Any]:
    """Name(s) and identity hash(es) of the evaluator behind a judgments table."""
    names, ids = (sorted({str(v) for v in judgments[column].dropna().unique() if str(v) != ""})
                  if column in judgments.columns else [] for column in ("evaluator", "evaluator_id"))
    return {"name": names[0] if len(names) == 1 else ", ".join(names), "names": names, "identity_hashes": ids}


def _headline_for(auditor: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    metrics = result.get("metrics") or {}
    preferred = [name for name in HEADLINE_METRICS.get(auditor, ()) if name in metrics]
    chosen = preferred[:HEADLINE_PER_AUDITOR] or list(metrics)[:1]
    return [{"key": f"{auditor}.{name}", "auditor": auditor, "metric": name, **metrics[name]} for name in chosen]


def _headline_win_rates(generators: dict[str, Any], limit: int = 3) -> list[dict[str, Any]]:
    rows = generators.get("head_to_head") or [] if generators.get("status") == "ok" else []
    return [{"key": f"win_rate.{row['generator']}.vs.{row['baseline']}", "auditor": "generators",
             "metric": f"win rate of {row['generator']} vs {row['baseline']} (%)", "value": row["win_rate"],
             "ci": row["ci"], "n": row["n_total"], "method": "AlpacaEval get_winrate; normal 95% CI"}
            for row in rows[:limit]]


def build_headline(auditors: dict[str, Any], generators: dict[str, Any]) -> list[dict[str, Any]]:
    """The few numbers a reviewer reads first (value, CI, n), from the auditors that ran."""
    rows = []
    for name, result in auditors.items():
        if result.get("status") == "ok":
            rows.extend(_headline_for(name, result))
    return rows + _headline_win_rates(generators)


def _pair_lookup(pairs: Sequence[PreferencePair] | None) -> dict[str, PreferencePair]:
    return {pair.id: pair for pair in pairs or ()}


def build_review_queue(auditors: dict[str, Any], pairs: Sequence[PreferencePair] | None) -> list[dict[str, Any]]:
    """The agreement auditor's review queue with each pair's texts attached (the tasks of review_queue.jsonl)."""
    rows = ((auditors.get("agreement") or {}).get("tables") or {}).get("review_queue") or []
    lookup = _pair_lookup(pairs)
    tasks = []
    for position, row in enumerate(rows, start=1):
        pair = lookup.get(str(row.get("pair_id")))
        task = {"rank": row.get("rank", position), "pair_id": row.get("pair_id"), "reason": row.get("reason"),
                "p_a": row.get("p_a"), "human_p_a": row.get("human_p_a")}
        if pair is not None:
            task.update(context=pair.context, a=pair.a, b=pair.b, generator_a=pair.metadata.get("generator_a"),
                        generator_b=pair.metadata.get("generator_b"))
        tasks.append({**task, **{k: v for k, v in row.items() if k not in task}})
    return to_jsonable(tasks)


def win_rates(ctx: AuditContext, rule: str) -> dict[str, Any]:
    """Generator win rates (AlpacaEval/FastChat conventions) when the pairs name their generators."""
    import pandas as pd

    from rlaif_audit.data.external import generator_win_rates

    if _unmet_generators(ctx):
        return {"status": "skipped", "reason": _unmet_generators(ctx)}
    columns = [c for c in ("pair_id", "generator_a", "generator_b", "len_a", "len_b") if c in ctx.pairs.columns]
    table = ctx.pairs[columns].copy()
    if "meta_texts_missing" in ctx.pairs.columns and {"len_a", "len_b"} <= set(columns):
        missing = ctx.pairs["meta_texts_missing"].astype("boolean").fillna(False).to_numpy(bool)
        table.loc[missing, ["len_a", "len_b"]] = pd.NA
    return to_jsonable(generator_win_rates(ctx.judgments, table, rule))


def _counts(ctx: AuditContext) -> dict[str, Any]:
    labels = ctx.labels
    annotators = labels["annotator"].nunique() if len(labels) and "annotator" in labels.columns else 0
    orders = ctx.judgments["order"].nunique() if "order" in ctx.judgments.columns else 0
    return {"n_pairs": int(len(ctx.pairs)), "n_judgments": int(len(ctx.judgments)), "n_labels": int(len(labels)),
            "n_annotators": int(annotators), "orders": int(orders)}


def build_report(
    ctx: AuditContext,
    results: dict[str, Any],
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
) -> dict[str, Any]:
    """The report.json dict: provenance, per-auditor results, generator win rates, headline and review queue."""
    from rlaif_audit.records.provenance import file_hash

    config = to_jsonable(config or {})
    if judgments_path is not None and judgments_hash is None and Path(judgments_path).is_file():
        judgments_hash = file_hash(judgments_path)
    generators = win_rates(ctx, source_format)
    notes = list(METHOD_NOTES) + [f"{name}: {note}" for name, res in results.items() for note in res.get("notes", [])]
    return to_jsonable({
        "schema_version": SCHEMA_VERSION,
        "title": title or f"Evaluator audit: {evaluator_section(ctx.judgments)['name'] or 'unknown evaluator'}",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tool": {"name": "rlaif-audit", "version": library_versions().get("rlaif-audit")},
        "versions": library_versions(),
        "config": config,
        "config_hash": stable_hash({k: v for k, v in config.items() if k not in UNHASHED_CONFIG}),
        "evaluator": evaluator_section(ctx.judgments),
        "data": {"source": data_source, "hash": data_hash, "format": source_format, **_counts(ctx)},
        "judgments": {"path": str(judgments_path) if judgments_path else None, "hash": judgments_hash},
        "seed": ctx.seed,
        "n_bootstrap": ctx.n_bootstrap,
        "headline": build_headline(results, generators),
        "auditors": results,
        "generators": generators,
        "review_queue": build_review_queue(results, pairs),
        "compare": compare,
        "warnings": list(warnings),
        "method_notes": notes,
        "report_errors": [],
    })


# ------------------------------------------------------------------------------------------------------ writing


def write_review_queue(report: dict[str, Any], folder: Path) -> Path:
    """Write ``review_queue.jsonl`` atomically: one human-review task per line, most useful first.

    Each line is a flat JSON object — ``rank``, ``pair_id``, ``reason``, ``p_a``, ``human_p_a``, ``context``
    (messages), ``a``, ``b``, ``generator_a``, ``generator_b`` and the auditor's other columns — so Label Studio
    and similar tools import it as tasks; answers come back as ``--human`` labels (pair_id, preferred, annotator).
    """
    from rlaif_audit.records.fileio import write_jsonl

    path = Path(folder) / REVIEW_QUEUE_FILE
    write_jsonl(path, report.get("review_queue") or [])
    return path


def write_report(
    report: dict[str, Any], folder: Path | str, pm: pluggy.PluginManager, formats: Sequence[str] | None = None
) -> dict[str, Path]:
    """Write every (or the named) report format atomically; a failing format is recorded in ``report_errors``.

    The JSON format is written last, so report.json lists the other formats' failures.
    """
    from rlaif_audit.host import report_formats

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    registry = report_formats(pm)
    names = list(formats) if formats else registry.names()
    classes = {name: registry.get(name) for name in names}
    written: dict[str, Path] = {"review_queue": write_review_queue(report, folder)}
    report["report_errors"] = []  # this call's failures (a report written to several folders is not double-counted)
    for name in sorted(classes, key=lambda n: n == "json"):
        try:
            written[name] = classes[name]().write(report, folder)
        except Exception as exc:  # noqa: BLE001 - one broken format must not stop the others
            report["report_errors"].append({"format": name, "plugin": registry.items[name].plugin,
                                            "error": f"{type(exc).__name__}: {exc}"})
    return written
