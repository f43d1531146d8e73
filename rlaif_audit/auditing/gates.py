"""Release gates: ``auditor.metric OP number [on BOUND]``, verdict and bias-flag gates, checked against a report.

One parser serves ``audit --gate`` (one expression per option) and ``check --gates gates.toml`` (named expressions).
Three kinds of gate:

* threshold: ``agreement.cohen_kappa >= 0.4`` (the CI side that must clear by default), ``position.consistent >=
  0.8 on ci_low``, ``agreement.cohen_kappa.value > 0.2``;
* verdict: ``propagation.padded_wins_rate.verdict != "amplifying"`` (a row of the auditor's ``verdicts`` table);
* bias flag: ``position.first_slot_preference not flagged`` (a row of the auditor's ``bias_tests`` table), the
  flag gates of one check Benjamini–Hochberg adjusted together (:func:`rlaif_audit.auditing.flags.bh_adjust`).
"""

from __future__ import annotations

import operator
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

import click

from rlaif_audit.reporting.report import GateOutcome
from rlaif_audit.reporting.text import fmt_short

if TYPE_CHECKING:
    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.reporting.report import AuditorOutcome, Report

NUMBER = r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
BOUNDS = ("value", "ci_low", "ci_high")
GATE_PATTERN = re.compile(rf"^\s*(?P<metric>[^<>=!\s]+)\s*(?P<op>>=|<=|>|<)\s*(?P<threshold>{NUMBER})"
                          rf"(?:\s+on\s+(?P<on>{'|'.join(BOUNDS)}))?\s*$")
VERDICT_PATTERN = re.compile(r"""^\s*(?P<metric>[^<>=!\s]+)\.verdict\s*(?P<op>==|!=)\s*(?P<q>["']?)(?P<word>[\w-]+)"""
                             r"""(?P=q)\s*$""")
FLAG_PATTERN = re.compile(r"^\s*(?P<metric>[^<>=!\s]+)\s+not\s+flagged\s*$")
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {">=": operator.ge, ">": operator.gt, "<=": operator.le,
                                                    "<": operator.lt, "==": operator.eq, "!=": operator.ne}
VERDICTS_TABLE = "verdicts"
FDR_LEVEL = 0.05
"""The default false discovery rate of the flag gates of one check."""
SYNTAX = ("AUDITOR.METRIC OP NUMBER [on value|ci_low|ci_high] (OP: >=, >, <=, <), "
          "AUDITOR.MEASURE.verdict ==|!= \"WORD\", or AUDITOR.METRIC not flagged")


def _split(metric: str, text: str) -> tuple[str, str]:
    auditor, dot, name = metric.partition(".")
    if not dot or not auditor or not name:
        raise click.BadParameter(f"expected {SYNTAX}, got {text!r}", param_hint="--gate")
    return auditor, name


class _Named:
    """What every gate kind prints as its label: its name (its key in gates.toml), or its expression."""

    name: str
    text: str

    @property
    def label(self) -> str:
        """The gate's name (its key in gates.toml), or its expression."""
        return self.name or self.text


@dataclass(frozen=True)
class Gate(_Named):
    """A threshold gate: ``auditor.metric[.bound] op threshold [on bound]``."""

    text: str
    auditor: str
    metric: str
    bound: str
    op: str
    threshold: float
    name: str = ""

    def check(self, report: Report) -> GateOutcome:
        """Whether this gate passes on a built report, with the line to print."""
        outcome, why = _measured(report, self.auditor)
        if outcome is None:
            return _outcome(self, False, why)
        metric = outcome.metrics.get(self.metric)
        if metric is None:
            names = ", ".join(sorted(outcome.metrics)) or "(none)"
            return _outcome(self, False, f"auditor '{self.auditor}' has no metric '{self.metric}'. Available: {names}")
        return self._compare(metric)

    def _compare(self, metric: Metric) -> GateOutcome:
        from rlaif_audit.auditing.stats import NO_VALID_INTERVAL

        if self.bound != "value" and NO_VALID_INTERVAL in (metric.note or ""):
            return _outcome(self, False, f"REFUSED — {self.auditor}.{self.metric} is reported without a valid 95% "
                            f"CI (value {fmt_short(metric.value)}, n={metric.n}); gate on "
                            f"'{self.auditor}.{self.metric}.value' or on a metric with an interval")
        low, high = metric.ci or (None, None)
        compared = {"value": metric.value, "ci_low": low, "ci_high": high}[self.bound]
        shown = f"value {fmt_short(metric.value)}, 95% CI [{fmt_short(low)}, {fmt_short(high)}], n={metric.n}"
        if compared is None:
            return _outcome(self, False, f"{shown}: its {self.bound} is not available")
        passed = OPERATORS[self.op](float(compared), self.threshold)
        side = "lower" if self.bound == "ci_low" else "upper"
        what = "" if self.bound == "value" else f" (compared: the CI's {side} bound)"
        return _outcome(self, passed, f"{shown}{what}")


