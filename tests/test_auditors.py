"""The four evaluator auditors recover injected biases, stay quiet on an unbiased judge, and match references."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from rlaif_audit.auditing.context import build_context
from rlaif_audit.auditing.auditor import AuditContext, AuditResult
from rlaif_audit.default_plugins.auditors.agreement import AgreementAuditor
from rlaif_audit.default_plugins.auditors.calibration import CalibrationAuditor
from rlaif_audit.default_plugins.auditors.length import LengthAuditor
from rlaif_audit.default_plugins.auditors.position import PositionAuditor
from rlaif_audit.testing import synthetic_frames, synthetic_judgments
from rlaif_audit.errors import InputError

N_PAIRS = 2000
N_BOOT = 500


def make(judge: dict[str, Any], *, n: int = N_PAIRS, seed: int = 0, options: dict[str, Any] | None = None,
         **pair_options: Any) -> tuple[AuditContext, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A context of synthetic pairs with known truth judged by a synthetic judge, and its inputs."""
    pairs, labels = synthetic_frames(n, seed, **pair_options)
    judgments = synthetic_judgments(pairs, judge, evaluator_id="synthetic-test")
    ctx = build_context(judgments, pairs, labels, seed=seed, n_bootstrap=N_BOOT, options=options)
    return ctx, pairs, labels, judgments


def contains(result: AuditResult, name: str, truth: float) -> bool:
    metric = result.metrics[name]
    return metric.ci is not None and metric.ci[0] <= truth <= metric.ci[1]


def quality_gap(pairs: pd.DataFrame) -> np.ndarray:
    return (pairs["quality_a"] - pairs["quality_b"]).to_numpy()


def test_the_four_auditors_are_registered(pm) -> None:
    from rlaif_audit.host import auditors

    registry = auditors(pm)
    for cls in (AgreementAuditor, PositionAuditor, CalibrationAuditor, LengthAuditor):
        assert registry.get(cls.name) is cls


# ------------------------------------------------------------------------------------------ known-truth recovery


def test_agreement_recovers_the_expected_accuracy_and_human_ceiling() -> None:
    ctx, pairs, labels, _ = make({"strength": 1.5, "pair_noise": 1.0, "position_bias": 0.7}, n_annotators=3)
    result = AgreementAuditor().audit(ctx)
    delta = quality_gap(pairs)
    p_judge, p_human = expit(1.5 * delta), expit(delta)
    # With three annotators the leave-one-out majority of two others is the same as one annotator's label
    # in expectation; the judge's expected agreement is pj·ph + (1 − pj)(1 − ph).
    assert contains(result, "judge_accuracy_loo", np.mean(p_judge * p_human + (1 - p_judge) * (1 - p_human)))
    assert contains(result, "human_ceiling", np.mean(p_human**3 + (1 - p_human) ** 3 + p_human * (1 - p_human)))
    assert result.metrics["ceiling_fraction"].value == pytest.approx(
        result.metrics["judge_accuracy_loo"].value / result.metrics["human_ceiling"].value)
    assert result.status == "ok" and result.metrics["accuracy_without_ties"].n == N_PAIRS


def test_agreement_single_annotator_accuracy_and_kappa_match_references() -> None:
    from sklearn.metrics import cohen_kappa_score

    ctx, pairs, labels, _ = make({"strength": 2.0, "pair_noise": 1.0}, seed=1)
    result = AgreementAuditor().audit(ctx)
    delta = quality_gap(pairs)
    p_judge, p_human = expit(2.0 * delta), expit(delta)
    assert contains(result, "accuracy_without_ties", np.mean(p_judge * p_human + (1 - p_judge) * (1 - p_human)))
    judge = np.where(ctx.pairs["p_a"] > 0.5, "a", np.where(ctx.pairs["p_a"] < 0.5, "b", "tie"))
    human = labels.set_index("pair_id").loc[ctx.pairs["pair_id"], "preferred"].to_numpy()
    assert result.metrics["accuracy_with_ties"].value == pytest.approx(np.mean(judge == human))
    assert result.metrics["cohen_kappa"].value == pytest.approx(cohen_kappa_score(judge, human))
    assert "krippendorff_alpha" not in result.metrics


