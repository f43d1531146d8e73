"""The one two-order rule (records.preference.pair_p_a) with known answers built by hand: verdict-only pairs follow
MT-Bench / FastChat show_result (any disagreement between the games is a tie), Shi et al. (2024)'s position
consistency and preference fairness, `--tie-band`, and the per-auditor count of pairs dropped for a failed order."""

from __future__ import annotations

import json
import math
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from rlaif_audit.records import preference as pref
from rlaif_audit.records.types import HumanLabel, PreferencePair


def verdict_frame(rows: list[tuple[str, str | None, str | None]]) -> pd.DataFrame:
    """Verdict-only judgments: (pair id, verdict of order ab, verdict of order ba); None is a failed order."""
    records = [{"pair_id": pair_id, "order": order, "p_first": None, "verdict": verdict,
                "parse_status": "ok" if verdict else "failed"}
               for pair_id, ab, ba in rows for order, verdict in (("ab", ab), ("ba", ba))]
    return pd.DataFrame.from_records(records)


def pairs_of(ids: list[str]) -> list[PreferencePair]:
    return [PreferencePair(i, [{"role": "user", "content": f"q {i}"}], f"answer a {i}", f"answer b {i}")
            for i in ids]


def context_of(judgments: pd.DataFrame, labels: list[HumanLabel], **options: Any) -> Any:
    from rlaif_audit.auditing.context import build_context

    ids = list(dict.fromkeys(judgments["pair_id"]))
    return build_context(judgments, pairs_of(ids), labels, n_bootstrap=50, options=options)


# --------------------------------------------------------------------- verdict-only judges: MT-Bench's rule

# Slot verdicts (ab, ba) of five verdict-only pairs and the human label of each. Order ab shows A first, order
# ba shows B first, so ba "second" picks A and ba "first" picks B.
#   p1  first / second : both orders pick A          -> A     (main: ½·[1 + 1 − 0] = 1,    A)
#   p2  first / tie    : A, then tie: they disagree  -> tie   (main: ½·[1 + 1 − ½] = 0.75, A: the defect)
#   p3  tie   / first  : tie, then B                 -> tie   (main: ½·[½ + 1 − 1] = 0.25, B)
#   p4  second / first : both orders pick B          -> B
#   p5  first / first  : the first slot both times   -> tie   (A, then B)
VERDICT_PAIRS = [("p1", "first", "second"), ("p2", "first", "tie"), ("p3", "tie", "first"),
                 ("p4", "second", "first"), ("p5", "first", "first")]
HUMANS = [HumanLabel("p1", "a"), HumanLabel("p2", "a"), HumanLabel("p3", "b"), HumanLabel("p4", "a"),
          HumanLabel("p5", "a")]


def test_a_tie_in_one_order_and_a_win_in_the_other_make_a_tie_for_verdict_only_judges() -> None:
    ctx = context_of(verdict_frame(VERDICT_PAIRS), HUMANS)
    assert ctx.pairs["p_a"].tolist() == [1.0, 0.5, 0.5, 0.0, 0.5]


def test_agreement_of_a_verdict_only_judge_follows_mt_bench() -> None:
    from rlaif_audit.default_plugins.auditors.agreement import AgreementAuditor

    result = AgreementAuditor().audit(context_of(verdict_frame(VERDICT_PAIRS), HUMANS))
    metrics = {name: metric.value for name, metric in result.metrics.items()}
    # judge A, tie, tie, B, tie against humans a, a, b, a, a:
    # without ties only p1 (right) and p4 (wrong) are decisive on both sides: 1/2 (main: 3/4 with p2, p3 "right")
    assert metrics["accuracy_without_ties"] == pytest.approx(1 / 2)
    assert result.metrics["accuracy_without_ties"].n == 2
    assert metrics["accuracy_with_ties"] == pytest.approx(1 / 5)  # only p1 matches exactly (main: 3/5)
    assert metrics["accuracy_ties_half"] == pytest.approx((1 + 0.5 + 0.5 + 0 + 0.5) / 5)
    assert any("MT-Bench rule" in note for note in result.notes)  # the rule is named in the method notes