@dataclass(frozen=True)
class VerdictGate(_Named):
    """A verdict gate: ``auditor.measure.verdict ==|!= "word"`` on a row of the auditor's ``verdicts`` table."""

    text: str
    auditor: str
    metric: str
    op: str
    word: str
    name: str = ""

    def check(self, report: Report) -> GateOutcome:
        """Whether the measure's verdict compares as asked."""
        outcome, why = _measured(report, self.auditor)
        if outcome is None:
            return _outcome(self, False, why)
        verdict = verdicts_of(outcome).get(self.metric)
        if verdict is None:
            return _outcome(self, False, f"no verdict on '{self.metric}' in {self.auditor}'s verdicts table")
        return _outcome(self, OPERATORS[self.op](verdict, self.word), f"verdict {verdict!r}")


@dataclass(frozen=True)
class FlagGate(_Named):
    """A bias-flag gate: ``auditor.metric not flagged``; the flag gates of one check share one BH adjustment."""

    text: str
    auditor: str
    metric: str
    name: str = ""

    def test_row(self, report: Report) -> tuple[dict[str, Any] | None, str]:
        """The auditor's bias-test row of this metric, or None and why not."""
        outcome, why = _measured(report, self.auditor)
        if outcome is None:
            return None, why
        row = bias_tests_of(outcome).get(self.metric)
        if row is None:
            return None, f"no bias test of '{self.metric}' in {self.auditor}'s bias_tests table"
        if row.get("p_value") is None:
            return None, f"not tested: {row.get('reason') or 'no p-value'}"
        return row, ""


AnyGate = Union[Gate, VerdictGate, FlagGate]


def _measured(report: Report, auditor: str) -> tuple[AuditorOutcome | None, str]:
    outcome = report.auditors.get(auditor)
    if outcome is None or outcome.status != "ok":
        why = "it did not run" if outcome is None else f"{outcome.status}: {outcome.reason}"
        return None, f"not measured — auditor '{auditor}' {why}"
    return outcome, ""


def _outcome(gate: AnyGate, passed: bool, detail: str) -> GateOutcome:
    verdict = "passed" if passed else "FAILED"
    return GateOutcome(gate.label, passed, f"{gate.label}: {verdict} — {detail}")


def verdicts_of(outcome: AuditorOutcome) -> dict[str, str]:
    """Measure → verdict from an auditor's ``verdicts`` table (the propagation auditor's)."""
    return {str(row["measure"]): str(row["verdict"]) for row in outcome.tables.get(VERDICTS_TABLE) or []
            if isinstance(row, dict) and "measure" in row and "verdict" in row}


def bias_tests_of(outcome: AuditorOutcome) -> dict[str, dict[str, Any]]:
    """Metric → bias-test row from an auditor's ``bias_tests`` table."""
    from rlaif_audit.auditing.flags import TESTS_TABLE

    return {str(row["metric"]): row for row in outcome.tables.get(TESTS_TABLE) or [] if isinstance(row, dict)}


# ----------------------------------------------------------------------------------------------------- parsing


def parse_gate(text: str, name: str = "") -> AnyGate:
    """``agreement.accuracy_without_ties>=0.6`` → a :class:`Gate` (or a verdict / flag gate).

    ``AUDITOR.METRIC OP NUMBER`` with OP in ``>=``, ``>``, ``<=``, ``<``. By default the gate compares the side of
    the 95% CI that has to clear the threshold (the lower bound for ``>=``/``>``, the upper bound for
    ``<=``/``<``), so it passes only when the whole interval is on the right side; a ``.value``, ``.ci_low`` or
    ``.ci_high`` suffix on the metric, or ``on value|ci_low|ci_high`` after the number, compares that instead. A
    metric that was not measured fails.
    """
    for pattern, build in ((VERDICT_PATTERN, _verdict_gate), (FLAG_PATTERN, _flag_gate), (GATE_PATTERN, _gate)):
        match = pattern.match(text)
        if match:
            return build(match, text.strip(), name)
    raise click.BadParameter(f"expected {SYNTAX}, got {text!r}", param_hint="--gate")