def brute_force_alpha(labels: pd.DataFrame) -> float:
    """Krippendorff's nominal α straight from its definition (pairable values within units)."""
    categories = ["a", "b", "tie"]
    coincidence = np.zeros((3, 3))
    for _, unit in labels.groupby("pair_id")["preferred"]:
        values = [categories.index(v) for v in unit]
        if len(values) < 2:
            continue
        for i, first in enumerate(values):
            for j, second in enumerate(values):
                if i != j:
                    coincidence[first, second] += 1 / (len(values) - 1)
    totals = coincidence.sum(axis=1)
    n = totals.sum()
    disagree = coincidence.sum() - np.trace(coincidence)
    expected = n**2 - np.sum(totals**2)
    return 1 - (n - 1) * disagree / expected


def test_krippendorff_alpha_matches_its_definition() -> None:
    ctx, _, labels, _ = make({"pair_noise": 1.0}, n=300, n_annotators=4, human_tie_band=0.4)
    result = AgreementAuditor().audit(ctx)
    assert result.metrics["krippendorff_alpha"].value == pytest.approx(brute_force_alpha(labels))


def test_position_recovers_the_injected_first_slot_bias() -> None:
    ctx, _, _, judgments = make({"position_bias": 0.6, "noise": 0.5})
    result = PositionAuditor().audit(ctx)
    assert contains(result, "first_slot_log_odds", 0.6)
    assert result.metrics["first_slot_preference"].value > 0.55
    assert {flag["metric"] for flag in result.tables["flags"]} >= {"first_slot_preference"}
    assert result.metrics["debiasing_gain"].ci[0] > 0  # averaging the orders helps a position-biased judge


def test_position_table_and_tests_match_a_direct_count() -> None:
    from scipy.stats import binomtest

    ctx, _, _, judgments = make({"position_bias": 0.4, "noise": 1.0, "tie_band": 0.02, "fail_rate": 0.03}, seed=2)
    result = PositionAuditor().audit(ctx)
    verdicts = judgments.pivot(index="pair_id", columns="order", values="verdict")
    counts = {"consistent": 0, "biased_first": 0, "biased_second": 0, "partial_tie": 0, "error": 0}
    for ab, ba in zip(verdicts["ab"], verdicts["ba"]):
        if pd.isna(ab) or pd.isna(ba):
            counts["error"] += 1
        elif (ab, ba) in (("first", "second"), ("second", "first"), ("tie", "tie")):
            counts["consistent"] += 1
        elif ab == ba:
            counts["biased_first" if ab == "first" else "biased_second"] += 1
        else:
            counts["partial_tie"] += 1
    parsed = N_PAIRS - counts["error"]
    assert counts["error"] > 0  # the shares leave failed orders out of their denominator (Shi et al. 2024)
    for name, count in counts.items():
        assert result.metrics[name].value == pytest.approx(count / (N_PAIRS if name == "error" else parsed))
    assert sum(result.metrics[name].value for name in counts if name != "error") == pytest.approx(1.0)
    assert {row["category"]: row["share"] for row in result.tables["mt_bench"]} == pytest.approx(
        {name: count / N_PAIRS for name, count in counts.items()})  # MT-Bench's table: shares of all pairs
    assert result.tables["dropped_pairs"][0]["pairs"] == counts["error"]
    decisive = judgments["verdict"].isin(["first", "second"])
    wins = int((judgments["verdict"] == "first").sum())
    binomial = result.tables["tests"][0]
    assert (binomial["successes"], binomial["n"]) == (wins, int(decisive.sum()))
    assert binomial["p_value"] == pytest.approx(binomtest(wins, int(decisive.sum()), 0.5).pvalue)
    assert result.metrics["first_slot_preference"].value == pytest.approx(wins / decisive.sum())


def test_length_regression_recovers_the_injected_length_preference() -> None:
    # Humans pick the better response (gap 2) without noise, so 2·human − 1 = ±1 carries the judge's whole
    # quality signal and the logistic model judge ~ quality + log length ratio is exactly right.
    ctx, *_ = make({"strength": 1.0, "length_pref": 0.8, "pair_noise": 1.0}, quality_gap=2.0, human_noise=0.0)
    result = LengthAuditor().audit(ctx)
    assert contains(result, "length_coef", 0.8)
    assert contains(result, "quality_coef", 2.0)
    assert result.metrics["longer_excess"].ci[0] > 0
    assert {flag["metric"] for flag in result.tables["flags"]} >= {"longer_excess", "length_coef"}


