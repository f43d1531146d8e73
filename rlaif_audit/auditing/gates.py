"""CI gates: ``--gate 'auditor.metric OP number'`` checked against the typed report's metrics and CIs."""

from __future__ import annotations

import operator
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import click

from rlaif_audit.reporting.report import GateOutcome
from rlaif_audit.reporting.text import fmt_short

if TYPE_CHECKING:
    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.reporting.report import Report

NUMBER = r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
GATE_PATTERN = re.compile(rf"^\s*(?P<metric>[^<>=\s]+)\s*(?P<op>>=|<=|>|<)\s*(?P<threshold>{NUMBER})\s*$")
OPERATORS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, ">": operator.gt, "<=": operator.le,
                                                         "<": operator.lt}
BOUNDS = ("value", "ci_low", "ci_high")


@dataclass(frozen=True)
class Gate:
    """One CI gate: ``auditor.metric[.bound] op threshold``."""

    text: str
    auditor: str
    metric: str
    bound: str
    op: str
    threshold: float

    def check(self, report: Report) -> GateOutcome:
        """Whether this gate passes on a built report, with the line to print."""
        outcome = report.auditors.get(self.auditor)
        if outcome is None or outcome.status != "ok":
            why = "it did not run" if outcome is None else f"{outcome.status}: {outcome.reason}"
            return self._outcome(False, f"not measured — auditor '{self.auditor}' {why}")
        metric = outcome.metrics.get(self.metric)
        if metric is None:
            names = ", ".join(sorted(outcome.metrics)) or "(none)"
            return self._outcome(False, f"auditor '{self.auditor}' has no metric '{self.metric}'. Available: {names}")
        return self._compare(metric)

    def _compare(self, metric: Metric) -> GateOutcome:
        from rlaif_audit.auditing.stats import NO_VALID_INTERVAL

        if self.bound != "value" and NO_VALID_INTERVAL in (metric.note or ""):
            return self._outcome(False, f"REFUSED — {self.auditor}.{self.metric} is reported without a valid 95% CI "
                                 f"(value {fmt_short(metric.value)}, n={metric.n}); gate on "
                                 f"'{self.auditor}.{self.metric}.value' or on a metric with an interval")
        low, high = metric.ci or (None, None)
        compared = {"value": metric.value, "ci_low": low, "ci_high": high}[self.bound]
        shown = f"value {fmt_short(metric.value)}, 95% CI [{fmt_short(low)}, {fmt_short(high)}], n={metric.n}"
        if compared is None:
            return self._outcome(False, f"{shown}: its {self.bound} is not available")
        passed = OPERATORS[self.op](float(compared), self.threshold)
        side = "lower" if self.bound == "ci_low" else "upper"
        what = "" if self.bound == "value" else f" (compared: the CI's {side} bound)"
        return self._outcome(passed, f"{shown}{what}")

    def _outcome(self, passed: bool, detail: str) -> GateOutcome:
        verdict = "passed" if passed else "FAILED"
        return GateOutcome(self.text, passed, f"{self.text}: {verdict} — {detail}")


def parse_gate(text: str) -> Gate:
    """``agreement.accuracy_without_ties>=0.6`` → a :class:`Gate`.

    ``AUDITOR.METRIC OP NUMBER`` with OP in ``>=``, ``>``, ``<=``, ``<``. By default the gate compares the side of
    the 95% CI that has to clear the threshold (the lower bound for ``>=``/``>``, the upper bound for
    ``<=``/``<``), so it passes only when the whole interval is on the right side; a ``.value``, ``.ci_low`` or
    ``.ci_high`` suffix on the metric compares that instead. A metric that was not measured fails.
    """
    match = GATE_PATTERN.match(text)
    if not match or "." not in match["metric"]:
        raise click.BadParameter(f"expected AUDITOR.METRIC OP NUMBER (OP: >=, >, <=, <), got {text!r}",
                                 param_hint="--gate")
    parts = match["metric"].split(".")
    default_bound = "ci_low" if match["op"] in (">=", ">") else "ci_high"
    bound = parts.pop() if len(parts) > 2 and parts[-1] in BOUNDS else default_bound
    return Gate(text.strip(), parts[0], ".".join(parts[1:]), bound, match["op"], float(match["threshold"]))


def refuse_point_estimate_gates(gates: Sequence[Gate], declared: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
                                ) -> None:
    """A UsageError (exit 2) for a CI gate on a metric its auditor reports without an interval.

    ``declared``: auditor name → (its ``point_estimates``, its ``inferential`` metrics).
    """
    for gate in gates:
        point, inferential = declared.get(gate.auditor, ((), ()))
        if gate.bound != "value" and gate.metric in point:
            instead = ", ".join(f"{gate.auditor}.{name}" for name in inferential) or "a metric with an interval"
            raise click.UsageError(
                f"--gate {gate.text!r}: {gate.auditor}.{gate.metric} is reported without a confidence interval (no "
                f"valid 95% CI is known for it), so a CI gate cannot be checked. Gate on "
                f"'{gate.auditor}.{gate.metric}.value' (the point estimate) or on {instead}.")


def parse_gates(gates: Sequence[str], fail_under: Sequence[str]) -> list[Gate]:
    """All gates from ``--gate`` and ``--fail-under METRIC=NUMBER``."""
    parsed = [parse_gate(text) for text in gates]
    for text in fail_under:
        metric, sep, threshold = text.partition("=")
        if not sep:
            raise click.BadParameter(f"expected AUDITOR.METRIC=NUMBER, got {text!r}", param_hint="--fail-under")
        parsed.append(parse_gate(f"{metric.strip()}>={threshold.strip()}"))
    return parsed


def finish_gates(outcomes: Sequence[GateOutcome]) -> None:
    """Print each gate's line (failures to stderr) and exit 1 when any failed."""
    for outcome in outcomes:
        click.echo(("gate " if outcome.passed else "GATE ") + outcome.message, err=not outcome.passed)
    if any(not outcome.passed for outcome in outcomes):
        sys.exit(1)
