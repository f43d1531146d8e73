"""Preference arithmetic: the choice or verdict a probability implies, the position-debiased P(A), the human share.

Each rule is written once and works element-wise on numpy arrays; the scalar uses (one judgment line, one
evaluator verdict) call the same functions. numpy is imported only where an array is built, so the readers
that import this module keep ``rlaif-audit --help`` light.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from rlaif_audit.records.types import Verdict

CHOICE_A, CHOICE_B, CHOICE_TIE, CHOICE_NONE = 0, 1, 2, -1
CHOICE_NAMES = ("a", "b", "tie")
"""A human label's ``preferred`` value of each choice code."""
VERDICTS: tuple[Verdict, ...] = ("first", "second", "tie")
"""A judgment's slot verdict of each choice code (the first slot plays A)."""
CHOICE_SCORES = (1.0, 0.0, 0.5)
"""Each choice code on the P(A) scale: a (or first) 1, b (or second) 0, tie ½."""
P_FIRST_OF_VERDICT: dict[str, float] = dict(zip(VERDICTS, CHOICE_SCORES))
"""The P(first) a verdict without a probability implies."""


def choice_codes(p: Any, tie_band: float = 0.0) -> Any:
    """The choice a probability implies: a (0) over ½ + band, b (1) under ½ − band, tie (2) between, none (-1) NaN.

    ``p`` is P(A) for a choice, or P(first) for a slot verdict (the codes index ``VERDICTS``); ``tie_band`` ≥ 0.
    One expression serves a float and a numpy array (element-wise; a comparison counts as 0 or 1), so a reader
    that classifies one judgment line at a time makes no numpy call.
    """
    decided = 2 * (p > 0.5 + tie_band) + (p < 0.5 - tie_band)  # 2: a, 1: b, 0: neither (tie or NaN)
    return (p == p) * (CHOICE_TIE + 1 - decided) - 1  # NaN ≠ NaN: none


def choice_score(codes: np.ndarray) -> np.ndarray:
    """Choice codes on the P(A) scale: a → 1, b → 0, tie → ½, none → NaN."""
    import numpy as np

    return np.asarray((*CHOICE_SCORES, math.nan))[codes]  # none (−1) takes the last entry


def verdict_from_p(p_first: float | None, tie_band: float = 0.0) -> Verdict | None:
    """The slot verdict implied by P(first shown is better); None without a probability."""
    if p_first is None:
        return None
    code = int(choice_codes(p_first, tie_band))
    return VERDICTS[code] if code != CHOICE_NONE else None


def ties_half_agreement(choice_p_a: Any, human_p_a: Any) -> Any:
    """Agreement of a choice on the P(A) scale with the human share preferring A: 1 − |choice − share|.

    A matching decisive choice scores 1, the opposite one 0, and a tie (or a split vote) counts half.
    """
    return 1.0 - abs(choice_p_a - human_p_a)


def position_debiased(p_first_ab: Any, p_first_ba: Any) -> Any:
    """Position-debiased P(A ≻ B) = ½·[P_first(ab) + 1 − P_first(ba)] (RLAIF, Lee et al. 2023); NaN propagates.

    Written ½ + ½·[P_first(ab) − P_first(ba)], the same number but exactly ½ in floating point when both orders
    give the same P(first): a judge that always picks one slot is a tie, not a decision by rounding error.
    Works on floats, numpy arrays and pandas Series alike.
    """
    return 0.5 + 0.5 * (p_first_ab - p_first_ba)


def content_choice(slot_codes: Any, order: str) -> Any:
    """The response (choice code a/b/tie/none) that slot verdict codes of one order pick.

    Order ``ab`` shows A first, so first → a and second → b; order ``ba`` shows B first, so first → b and
    second → a. A tie stays a tie and none (−1, a failed or missing order) stays none.
    """
    import numpy as np

    codes = np.asarray(slot_codes)
    if order == "ab":
        return codes
    return np.where(codes == CHOICE_A, CHOICE_B, np.where(codes == CHOICE_B, CHOICE_A, codes))


def games_choice(choice_ab: Any, choice_ba: Any) -> Any:
    """MT-Bench / FastChat ``show_result.py``: the response both games pick; a tie when they disagree at all.

    Any disagreement between the two orders (a win against a loss, or a tie in one order and a win in the other)
    makes the pair a tie; none (−1) when either order has no verdict. Choice codes in, choice codes out.
    """
    import numpy as np

    choice_ab, choice_ba = np.asarray(choice_ab), np.asarray(choice_ba)
    agreed = np.where(choice_ab == choice_ba, choice_ab, CHOICE_TIE)
    return np.where((choice_ab < 0) | (choice_ba < 0), CHOICE_NONE, agreed)


TWO_ORDER_RULE = ("Two orders make one decision (records.preference.pair_p_a): where both orders carry a "
                  "probability, P(A) is the position-debiased average ½·[P_first(ab) + 1 − P_first(ba)] (RLAIF, "
                  "Lee et al. 2023) and the choice is A above ½ + tie_band, B below ½ − tie_band, tie between; "
                  "where an order has a verdict only, the MT-Bench rule (Zheng et al. 2023; FastChat "
                  "show_result.py) decides: the response both orders pick, and a tie whenever they disagree "
                  "(including a tie in one order and a win in the other), P(A) = 1, 0 or ½.")
"""The default two-order rule in words, for the report's method notes."""


def pair_p_a(p_first_ab: Any, p_first_ba: Any, prob_ab: Any, prob_ba: Any) -> Any:
    """P(A ≻ B) of a pair from its two orders: the one rule agreement, position, win rates and review use.

    Where both orders carry a probability (``prob_ab`` and ``prob_ba`` true), the position-debiased average
    (:func:`position_debiased`); otherwise the MT-Bench games rule (:func:`games_choice`) on the slot verdicts the
    P(first) values imply (1 first, 0 second, ½ tie), as 1, 0 or ½. Averaging a verdict of 1 with a tie's ½ would
    call 0.75 a win where MT-Bench calls the pair a tie. NaN where either order is missing or failed.
    """
    import numpy as np

    p_first_ab, p_first_ba = np.asarray(p_first_ab, dtype=float), np.asarray(p_first_ba, dtype=float)
    choice = games_choice(content_choice(choice_codes(p_first_ab), "ab"),
                          content_choice(choice_codes(p_first_ba), "ba"))
    both_probabilities = np.asarray(prob_ab, dtype=bool) & np.asarray(prob_ba, dtype=bool)
    return np.where(both_probabilities, position_debiased(p_first_ab, p_first_ba), choice_score(choice))


def single_order_p_a(p_first_ab: np.ndarray, p_first_ba: np.ndarray) -> np.ndarray:
    """P(A ≻ B) from one order: P_first(ab) where it exists, else 1 − P_first(ba) (not position-debiased)."""
    import numpy as np

    return np.where(np.isfinite(p_first_ab), p_first_ab, 1.0 - np.asarray(p_first_ba, dtype=float))


def human_share(n_a: Any, n_b: Any, n_tie: Any) -> np.ndarray:
    """Share of annotators preferring A, a tie counting half: (n_a + ½·n_tie) / n; NaN where no one labeled."""
    import numpy as np

    n_a, n_b, n_tie = (np.asarray(count, dtype=float) for count in (n_a, n_b, n_tie))
    total = n_a + n_b + n_tie
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (n_a + 0.5 * n_tie) / total, np.nan)