def test_length_shares_match_a_direct_count_and_list_preference_is_found() -> None:
    ctx, pairs, labels, _ = make({"list_pref": 1.5, "pair_noise": 1.0}, seed=3, list_rate=0.5)
    result = LengthAuditor().audit(ctx)
    assert result.metrics["lists_excess"].ci[0] > 0
    long_a, long_b = pairs["a"].str.len(), pairs["b"].str.len()
    eligible = (long_a - long_b).abs() > 30
    human_a = labels.set_index("pair_id").loc[pairs["pair_id"], "preferred"].to_numpy() == "a"
    human_longer = np.where(long_a > long_b, human_a, ~human_a)[eligible.to_numpy()]
    assert result.metrics["p_prefer_longer_human"].value == pytest.approx(human_longer.mean())
    assert result.metrics["p_prefer_longer_human"].n == int(eligible.sum())
    curve = result.figures["length_curve"]["points"]
    assert sum(point["n"] for point in curve) == N_PAIRS


def test_calibration_recovers_the_injected_temperature() -> None:
    # Judge log-odds = quality gap / 0.5 while humans follow σ(gap): recalibration temperature 1/0.5 = 2.
    ctx, *_ = make({"strength": 1.0, "temperature": 0.5}, human_noise=1.0)
    result = CalibrationAuditor().audit(ctx)
    assert contains(result, "temperature", 2.0)
    assert result.tables["flags"][0]["metric"] == "temperature"
    assert "over-confident" in result.tables["flags"][0]["message"]
    for name in ("ece_temperature", "ece_platt", "ece_isotonic"):
        assert result.metrics[name].value < result.metrics["ece_equal_width"].value / 2


def test_calibration_matches_sklearn_on_binary_labels() -> None:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss, log_loss

    ctx, *_ = make({"strength": 1.2, "noise": 0.3}, seed=4)
    result = CalibrationAuditor().audit(ctx)
    p, human = ctx.pairs["p_a"].to_numpy(), ctx.pairs["human_p_a"].to_numpy()
    for scheme, strategy in (("equal_width", "uniform"), ("equal_mass", "quantile")):
        prob_true, prob_pred = calibration_curve(human, p, n_bins=10, strategy=strategy)
        bins = result.figures[f"reliability_{scheme}"]["bins"]
        assert [b["acc"] for b in bins] == pytest.approx(prob_true)
        assert [b["conf"] for b in bins] == pytest.approx(prob_pred)
        counts = np.array([b["count"] for b in bins])
        gaps = np.abs(prob_true - prob_pred)
        assert result.metrics[f"ece_{scheme}"].value == pytest.approx(np.sum(counts * gaps) / counts.sum())
    assert result.metrics["mce"].value == pytest.approx(
        max(abs(b["acc"] - b["conf"]) for b in result.figures["reliability_equal_width"]["bins"]))
    assert result.metrics["brier"].value == pytest.approx(brier_score_loss(human, p))
    assert result.metrics["log_loss"].value == pytest.approx(log_loss(human, p))


def test_an_unbiased_judge_is_flagged_no_more_often_than_the_nominal_5_percent() -> None:
    # A flag is a 95% CI excluding the null, so an unbiased judge is flagged in ~5% of samples by design.
    # Over 20 independent samples each flag may fire at most 4 times (P ≈ 0.003 under the nominal rate).
    fired: dict[str, int] = {}
    for seed in range(20):
        pairs, labels = synthetic_frames(500, 100 + seed, human_noise=1.0)
        judgments = synthetic_judgments(pairs, {"strength": 1.0, "noise": 0.3, "seed": seed})
        ctx = build_context(judgments, pairs, labels, seed=seed, n_bootstrap=300)
        for auditor in (PositionAuditor(), LengthAuditor(), CalibrationAuditor()):
            result = auditor.audit(ctx)
            assert result.status == "ok"
            for flag in result.tables["flags"]:
                fired[flag["metric"]] = fired.get(flag["metric"], 0) + 1
    assert all(count <= 4 for count in fired.values()), fired


@pytest.mark.parametrize("bias, flag", [({"position_bias": 0.8}, "first_slot_preference"),
                                        ({"length_pref": 1.0}, "length_coef"),
                                        ({"temperature": 0.4}, "temperature")])