def _gate(match: re.Match[str], text: str, name: str) -> Gate:
    auditor, metric = _split(match["metric"], text)
    parts = metric.split(".")
    bound = "ci_low" if match["op"] in (">=", ">") else "ci_high"
    if len(parts) > 1 and parts[-1] in BOUNDS:
        bound = parts.pop()
    if match["on"]:
        bound = match["on"]
    return Gate(text, auditor, ".".join(parts), bound, match["op"], float(match["threshold"]), name)


def _verdict_gate(match: re.Match[str], text: str, name: str) -> VerdictGate:
    auditor, metric = _split(match["metric"], text)
    return VerdictGate(text, auditor, metric, match["op"], match["word"], name)


def _flag_gate(match: re.Match[str], text: str, name: str) -> FlagGate:
    auditor, metric = _split(match["metric"], text)
    return FlagGate(text, auditor, metric, name)


def refuse_point_estimate_gates(gates: Sequence[AnyGate],
                                declared: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> None:
    """A UsageError (exit 2) for a CI gate on a metric its auditor reports without an interval.

    ``declared``: auditor name → (its ``point_estimates``, its ``inferential`` metrics).
    """
    for gate in gates:
        point, inferential = declared.get(gate.auditor, ((), ()))
        if isinstance(gate, Gate) and gate.bound != "value" and gate.metric in point:
            instead = ", ".join(f"{gate.auditor}.{name}" for name in inferential) or "a metric with an interval"
            raise click.UsageError(
                f"--gate {gate.text!r}: {gate.auditor}.{gate.metric} is reported without a confidence interval (no "
                f"valid 95% CI is known for it), so a CI gate cannot be checked. Gate on "
                f"'{gate.auditor}.{gate.metric}.value' (the point estimate) or on {instead}.")


def refuse_unknown_auditors(gates: Sequence[AnyGate], known: Sequence[str], where: str = "--gate") -> None:
    """A UsageError (exit 2) for a gate on an auditor that is not registered, naming the registered ones."""
    for gate in gates:
        if gate.auditor not in known:
            raise click.UsageError(f"{where} {gate.text!r}: no auditor '{gate.auditor}'. Known auditors: "
                                   f"{', '.join(sorted(known))}")


def parse_gates(gates: Sequence[str], fail_under: Sequence[str]) -> list[AnyGate]:
    """All gates from ``--gate`` and ``--fail-under METRIC=NUMBER``."""
    parsed = [parse_gate(text) for text in gates]
    for text in fail_under:
        metric, sep, threshold = text.partition("=")
        if not sep:
            raise click.BadParameter(f"expected AUDITOR.METRIC=NUMBER, got {text!r}", param_hint="--fail-under")
        parsed.append(parse_gate(f"{metric.strip()}>={threshold.strip()}"))
    return parsed


# ----------------------------------------------------------------------------------------------------- checking


def known_names(report: Report, gate: AnyGate) -> tuple[str, list[str]] | None:
    """For a gate whose auditor measured something: (what kind of name, the names it has); None otherwise."""
    outcome = report.auditors.get(gate.auditor)
    if outcome is None or outcome.status != "ok":
        return None
    if isinstance(gate, VerdictGate):
        return "verdict measures", sorted(verdicts_of(outcome))
    if isinstance(gate, FlagGate):
        return "bias tests", sorted(bias_tests_of(outcome))
    return "metrics", sorted(outcome.metrics)


def validate_against(gates: Sequence[AnyGate], report: Report, where: str, auditors_too: bool = True) -> None:
    """A UsageError (exit 2) naming the known names for a gate whose auditor or metric the report does not know.

    An auditor that was skipped or failed is no misspelling: its gates fail when checked (exit 1).
    ``auditors_too``: also refuse a gate on an auditor the report lacks (``check``; ``audit`` checked the registry).
    """
    if auditors_too:
        refuse_unknown_auditors(gates, list(report.auditors), where)
    for gate in gates:
        known = known_names(report, gate)
        if known is not None and gate.metric not in known[1]:
            raise click.UsageError(f"{where} {gate.text!r}: auditor '{gate.auditor}' has no {known[0][:-1]} "
                                   f"'{gate.metric}'. Known {known[0]}: {', '.join(known[1]) or '(none)'}")


def check_gates(gates: Sequence[AnyGate], report: Report, fdr_level: float = FDR_LEVEL) -> list[GateOutcome]:
    """Every gate's outcome, in order; the flag gates' p-values Benjamini–Hochberg adjusted together."""
    flags = {id(gate): gate.test_row(report) for gate in gates if isinstance(gate, FlagGate)}
    adjusted = _adjusted_flags(flags)
    outcomes = []
    for gate in gates:
        if isinstance(gate, FlagGate):
            outcomes.append(_flag_outcome(gate, flags[id(gate)], adjusted.get(id(gate)), fdr_level, len(adjusted)))
        else:
            outcomes.append(gate.check(report))
    return outcomes


def _adjusted_flags(flags: dict[int, tuple[dict[str, Any] | None, str]]) -> dict[int, float]:
    from rlaif_audit.auditing.flags import bh_adjust

    tested = [(key, row["p_value"]) for key, (row, _) in flags.items() if row is not None]
    return dict(zip((key for key, _ in tested), bh_adjust(p for _, p in tested)))


def _flag_outcome(gate: FlagGate, tested: tuple[dict[str, Any] | None, str], p_adjusted: float | None,
                  level: float, n_tested: int) -> GateOutcome:
    row, why = tested
    if row is None or p_adjusted is None:
        return _outcome(gate, False, why)
    passed = not p_adjusted <= level
    detail = (f"{row.get('finding', 'bias')}: value {fmt_short(row.get('value'))}, n={row.get('n')}, null "
              f"{row.get('null')}; p = {row['p_value']:.3g}, BH-adjusted over the {n_tested} flag gates p = "
              f"{p_adjusted:.3g} {'>' if passed else '≤'} {level}")
    return _outcome(gate, passed, detail)


def finish_gates(outcomes: Sequence[GateOutcome]) -> None:
    """Print each gate's line (failures to stderr) and exit 1 when any failed."""
    for outcome in outcomes:
        click.echo(("gate " if outcome.passed else "GATE ") + outcome.message, err=not outcome.passed)
    if any(not outcome.passed for outcome in outcomes):
        sys.exit(1)


# --------------------------------------------------------------------------------------------------- gates.toml


@dataclass(frozen=True)
class GateFile:
    """A gates.toml: named gates and the false discovery rate of its flag gates."""

    gates: list[AnyGate]
    fdr_level: float = FDR_LEVEL


def read_gates_file(path: str) -> GateFile:
    """Parse a gates.toml; a bad file is a UsageError (exit 2) naming the file, the gate and what is wrong.

    ``fdr = 0.05`` (optional) and a ``[gates]`` table of ``name = "expression"``.
    """
    import tomllib

    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise click.UsageError(f"{path}: cannot read the gates file ({exc.strerror or exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise click.UsageError(f"{path}: not valid TOML: {exc}") from exc
    unknown = sorted(set(document) - {"gates", "fdr"})
    if unknown:
        raise click.UsageError(f"{path}: unknown key(s) {', '.join(unknown)}; a gates file has 'fdr' and [gates]")
    table = document.get("gates")
    if not isinstance(table, dict) or not table:
        raise click.UsageError(f"{path}: needs a [gates] table of name = \"expression\" (e.g. kappa = "
                               "\"agreement.cohen_kappa >= 0.4\")")
    return GateFile([_named_gate(path, name, text) for name, text in table.items()], _fdr(path, document))


def _named_gate(path: str, name: str, text: Any) -> AnyGate:
    if not isinstance(text, str):
        raise click.UsageError(f"{path}: gates.{name}: expected a string expression, got {type(text).__name__}")
    try:
        return parse_gate(text, name)
    except click.BadParameter as exc:
        raise click.UsageError(f"{path}: gates.{name}: {exc.message}") from exc


def _fdr(path: str, document: dict[str, Any]) -> float:
    level = document.get("fdr", FDR_LEVEL)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise click.UsageError(f"{path}: fdr: expected a number between 0 and 1, got {level!r}")
    return float(level)
