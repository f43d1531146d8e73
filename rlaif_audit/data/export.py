"""The export rule: AI-labeled pairs (with human labels first) → TRL preference-dataset rows, position-debiased.

Used by `rlaif-audit export` (which writes the rows and the drop manifest) and by the loop's human review, which
feeds reviewed pairs to later generations' reward-model data by the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

POLICIES = ("drop-inconsistent", "soft")
FAILED = "an order failed or is missing: no two-order decision"
INCONSISTENT = "position-inconsistent: the two orders pick different responses"
TIED = "a tie in one order or both (no decisive two-order agreement)"
SOFT_TIE = "position-debiased P(A) within the tie band of ½: no preference"
HUMAN_TIE = "human tie: the annotators split evenly"


@dataclass
class Export:
    """The rows of a preference dataset and, per dropped pair, why it was dropped."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)


def ai_decisions(pairs: pd.DataFrame, policy: str, tie_band: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: P(A ≻ B) the export uses, the choice code it implies (records.preference), and the drop reason.

    ``drop-inconsistent``: the response both orders pick decisively (games rule), P(A) 1 or 0; any other pair is
    dropped with its reason. ``soft``: the position-debiased P(A) (``pair_p_a``); pairs within the tie band dropped.
    """
    import numpy as np

    from rlaif_audit.records.preference import (
        CHOICE_A,
        CHOICE_B,
        CHOICE_NONE,
        choice_codes,
        choice_score,
        content_choice,
        games_choice,
    )

    slot_ab = choice_codes(pairs["p_first_ab"].to_numpy(float), tie_band)
    slot_ba = choice_codes(pairs["p_first_ba"].to_numpy(float), tie_band)
    content_ab, content_ba = content_choice(slot_ab, "ab"), content_choice(slot_ba, "ba")
    failed = (content_ab == CHOICE_NONE) | (content_ba == CHOICE_NONE)
    if policy == "soft":
        p_a = pairs["p_a"].to_numpy(float)
        choice = np.where(failed, CHOICE_NONE, choice_codes(p_a, tie_band))
        reason = np.where(failed, FAILED, np.where((choice == CHOICE_A) | (choice == CHOICE_B), "", SOFT_TIE))
        return p_a, choice, reason
    choice = games_choice(content_ab, content_ba)
    decisive = {CHOICE_A, CHOICE_B}
    opposite = np.isin(content_ab, list(decisive)) & np.isin(content_ba, list(decisive)) & (content_ab != content_ba)
    reason = np.where(failed, FAILED, np.where(opposite, INCONSISTENT, np.where(np.isin(choice, list(decisive)), "",
                                                                                   TIED)))
    return choice_score(choice), choice, reason


def human_decisions(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: the human share preferring A (NaN unlabeled) and its choice code (tie when split evenly)."""
    from rlaif_audit.records.preference import choice_codes

    share = pairs["human_p_a"].to_numpy(float) if "human_p_a" in pairs.columns else None
    if share is None:
        import numpy as np

        share = np.full(len(pairs), np.nan)
    return share, choice_codes(share)


def _message(text: str) -> list[dict[str, str]]:
    from rlaif_audit.records.types import assistant_turn

    return assistant_turn(text)


def build_export(pairs: pd.DataFrame, policy: str, tie_band: float, human_override: bool,
                 margin: bool) -> Export:
    """The dataset rows (prompt/chosen/rejected conversational, pair_id, label_source, p_chosen[, margin])."""
    from rlaif_audit.records.preference import CHOICE_A, CHOICE_B, CHOICE_NONE

    p_ai, choice_ai, reason_ai = ai_decisions(pairs, policy, tie_band)
    share, choice_human = human_decisions(pairs)
    use_human = human_override & (choice_human != CHOICE_NONE)
    out = Export()
    for i, row in enumerate(pairs.itertuples(index=False)):
        human = bool(use_human[i])
        choice, p_a = (choice_human[i], share[i]) if human else (choice_ai[i], p_ai[i])
        if choice not in (CHOICE_A, CHOICE_B):
            out.dropped.append({"pair_id": str(row.pair_id), "reason": HUMAN_TIE if human else str(reason_ai[i])})
            continue
        a_wins = choice == CHOICE_A
        p_chosen = float(p_a if a_wins else 1.0 - p_a)
        record = {"prompt": list(row.context or []), "chosen": _message(row.text_a if a_wins else row.text_b),
                  "rejected": _message(row.text_b if a_wins else row.text_a), "pair_id": str(row.pair_id),
                  "label_source": "human" if human else "ai", "p_chosen": round(p_chosen, 6)}
        if margin or policy == "soft":
            record["margin"] = round(2.0 * p_chosen - 1.0, 6)
        out.rows.append(record)
    return out