def test_probabilities_in_both_orders_are_still_averaged_and_a_verdict_in_one_order_uses_the_games_rule() -> None:
    judgments = pd.DataFrame({"pair_id": ["x", "x", "y", "y"], "order": ["ab", "ba"] * 2,
                              "p_first": [0.9, 0.3, 0.9, None], "verdict": [None, None, None, "tie"]})
    ctx = context_of(judgments, [])
    # x: ½·[0.9 + 1 − 0.3] = 0.8 (RLAIF's position-debiased average); y: A in order ab, tie in ba -> tie
    assert ctx.pairs["p_a"].tolist() == pytest.approx([0.8, 0.5])


def show_result_outcome(g1: str, g2: str) -> str | None:
    """FastChat show_result.py (display_result_pairwise), written out: 'error' drops the match; `g1 == "tie" or
    g1 != g2` is a tie; else the winner model_1 or model_2."""
    if "error" in (g1, g2):
        return None
    if g1 == "tie" or g1 != g2:
        return "tie"
    return g1


GAMES = ("model_1", "model_2", "tie", "error")
SLOT_OF_GAME1 = {"model_1": "first", "model_2": "second", "tie": "tie", "error": None}  # game 1 shows model_1 first
SLOT_OF_GAME2 = {"model_1": "second", "model_2": "first", "tie": "tie", "error": None}  # game 2 shows model_2 first


@pytest.mark.parametrize("rule", ["rlaif", "fastchat"])
def test_every_pair_of_games_scores_as_fastchat_show_result_does(rule: str) -> None:
    from rlaif_audit.auditing.head_to_head import pair_scores_b

    combos = list(product(GAMES, GAMES))
    rows = [(f"m{i}", SLOT_OF_GAME1[g1], SLOT_OF_GAME2[g2]) for i, (g1, g2) in enumerate(combos)]
    scores = pair_scores_b(verdict_frame(rows), rule)
    ctx = context_of(verdict_frame(rows), [])
    p_a = ctx.pairs.set_index("pair_id")["p_a"]
    expected_b = {"model_1": 0.0, "model_2": 1.0, "tie": 0.5, None: math.nan}  # model_2 plays B
    for i, (g1, g2) in enumerate(combos):
        want = expected_b[show_result_outcome(g1, g2)]
        assert scores[f"m{i}"] == pytest.approx(want, nan_ok=True), (g1, g2)
        assert 1.0 - p_a[f"m{i}"] == pytest.approx(want, nan_ok=True), (g1, g2)


def test_the_review_queue_sees_a_tie_with_a_win_as_fully_uncertain() -> None:
    from rlaif_audit.default_plugins.auditors.agreement import review_queue

    queue = {row["pair_id"]: row for row in review_queue(context_of(verdict_frame(VERDICT_PAIRS), HUMANS))}
    assert set(queue) == {"p2", "p3", "p5"}  # the pairs whose orders disagree; p1 and p4 agree
    for pair_id in ("p2", "p3", "p5"):
        assert queue[pair_id]["p_a"] == 0.5 and queue[pair_id]["uncertainty"] == 1.0  # main: p2 0.75 / 0.5


def test_pair_p_a_is_the_games_rule_on_verdicts_and_the_average_on_probabilities() -> None:
    ab = np.array([1.0, 1.0, 0.5, 0.0, 1.0, 0.9, np.nan])
    ba = np.array([0.0, 0.5, 1.0, 1.0, 1.0, 0.3, 0.0])
    prob = np.array([False, False, False, False, False, True, False])
    assert pref.pair_p_a(ab, ba, prob, prob)[:6].tolist() == pytest.approx([1.0, 0.5, 0.5, 0.0, 0.5, 0.8])
    assert math.isnan(pref.pair_p_a(ab, ba, prob, prob)[6])
    codes = np.array([pref.CHOICE_A, pref.CHOICE_B, pref.CHOICE_TIE, pref.CHOICE_NONE])
    assert pref.content_choice(codes, "ba").tolist() == [pref.CHOICE_B, pref.CHOICE_A, pref.CHOICE_TIE,
                                                         pref.CHOICE_NONE]


