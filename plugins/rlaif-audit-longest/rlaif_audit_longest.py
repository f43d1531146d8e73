"""The ``longest`` evaluator: prefer the longer response, a length-only baseline for any AI judge."""

from __future__ import annotations

import math
from importlib import metadata
from typing import Any, Iterable, Iterator

from rlaif_audit import hookimpl
from rlaif_audit.errors import ConfigError
from rlaif_audit.judging.evaluator import Evaluator, Option
from rlaif_audit.records.preference import verdict_from_p
from rlaif_audit.records.types import JudgeItem, Judgment

DISTRIBUTION = "rlaif-audit-longest"


def p_longer_first(first: str, second: str, scale: float) -> float:
    """P(first is better) = logistic((len(first) − len(second)) / scale); a hard 1/0/½ when scale is 0."""
    diff = len(first) - len(second)
    if scale == 0:
        return 0.5 if diff == 0 else float(diff > 0)
    return 0.5 * (1.0 + math.tanh(diff / scale / 2.0))  # the logistic, without overflow


class LongestEvaluator(Evaluator):
    """Always prefers the longer response (characters); equal lengths are a tie."""

    name = "longest"
    description = (
        "Baseline: prefer the longer response (AlpacaEval's 'always longest', 62.2% agreement with its "
        "human cross-annotations); P(first) = logistic(Δchars / scale)."
    )
    options = {
        "scale": Option("Characters of length difference per logit unit; 0 gives hard 1/0 choices.", 100.0, float),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.config["scale"] < 0:
            raise ConfigError(f"Option 'scale' must be >= 0, got {self.config['scale']}")

    def identity(self) -> dict[str, Any]:
        """The rule, its scale and this plugin's version (no model, no library versions matter)."""
        return {"evaluator": self.name, "scale": self.config["scale"], "version": metadata.version(DISTRIBUTION)}

    def judge(self, items: Iterable[JudgeItem]) -> Iterator[Judgment]:
        """One judgment per item, in order."""
        evaluator_id = self.identity_hash()
        for item in items:
            p_first = p_longer_first(item.first, item.second, self.config["scale"])
            raw = f"len_first={len(item.first)} len_second={len(item.second)}"
            yield Judgment(item.pair_id, item.order, p_first, verdict_from_p(p_first), "ok", raw, 0.0,
                           self.name, evaluator_id)


@hookimpl
def register_evaluators(register: Any) -> None:
    """Register the ``longest`` evaluator."""
    register(LongestEvaluator)