def test_the_same_checks_flag_each_injected_bias_every_time(bias: dict[str, float], flag: str) -> None:
    for seed in range(5):
        pairs, labels = synthetic_frames(500, 200 + seed, human_noise=1.0)
        judgments = synthetic_judgments(pairs, {"noise": 0.3, "seed": seed, **bias})
        ctx = build_context(judgments, pairs, labels, seed=seed, n_bootstrap=300)
        flagged = {found["metric"] for auditor in (PositionAuditor(), LengthAuditor(), CalibrationAuditor())
                   for found in auditor.audit(ctx).tables["flags"]}
        assert flag in flagged


# ------------------------------------------------------------------------------------------------ skip reasons


def test_without_human_labels_the_auditors_that_need_them_skip() -> None:
    pairs, _ = synthetic_frames(300, 6)
    judgments = synthetic_judgments(pairs, {"noise": 1.0})
    ctx = build_context(judgments, pairs, [], n_bootstrap=N_BOOT)
    agreement = AgreementAuditor().audit(ctx)
    assert agreement.status == "skipped" and "no human labels" in agreement.reason
    assert agreement.tables["review_queue"]  # still produced for human labelers
    calibration = CalibrationAuditor().audit(ctx)
    assert calibration.status == "skipped" and "no human labels" in calibration.reason
    position = PositionAuditor().audit(ctx)
    assert position.status == "ok" and "accuracy_debiased" not in position.metrics
    length = LengthAuditor().audit(ctx)
    assert set(length.metrics) == {"p_prefer_longer_judge", "p_prefer_lists_judge"}


def test_with_one_order_only_position_skips_and_agreement_says_so(pm) -> None:
    from rlaif_audit.auditing.runner import run_auditors

    ctx, pairs, labels, judgments = make({"pair_noise": 1.0}, n=300)
    one_order = build_context(judgments[judgments["order"] == "ab"], pairs, labels, n_bootstrap=N_BOOT)
    position = PositionAuditor().audit(one_order)
    assert position.status == "skipped" and "both orders" in position.reason
    assert run_auditors(one_order, pm, ["position"])["position"].status == "skipped"
    agreement = AgreementAuditor().audit(one_order)
    assert agreement.status == "ok" and any("not position-debiased" in note for note in agreement.notes)
    queue = agreement.tables["review_queue"]
    assert queue and all(abs(row["p_a"] - 0.5) <= 0.1 and "one order" in row["reason"] for row in queue)


def test_without_probabilities_calibration_skips() -> None:
    ctx, pairs, labels, judgments = make({"pair_noise": 1.0}, n=300)
    verdicts_only = judgments.assign(p_first=judgments["verdict"].map({"first": 1.0, "second": 0.0, "tie": 0.5}))
    result = CalibrationAuditor().audit(build_context(verdicts_only, pairs, labels, n_bootstrap=N_BOOT))
    assert result.status == "skipped" and "no probabilities" in result.reason


def test_all_four_run_through_the_report_runner(pm) -> None:
    from rlaif_audit.auditing.runner import run_auditors

    ctx, *_ = make({"noise": 0.5, "pair_noise": 0.5}, n=400, n_annotators=2)
    four = ["agreement", "position", "calibration", "length"]
    results = run_auditors(ctx, pm, four)
    # the win-rates auditor fills its own report section, so it runs too (skipped: these pairs name no generators)
    assert {name: r.status for name, r in results.items()} == {**dict.fromkeys(four, "ok"), "win-rates": "skipped"}
    # every metric has an interval, or says it has none (ECE and MCE: "no valid interval")
    assert all(m.ci is not None or m.note == "no valid interval" for r in results.values() for m in r.metrics.values())


# ------------------------------------------------------------------------------------------------------- tables


def test_review_queue_holds_the_least_certain_pairs_ranked_and_cut_to_budget() -> None:
    ctx, *_ = make({"noise": 1.5, "fail_rate": 0.01}, n=600, options={"review_budget": 40})
    queue = AgreementAuditor().audit(ctx).tables["review_queue"]
    assert len(queue) == 40 and [row["rank"] for row in queue] == list(range(1, 41))
    assert {"pair_id", "context", "a", "b", "p_a", "reason", "rank"} <= set(queue[0])
    uncertainty = [row["uncertainty"] for row in queue]
    assert uncertainty == sorted(uncertainty, reverse=True)
    assert queue[0]["reason"].startswith("no usable judgment")
    whole = AgreementAuditor().audit(build_context(ctx.judgments, *make_inputs(600), options={"review_budget": 10**6},
                                                   n_bootstrap=10))
    p_a = ctx.pairs["p_a"].to_numpy()
    ab, ba = ctx.pairs["verdict_ab"].astype(object), ctx.pairs["verdict_ba"].astype(object)
    conflict = (ab.notna() & ba.notna() & ((ab == "first") == (ba == "first"))).to_numpy()
    expected = ~np.isfinite(p_a) | (np.abs(p_a - 0.5) <= 0.1) | conflict
    assert {row["pair_id"] for row in whole.tables["review_queue"]} == set(ctx.pairs["pair_id"][expected])