# ------------------------------------------------------------------- Shi et al. 2024: PC and PF by hand

# Ten pairs, slot verdicts (order ab, order ba); Shi et al. write them A (first), B (second), C (tie):
#   s1  first/second  AB  consistent        s6  tie/first     CA  primacy
#   s2  second/first  BA  consistent        s7  second/second BB  recency
#   s3  tie/tie       CC  consistent        s8  first/first   AA  primacy
#   s4  first/first   AA  primacy           s9  first/failed  A?  failed: left out (MT-Bench "error")
#   s5  first/tie     AC  primacy           s10 second/tie    BC  recency
# Parsed pairs n = 9; consistent 3, primacy 4 (s4 s5 s6 s8), recency 2 (s7 s10).
#   PC = 3/9 (main: 3/10, the failed pair in the denominator)
#   PF = (recency − primacy)/n = (2 − 4)/9 = −2/9: Shi et al.'s PF_raw = rc·irr − pc·ipr
#        = (rc² − pc²)/(rc + pc) = rc − pc = −2, rescaled from [−n, n] to [−1, 1].
#        (Main: (BB − AA)/(BB + AA) = (1 − 2)/3, ignoring s5, s6, s10, the pairs tied in one order.)
#   MT-Bench categories among parsed pairs: biased_first 2/9 (s4 s8), biased_second 1/9 (s7), partial_tie 3/9
#   (s5 s6 s10); error 1/10; the mt_bench table's MT-Bench shares are of all ten pairs (consistent 3/10).
SHI_PAIRS = [("s1", "first", "second"), ("s2", "second", "first"), ("s3", "tie", "tie"), ("s4", "first", "first"),
             ("s5", "first", "tie"), ("s6", "tie", "first"), ("s7", "second", "second"), ("s8", "first", "first"),
             ("s9", "first", None), ("s10", "second", "tie")]


def position_result(rows: list[tuple[str, str | None, str | None]]) -> Any:
    from rlaif_audit.default_plugins.auditors.position import PositionAuditor

    return PositionAuditor().audit(context_of(verdict_frame(rows), []))


def test_position_consistency_leaves_failed_orders_out_as_shi_et_al() -> None:
    result = position_result(SHI_PAIRS)
    metrics = {name: metric.value for name, metric in result.metrics.items()}
    assert metrics["consistent"] == pytest.approx(3 / 9) and result.metrics["consistent"].n == 9
    assert metrics["consistent"] == pytest.approx(1 - metrics["conflict_rate"])
    assert metrics["biased_first"] == pytest.approx(2 / 9) and metrics["biased_second"] == pytest.approx(1 / 9)
    assert metrics["partial_tie"] == pytest.approx(3 / 9)
    assert metrics["error"] == pytest.approx(1 / 10) and result.metrics["error"].n == 10
    shares = {row["category"]: (row["count"], row["share"]) for row in result.tables["mt_bench"]}
    assert shares == {"consistent": (3, 0.3), "biased_first": (2, 0.2), "biased_second": (1, 0.1),
                      "partial_tie": (3, 0.3), "error": (1, 0.1)}


def test_preference_fairness_is_shi_et_al_s_score_with_pairs_tied_in_one_order() -> None:
    result = position_result(SHI_PAIRS)
    fairness = result.metrics["preference_fairness"]
    assert fairness.value == pytest.approx(-2 / 9) and fairness.n == 9
    assert -1.0 <= fairness.ci[0] <= fairness.value <= fairness.ci[1] <= 1.0


