"""Known answers of each preference rule (records.preference), the same on a float and on an array, and in each
place that applies it: judgment lines, importers, the audit context, `label`'s agreement."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlaif_audit.records import preference as pref
from rlaif_audit.records.types import HumanLabel, PreferencePair


@pytest.mark.parametrize(("p", "band", "code"), [
    (0.7, 0.0, pref.CHOICE_A), (0.3, 0.0, pref.CHOICE_B), (0.5, 0.0, pref.CHOICE_TIE), (math.nan, 0.0, pref.CHOICE_NONE),
    (1.0, 0.0, pref.CHOICE_A), (0.0, 0.0, pref.CHOICE_B), (0.55, 0.1, pref.CHOICE_TIE), (0.45, 0.1, pref.CHOICE_TIE),
    (0.61, 0.1, pref.CHOICE_A), (0.39, 0.1, pref.CHOICE_B), (0.5000001, 0.0, pref.CHOICE_A),
])
def test_choice_codes_of_a_float_and_of_an_array_agree(p: float, band: float, code: int) -> None:
    assert pref.choice_codes(p, band) == code
    assert pref.choice_codes(np.array([p, p]), band).tolist() == [code, code]


def test_verdict_from_p() -> None:
    assert pref.verdict_from_p(0.9) == "first" and pref.verdict_from_p(0.1) == "second"
    assert pref.verdict_from_p(0.5) == "tie" and pref.verdict_from_p(None) is None
    assert pref.verdict_from_p(0.58, tie_band=0.1) == "tie" and pref.verdict_from_p(0.62, tie_band=0.1) == "first"


def test_choice_scores() -> None:
    codes = np.array([pref.CHOICE_A, pref.CHOICE_B, pref.CHOICE_TIE, pref.CHOICE_NONE])
    assert pref.choice_score(codes)[:3].tolist() == [1.0, 0.0, 0.5] and math.isnan(pref.choice_score(codes)[3])
    assert pref.P_FIRST_OF_VERDICT == {"first": 1.0, "second": 0.0, "tie": 0.5}


def test_position_debiased_p_a() -> None:
    assert pref.position_debiased(0.9, 0.3) == pytest.approx(0.8)  # ½·[0.9 + 1 − 0.3]
    assert pref.position_debiased(0.7, 0.7) == pytest.approx(0.5)  # pure first-slot bias cancels
    assert math.isnan(pref.position_debiased(0.7, math.nan))
    assert pref.position_debiased(np.array([1.0, 0.0]), np.array([0.0, 1.0])).tolist() == [1.0, 0.0]
    assert pref.single_order_p_a(np.array([0.8, np.nan]), np.array([np.nan, 0.3])) == pytest.approx([0.8, 0.7])


def test_human_share_counts_a_tie_half() -> None:
    assert pref.human_share(2, 1, 1) == pytest.approx(2.5 / 4)
    shares = pref.human_share([1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0])
    assert shares[:3].tolist() == [1.0, 0.0, 0.5] and math.isnan(shares[3])


def test_a_judgment_line_with_p_first_half_and_no_verdict_is_a_tie(tmp_path: Path) -> None:
    from rlaif_audit.data.judgment_file import parse_judgment_line

    assert parse_judgment_line("j", 1, '{"pair_id": "p", "order": "ab", "p_first": 0.5}')["verdict"] == "tie"
    assert parse_judgment_line("j", 1, '{"pair_id": "p", "order": "ab", "p_first": 0.75}')["verdict"] == "first"
    assert parse_judgment_line("j", 1, '{"pair_id": "p", "order": "ab", "p_first": 0.25}')["verdict"] == "second"
    line = '{"pair_id": "p", "order": "ab", "p_first": 0.75, "verdict": "second"}'  # a verdict given is kept
    assert parse_judgment_line("j", 1, line)["verdict"] == "second"


def test_context_applies_the_rules() -> None:
    from rlaif_audit.auditing.context import build_context, human_choice, judge_preference

    judgments = pd.DataFrame({"pair_id": ["x", "x", "y", "y", "z", "z"], "order": ["ab", "ba"] * 3,
                              "p_first": [0.9, 0.3, 0.6, 0.6, None, None],
                              "verdict": [None, None, None, None, "first", "tie"]})
    pairs = [PreferencePair(i, [{"role": "user", "content": "q"}], "a", "b") for i in "xyz"]
    labels = [HumanLabel("x", "a", "h1"), HumanLabel("x", "tie", "h2"), HumanLabel("y", "b", "h1")]
    ctx = build_context(judgments, pairs, labels)
    # z: verdicts first (A) and tie: the orders disagree, so MT-Bench's rule makes a tie (not ½·[1 + 1 − ½] = 0.75)
    assert ctx.pairs["p_a"].tolist() == pytest.approx([0.8, 0.5, 0.5])
    assert ctx.pairs["verdict_ab"].tolist() == ["first", "first", "first"]
    assert ctx.pairs["human_p_a"].tolist()[:2] == [0.75, 0.0] and math.isnan(ctx.pairs["human_p_a"].iat[2])
    assert human_choice(ctx).tolist() == [pref.CHOICE_A, pref.CHOICE_B, pref.CHOICE_NONE]
    assert judge_preference(ctx)[1] is None


def test_label_agreement_counts_decisive_pairs_as_the_audit_does(tmp_path: Path) -> None:
    from rlaif_audit.judging.labeling import human_p_a, raw_agreement

    rows = [("p1", 0.9, 0.2), ("p2", 0.2, 0.9), ("p3", 0.6, 0.6), ("p4", 0.8, 0.4), ("p5", 0.7, 0.1)]
    path = tmp_path / "j.jsonl"
    path.write_text("".join(json.dumps({"pair_id": pid, "order": order, "p_first": p, "parse_status": "ok"}) + "\n"
                            for pid, ab, ba in rows for order, p in (("ab", ab), ("ba", ba))))
    pairs = [PreferencePair(pid, [], "a", "b") for pid, _, _ in rows]
    labels = [HumanLabel("p1", "a"), HumanLabel("p2", "a"), HumanLabel("p3", "a"), HumanLabel("p4", "tie"),
              HumanLabel("p5", "a", "h1"), HumanLabel("p5", "b", "h2"), HumanLabel("p5", "a", "h3")]
    assert human_p_a(labels) == pytest.approx({"p1": 1.0, "p2": 1.0, "p3": 1.0, "p4": 0.5, "p5": 2 / 3})
    # p1 right, p2 wrong, p3 judge tie (excluded), p4 human tie (excluded), p5 right: 2 of 3
    agreement = raw_agreement(path, pairs, labels)
    assert agreement["value"] == pytest.approx(2 / 3) and agreement["n"] == 3
    low, high = agreement["ci"]
    assert 0.0 <= low <= 2 / 3 <= high <= 1.0


def test_ties_half_agreement() -> None:
    assert pref.ties_half_agreement(1.0, 1.0) == 1.0 and pref.ties_half_agreement(0.0, 1.0) == 0.0
    assert pref.ties_half_agreement(0.5, 1.0) == 0.5 and pref.ties_half_agreement(1.0, 0.75) == 0.75
    assert pref.ties_half_agreement(np.array([1.0, 0.5]), np.array([0.0, 0.5])).tolist() == [0.0, 1.0]


def test_the_same_p_first_in_both_orders_is_exactly_a_tie() -> None:
    """A judge that gives every order the same P(first) (pure slot preference) has no preference between A and B:
    the debiased P(A) is exactly ½ and its choice a tie at tie band 0, not a decision made by a rounding error."""
    from rlaif_audit.records.preference import CHOICE_TIE, choice_codes, position_debiased

    p_first = np.random.default_rng(0).random(10_000)
    debiased = position_debiased(p_first, p_first)
    assert np.all(debiased == 0.5)
    assert np.all(choice_codes(debiased) == CHOICE_TIE)
