"""Run auditors one at a time: requirements checked first, a raising auditor recorded as an error, the rest run."""

from __future__ import annotations

import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult
from rlaif_audit.reporting.report import AuditorOutcome

if TYPE_CHECKING:
    import pandas as pd
    import pluggy

TRACEBACK_FRAMES = 4
DEFAULT_TIMEOUT_S = 900.0
"""Per-auditor time limit (``audit --auditor-timeout``): the built-in auditors take seconds on 10⁵ pairs, so 15
minutes stops only a hung one. 0 or None: no limit."""


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


def _unmet_run(ctx: AuditContext) -> str | None:
    from rlaif_audit.auditing.auditor import POLICY_OPTION, RUN_ONLY

    return None if ctx.options.get(POLICY_OPTION) else RUN_ONLY


REQUIREMENT_CHECKS = {
    "human": _unmet_human,
    "both_orders": _unmet_both_orders,
    "probabilities": _unmet_probabilities,
    "generators": _unmet_generators,
    "run": _unmet_run,
}


def unmet_requirement(ctx: AuditContext, requires: Sequence[str]) -> str | None:
    """Why an auditor with these ``requires`` cannot run on ``ctx``; None when it can."""
    for requirement in requires:
        check = REQUIREMENT_CHECKS.get(requirement)
        reason = check(ctx) if check else f"unknown requirement {requirement!r}"
        if reason:
            return reason
    return None


def _short_traceback(exc: BaseException) -> str:
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "".join(frames[-TRACEBACK_FRAMES:]).strip()


def declarations(cls: type) -> type[Auditor]:
    """The class whose declarations the host reads: ``cls`` itself, or the base Auditor for a class that is none."""
    return cls if isinstance(cls, type) and issubclass(cls, Auditor) else Auditor


def _error(message: str, declared: type[Auditor], exc: BaseException | None = None) -> AuditorOutcome:
    return AuditorOutcome(status="error", reason=message, error=message, auditor=declared,
                          traceback=None if exc is None else _short_traceback(exc))


def _audit(cls: type, ctx: AuditContext) -> AuditResult:
    result = cls().audit(ctx)
    if not isinstance(result, AuditResult):
        raise TypeError(f"audit() returned {type(result).__name__}, not AuditResult")
    return result


def call_with_timeout(function: Callable[[], Any], timeout: float | None) -> tuple[str, Any]:
    """``("ok", value)``, ``("raised", exception)`` (any BaseException: ``sys.exit`` and KeyboardInterrupt too) or
    ``("timed out", None)``: ``function`` runs in a daemon thread (Python cannot stop a thread, so a timed-out one is
    abandoned; it holds only its own read-only view)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["ok"] = function()
        except BaseException as exc:  # noqa: BLE001 - sys.exit or KeyboardInterrupt from a plugin is its error
            box["raised"] = exc

    worker = threading.Thread(target=target, name="rlaif-audit-auditor", daemon=True)
    worker.start()
    worker.join(timeout if timeout and timeout > 0 else None)
    if worker.is_alive():
        return "timed out", None
    return ("raised", box["raised"]) if "raised" in box else ("ok", box.get("ok"))


def run_one_auditor(cls: type, ctx: AuditContext, timeout: float | None = DEFAULT_TIMEOUT_S) -> AuditorOutcome:
    """One auditor's outcome: skipped when its data are missing; error (with a short traceback) when it raises,
    exits or interrupts itself; ``error: timed out`` after ``timeout`` seconds."""
    declared = declarations(cls)
    reason = unmet_requirement(ctx, getattr(cls, "requires", ()))
    if reason:
        return AuditorOutcome(status="skipped", reason=reason, auditor=declared)
    status, value = call_with_timeout(lambda: _audit(cls, ctx), timeout)
    if status == "timed out":
        return _error(f"timed out after {timeout:g} s (audit --auditor-timeout; run: auditor_timeout)", declared)
    if status == "raised":
        return _error(_describe(value), declared, value)
    try:
        return AuditorOutcome.from_result(value, declared)
    except Exception as exc:  # noqa: BLE001 - a result that cannot be reported is that auditor's error
        return _error(_describe(exc), declared, exc)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit: the auditor called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt: raised inside the auditor"
    return f"{type(exc).__name__}: {exc}"


def selected_auditors(registry_names: Sequence[str], sections: Sequence[str],
                      names: Sequence[str] | None) -> list[str]:
    """The named auditors (default: all), then every auditor that fills a section of its own."""
    chosen = list(names) if names else list(registry_names)
    return chosen + [name for name in sections if name not in chosen]


def run_auditors(ctx: AuditContext, pm: pluggy.PluginManager, names: Sequence[str] | None = None,
                 timeout: float | None = DEFAULT_TIMEOUT_S) -> dict[str, AuditorOutcome]:
    """Run each auditor on its own: ``{name: outcome}`` with status ok, skipped (reason) or error.

    ``names`` selects among the auditors (an unknown name is an error naming the valid ones); auditors that fill
    a top-level section of their own (:attr:`Auditor.section`) always run. Each auditor reads its own read-only
    view of ``ctx`` (:mod:`rlaif_audit.auditing.readonly`), so none sees another's changes, and has ``timeout``
    seconds (0 or None: no limit).
    """
    from rlaif_audit.auditing.readonly import context_view, frozen_context
    from rlaif_audit.host import auditors

    registry = auditors(pm)
    sections = [name for name in registry.names() if declarations(registry.get(name)).section]
    classes = {name: registry.get(name) for name in selected_auditors(registry.names(), sections, names)}
    frozen = frozen_context(ctx)
    outcomes: dict[str, AuditorOutcome] = {}
    for name, cls in classes.items():
        started = time.perf_counter()
        outcome = run_one_auditor(cls, context_view(frozen), timeout)
        outcome.plugin, outcome.description = registry.items[name].plugin, str(getattr(cls, "description", ""))
        outcome.seconds = round(time.perf_counter() - started, 4)
        outcomes[name] = outcome
    return outcomes