def shi_scores(rows: list[tuple[str, str | None, str | None]]) -> tuple[float, float]:
    """Shi et al. (2024)'s PC and PF, counted pair by pair from their choice-pair table (A first, B second, C tie;
    primacy AA AC CA, recency BB BC CB, consistent AB BA CC), PF_raw = rc·rc/(rc+pc) − pc·pc/(rc+pc) rescaled by
    its extremes ±n: PF = (PF_raw + n)/(2n)·2 − 1."""
    letter = {"first": "A", "second": "B", "tie": "C"}
    counts = {"primacy": 0, "recency": 0, "consistent": 0}
    for _, ab, ba in rows:
        if ab is None or ba is None:
            continue
        choice_pair = letter[ab] + letter[ba]
        kind = ("primacy" if choice_pair in ("AA", "AC", "CA") else "recency" if choice_pair in ("BB", "BC", "CB")
                else "consistent")
        counts[kind] += 1
    n = sum(counts.values())
    rc, pc = counts["recency"], counts["primacy"]
    raw = rc * (rc / (rc + pc)) - pc * (pc / (rc + pc)) if rc + pc else 0.0
    return counts["consistent"] / n, (raw + n) / (2 * n) * 2 - 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pc_and_pf_match_shi_et_al_s_counting_on_random_verdicts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    choices = np.array(["first", "second", "tie"], dtype=object)
    rows = [(f"r{i}", str(rng.choice(choices, p=[0.5, 0.3, 0.2])), str(rng.choice(choices, p=[0.45, 0.35, 0.2])))
            for i in range(60)]
    result = position_result(rows)
    pc, pf = shi_scores(rows)
    assert result.metrics["consistent"].value == pytest.approx(pc)
    assert result.metrics["preference_fairness"].value == pytest.approx(pf)


# ----------------------------------------------------------------------------- pairs dropped for a failed order


def probability_frame() -> tuple[pd.DataFrame, list[HumanLabel], list[PreferencePair]]:
    """12 pairs judged with probabilities, two of them (f1, f2) with a failed order; all labeled; generators g/h."""
    rng = np.random.default_rng(4)
    ids = [f"q{i}" for i in range(10)] + ["f1", "f2"]
    p_ab, p_ba = rng.uniform(0.05, 0.95, len(ids)), rng.uniform(0.05, 0.95, len(ids))
    p_ab[-2], p_ba[-1] = np.nan, np.nan  # f1 failed in order ab, f2 in order ba
    records = [{"pair_id": i, "order": order, "p_first": None if math.isnan(p) else float(p), "verdict": None,
                "parse_status": "failed" if math.isnan(p) else "ok"}
               for i, ab, ba in zip(ids, p_ab, p_ba) for order, p in (("ab", ab), ("ba", ba))]
    labels = [HumanLabel(i, "a" if k % 3 else "b") for k, i in enumerate(ids)]
    pairs = [PreferencePair(i, [{"role": "user", "content": f"q {i}"}], "short" if k % 2 else "a longer answer " * 4,
                            "b" * (10 + 7 * k), metadata={"generator_a": "g", "generator_b": "h"})
             for k, i in enumerate(ids)]
    return pd.DataFrame.from_records(records), labels, pairs


def test_each_auditor_reports_the_pairs_it_dropped_for_a_failed_order() -> None:
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.default_plugins.auditors.agreement import AgreementAuditor
    from rlaif_audit.default_plugins.auditors.calibration import CalibrationAuditor
    from rlaif_audit.default_plugins.auditors.length import LengthAuditor
    from rlaif_audit.default_plugins.auditors.position import PositionAuditor
    from rlaif_audit.default_plugins.auditors.win_rates import WinRatesAuditor

    judgments, labels, pairs = probability_frame()
    ctx = build_context(judgments, pairs, labels, n_bootstrap=50)
    for auditor in (AgreementAuditor, CalibrationAuditor, LengthAuditor, PositionAuditor):
        result = auditor().audit(ctx)
        assert result.status == "ok", (auditor.name, result.reason)
        assert result.tables["dropped_pairs"][0]["pairs"] == 2, auditor.name
        assert any("2 pair(s) with a failed order" in note for note in result.notes), auditor.name
    section = WinRatesAuditor().audit(ctx).section
    assert section["dropped_pairs"][0]["pairs"] == 2
    assert section["head_to_head"][0]["n_total"] == 10