def make_inputs(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_frames(n, seed)


def test_confident_disagreements_are_wrong_and_sorted() -> None:
    ctx, *_ = make({"pair_noise": 2.0}, n=500)
    rows = AgreementAuditor().audit(ctx).tables["confident_disagreements"]
    assert rows and all(row["judge_choice"] != row["human_choice"] for row in rows)
    confidence = [abs(row["p_a"] - 0.5) for row in rows]
    assert confidence == sorted(confidence, reverse=True)


def test_breakdown_by_metadata_and_length() -> None:
    ctx, pairs, labels, _ = make({"pair_noise": 1.0}, n=800)
    rows = AgreementAuditor().audit(ctx).tables["breakdown"]
    by_category = {row["level"]: row for row in rows if row["by"] == "category"}
    assert set(by_category) == {"advice", "coding", "math", "writing"}
    human = labels.set_index("pair_id").loc[ctx.pairs["pair_id"], "preferred"].to_numpy()
    judge = np.where(ctx.pairs["p_a"] > 0.5, "a", "b")
    for level, row in by_category.items():
        mask = (ctx.pairs["meta_category"] == level).to_numpy()
        assert row["n"] == mask.sum()
        assert row["accuracy_without_ties"] == pytest.approx(np.mean(judge[mask] == human[mask]))
    assert sum(row["n"] for row in rows if row["by"] == "length_difference_chars") == 800


def test_compare_runs_mcnemar_against_a_second_evaluator() -> None:
    from scipy.stats import binomtest

    pairs, labels = synthetic_frames(800, 7)
    strong = synthetic_judgments(pairs, {"strength": 3.0, "pair_noise": 1.0, "seed": 1})
    weak = synthetic_judgments(pairs, {"strength": 0.3, "pair_noise": 1.0, "seed": 2})
    ctx = build_context(strong, pairs, labels, n_bootstrap=N_BOOT, compare=weak)
    result = AgreementAuditor().audit(ctx)
    human = labels.set_index("pair_id").loc[ctx.pairs["pair_id"], "preferred"].to_numpy()
    right_strong = np.where(ctx.pairs["p_a"] > 0.5, "a", "b") == human
    right_weak = np.where(ctx.compare.pairs["p_a"] > 0.5, "a", "b") == human
    table = result.tables["mcnemar"][0]
    assert (table["only_this"], table["only_compare"]) == (int(np.sum(right_strong & ~right_weak)),
                                                           int(np.sum(~right_strong & right_weak)))
    assert table["p_value"] == pytest.approx(binomtest(table["only_this"], table["only_this"] +
                                                       table["only_compare"]).pvalue)
    assert result.metrics["accuracy_difference"].value == pytest.approx(right_strong.mean() - right_weak.mean())
    assert result.metrics["accuracy_difference"].ci[0] > 0


def test_bca_intervals_on_request() -> None:
    ctx, *_ = make({"pair_noise": 1.0}, n=400, options={"ci_method": "bca"})
    metric = AgreementAuditor().audit(ctx).metrics["accuracy_without_ties"]
    assert "bca" in metric.method and metric.ci[0] < metric.value < metric.ci[1]


def test_batch_calibration_is_an_option() -> None:
    ctx, *_ = make({"position_bias": 1.5, "strength": 1.0}, n=600, options={"batch_calibration": True})
    position = PositionAuditor().audit(ctx)
    assert position.metrics["accuracy_batch_calibrated"].value > position.metrics["accuracy_first_order_only"].value
    assert "ece_batch_calibrated" in CalibrationAuditor().audit(ctx).metrics
    assert "accuracy_batch_calibrated" not in PositionAuditor().audit(make({}, n=100)[0]).metrics


# ------------------------------------------------------------------------------------------- build_context errors


@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    pairs, labels = synthetic_frames(20, 8)
    return synthetic_judgments(pairs, {}, evaluator_id="e1"), pairs, labels


def test_unknown_pair_ids_are_named_with_their_count(small) -> None:
    judgments, pairs, labels = small
    with pytest.raises(InputError, match=r"2 judged pair id\(s\) are not among the pairs: 'syn-0000000'") as info:
        build_context(judgments, pairs.iloc[2:], labels)
    assert info.value.field == "pair_id"


@pytest.mark.parametrize("p_first, message", [(1.5, "p_first must be in"), (-0.1, "p_first must be in"),
                                              (np.inf, "p_first must be in"), (np.nan, "p_first is NaN")])
def test_bad_p_first_is_an_input_error(small, p_first: float, message: str) -> None:
    judgments, pairs, labels = small
    broken = judgments.copy()
    broken.loc[5, "p_first"] = p_first
    broken.loc[5, "verdict"] = None
    with pytest.raises(InputError, match=message) as info:
        build_context(broken, pairs, labels)
    assert (info.value.field, info.value.line) == ("p_first", 6)
    assert repr(judgments.loc[5, "pair_id"]) in str(info.value)


def test_mixed_evaluators_duplicates_orders_and_empty_files_are_errors(small) -> None:
    judgments, pairs, labels = small
    mixed = judgments.assign(evaluator_id=["e1"] * 30 + ["e2"] * 10)
    with pytest.raises(InputError, match="mixes 2 evaluator identities: 'e1', 'e2'"):
        build_context(mixed, pairs, labels)
    with pytest.raises(InputError, match="judged twice in order 'ab'"):
        build_context(pd.concat([judgments, judgments.iloc[[3]]], ignore_index=True), pairs, labels)
    with pytest.raises(InputError, match="order must be 'ab' or 'ba'") as info:
        build_context(judgments.assign(order=["ab"] * 39 + ["xy"]), pairs, labels)
    assert info.value.line == 40
    with pytest.raises(InputError, match="holds no judgments"):
        build_context(judgments.iloc[:0], pairs, labels)
    with pytest.raises(InputError, match="preferred must be a, b or tie"):
        build_context(judgments, pairs, labels.assign(preferred="A"))


def test_context_columns_and_failed_judgments(small) -> None:
    judgments, pairs, labels = small
    failed = judgments.copy()
    failed.loc[0, ["p_first", "verdict", "parse_status"]] = [np.nan, None, "failed"]
    ctx = build_context(failed, pairs, labels)
    row = ctx.pairs.set_index("pair_id").loc[judgments.loc[0, "pair_id"]]
    assert row[f"status_{judgments.loc[0, 'order']}"] == "failed" and np.isnan(row["p_a"])
    assert {"p_first_ab", "p_first_ba", "verdict_ab", "verdict_ba", "p_a", "human_p_a", "n_annotators", "len_a",
            "len_b", "text_a", "text_b", "generator_a", "generator_b", "meta_category"} <= set(ctx.pairs.columns)
    assert ctx.pairs["len_a"].tolist() == pairs["a"].str.len().tolist()


# ---------------------------------------------------------------------------------------------- real human data


def test_length_and_agreement_on_real_hh_rlhf_labels(hh_path) -> None:
    from rlaif_audit.default_plugins.evaluators.synthetic import SyntheticEvaluator
    from rlaif_audit.judging.labeling import judge_items
    from rlaif_audit.data.pairs import read_pairs

    pair_set = read_pairs(str(hh_path), seed=0)
    evaluator = SyntheticEvaluator(length_pref=2.0, pair_noise=0.5)
    judgments = pd.DataFrame([j.to_dict() for j in evaluator.judge(judge_items(pair_set.pairs))])
    ctx = build_context(judgments, pair_set.pairs, pair_set.labels, n_bootstrap=N_BOOT)
    length = LengthAuditor().audit(ctx)
    preferred = {label.pair_id: label.preferred for label in pair_set.labels}
    longer_chosen = [(len(p.a) > len(p.b)) == (preferred[p.id] == "a") for p in pair_set.pairs
                     if abs(len(p.a) - len(p.b)) > 30]
    assert length.metrics["p_prefer_longer_human"].value == pytest.approx(np.mean(longer_chosen))
    assert length.metrics["p_prefer_longer_human"].n == len(longer_chosen)
    assert length.metrics["longer_excess"].ci[0] > 0  # a length-loving judge on humans who often prefer shorter
    agreement = AgreementAuditor().audit(ctx)
    assert agreement.status == "ok" and agreement.metrics["accuracy_without_ties"].n == len(pair_set.pairs)
