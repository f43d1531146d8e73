"""An independent reference for JudgeBench's two-order score (Tan et al. 2024, "JudgeBench: a benchmark for
evaluating LLM-based judges", §4: each pair is judged in both orders; a decision naming the correct response counts
+1, one naming the wrong response −1, a tie or a missing/failed decision 0; the pair is correct when the sum is
positive; every pair stays in the denominator).

Written here from the paper's description, not copied: the JudgeBench repository states no licence, so none of its
code is vendored. Inputs follow JudgeBench's record shape (``label`` "A>B"/"B>A"; ``judgments`` the two orders'
``{"decision": ...}`` or None, the second shown with the responses swapped). Test-only; rlaif-audit does not import it.
"""
from __future__ import annotations

from typing import Any


def _in_original_order(decision: str | None) -> str | None:
    """The second game shows B first: its "A>B" means the original B wins."""
    return {"A>B": "B>A", "B>A": "A>B"}.get(decision or "", decision)


def net_vote(label: str, decisions: list[str | None]) -> int:
    """+1 per decision that names the labelled winner, −1 per decision that names the other response."""
    loser = _in_original_order(label)
    return sum((decision == label) - (decision == loser) for decision in decisions)


def compute_final_metrics(pairs: list[dict[str, Any]], reverse_order: bool = True) -> float:
    """Accuracy in percent: the share of pairs whose net vote over both orders is positive."""
    assert reverse_order, "this reference covers the two-order score only"
    correct = 0
    for pair in pairs:
        first, second = pair["judgments"]
        decisions = [None if first is None else first["decision"],
                     _in_original_order(None if second is None else second["decision"])]
        correct += net_vote(pair["label"], decisions) > 0
    return 100 * correct / len(pairs)