def test_no_dropped_pairs_table_without_failed_orders() -> None:
    from rlaif_audit.default_plugins.auditors.position import PositionAuditor

    result = PositionAuditor().audit(context_of(verdict_frame(SHI_PAIRS[:8]), []))
    assert "dropped_pairs" not in result.tables


# ------------------------------------------------------------------------------------------------ --tie-band


def run_cli(args: list[Any]) -> Any:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


def test_the_tie_band_flag_reaches_the_judge_choice(tmp_path: Path) -> None:
    # P(first) per order -> debiased P(A): t1 ½·[0.9 + 1 − 0.1] = 0.9, t2 ½·[0.7 + 1 − 0.4] = 0.65,
    # t3 ½·[0.3 + 1 − 0.8] = 0.25, t4 ½·[0.6 + 1 − 0.5] = 0.55; humans prefer a, a, a, b.
    # Band 0: judge A, A, B, A -> without ties 2/4 (t1, t2 right). Band 0.2: A, tie, B, tie -> t1 right, t3 wrong: 1/2
    # on n = 2; with ties 1/4.
    rows = {"t1": (0.9, 0.1, "a"), "t2": (0.7, 0.4, "a"), "t3": (0.3, 0.8, "a"), "t4": (0.6, 0.5, "b")}
    data, judgments = tmp_path / "pairs.jsonl", tmp_path / "judgments.jsonl"
    data.write_text("".join(json.dumps({"id": i, "context": [{"role": "user", "content": f"q {i}"}], "a": f"a {i}",
                                        "b": f"b {i}", "preferred": human, "annotator": "h"}) + "\n"
                            for i, (_, _, human) in rows.items()), encoding="utf-8")
    judgments.write_text("".join(json.dumps({"pair_id": i, "order": order, "p_first": p}) + "\n"
                                 for i, (ab, ba, _) in rows.items() for order, p in (("ab", ab), ("ba", ba))),
                         encoding="utf-8")
    values = {}
    for band in (0.0, 0.2):
        out = tmp_path / f"band{band}"
        result = run_cli(["audit", judgments, "--data", data, "-o", out, "--n-bootstrap", "50", "--tie-band", band,
                          "--auditors", "agreement", "--report-formats", "json"])
        assert result.exit_code == 0, result.output
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert report["config"]["tie_band"] == band
        metrics = report["auditors"]["agreement"]["metrics"]
        values[band] = (metrics["accuracy_without_ties"]["value"], metrics["accuracy_without_ties"]["n"],
                        metrics["accuracy_with_ties"]["value"])
    assert values[0.0] == pytest.approx((2 / 4, 4, 2 / 4))
    assert values[0.2] == pytest.approx((1 / 2, 2, 1 / 4))


def test_a_tie_band_of_one_half_or_more_is_refused(tmp_path: Path) -> None:
    result = run_cli(["audit", tmp_path / "j.jsonl", "-o", tmp_path / "out", "--tie-band", "0.5"])
    assert result.exit_code == 2 and "--tie-band" in result.output and "range" in result.output, result.output


def test_label_agreement_and_ai_preferences_use_the_same_rule(tmp_path: Path) -> None:
    from rlaif_audit.judging.labeling import debiased_p_a, raw_agreement
    from rlaif_audit.data.judgment_file import read_judgments

    path = tmp_path / "verdicts.jsonl"
    path.write_text("".join(json.dumps({"pair_id": pair_id, "order": order, "p_first": None, "verdict": verdict}) + "\n"
                            for pair_id, ab, ba in VERDICT_PAIRS for order, verdict in (("ab", ab), ("ba", ba))),
                    encoding="utf-8")
    assert debiased_p_a(read_judgments(path)).reindex([p for p, _, _ in VERDICT_PAIRS]).tolist() == [
        1.0, 0.5, 0.5, 0.0, 0.5]  # main: NaN for every verdict-only pair
    # The file has no parse_status: its lines read as failed judgments, so `audit` measures no agreement (its
    # agreement auditor is skipped, not crashed) and `label` prints none either (main: label counted 0.5 of 2).
    assert raw_agreement(path, pairs_of([p for p, _, _ in VERDICT_PAIRS]), HUMANS) is None
