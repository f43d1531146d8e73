"""Cross-generation propagation: known answers by hand, statsmodels references, simulated power and false alarms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from rlaif_audit.auditing.flags import bh_adjust
from rlaif_audit.auditing.propagation import analyse, probe_columns, slope_weights
from rlaif_audit.auditing.probe_set import GenerationJudgments, ProbeSet
from rlaif_audit.judging.simulated_generations import SimulationConfig, parse_transfer, simulate_chain

A, B, NONE = 0, 1, -1


def probes_of(kinds: list[str], expected: list[int], own: list[int] | None = None) -> ProbeSet:
    n = len(kinds)
    return ProbeSet(np.array([f"p{i}" for i in range(n)], dtype=object), np.array(kinds), np.array(expected),
                    np.array(own if own is not None else [NONE] * n))


def judged(p_a: np.ndarray, shift: np.ndarray | float = 0.0) -> GenerationJudgments:
    """Both orders giving P(A) = p_a; ``shift`` adds to P(first) in both orders (a first-slot bias)."""
    p_a = np.asarray(p_a, dtype=float)
    ones = np.ones(len(p_a), dtype=bool)
    return GenerationJudgments(np.clip(p_a + shift, 0, 1), np.clip(1 - p_a + shift, 0, 1), ones, ones)


def from_correct(correct: np.ndarray, expected: np.ndarray, confidence: float = 0.8) -> GenerationJudgments:
    """Judgments that pick the expected response where ``correct``, the other one elsewhere."""
    picks_a = np.where(correct, expected == A, expected == B)
    return judged(np.where(picks_a, confidence, 1 - confidence))


# ------------------------------------------------------------------------------------------------ per generation


def test_per_generation_measures_by_hand() -> None:
    kinds = ["arithmetic"] * 4 + ["padding_filler"] * 2 + ["self_preference"] * 2
    probes = probes_of(kinds, [A, B, A, B, A, B, NONE, NONE], own=[NONE] * 6 + [A, B])
    # P(A): right, right, wrong (confidently: 0.05 on the expected A), tie; padding: padded wins (B) then not;
    # self-preference: own (A) wins, own (B) loses.
    p_a = np.array([0.8, 0.3, 0.05, 0.5, 0.2, 0.1, 0.7, 0.6])
    columns = probe_columns(probes, judged(p_a))
    assert columns["known_correct"].sum() == 2 and columns["known_n"].sum() == 4
    assert columns["padding_win"].sum() == 1 and columns["padding_n"].sum() == 2
    assert columns["confident_wrong"].sum() == 1 and columns["expected_n"].sum() == 6
    assert columns["own_win"].sum() == 1 and columns["own_n"].sum() == 2
    # Order ab gives P(first) = p_a, order ba gives 1 − p_a: every decisive pair is consistent, ties are tie/tie.
    assert columns["position_consistent"].sum() == 8
    assert columns["slot_first"].sum() == columns["slot_decisive"].sum() / 2

    shifted = probe_columns(probes, judged(np.full(8, 0.55), shift=0.2))  # 0.75 first in both orders
    assert shifted["position_consistent"].sum() == 0
    assert shifted["slot_first"].sum() == shifted["slot_decisive"].sum() == 16


def test_self_preference_excess_against_reference() -> None:
    probes = probes_of(["self_preference"] * 10, [NONE] * 10, own=[A, B] * 5)
    own_wins = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], dtype=bool)  # 8 of 10
    ref_wins = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)  # 5 of 10
    own = probes.own
    def gen(wins: np.ndarray) -> GenerationJudgments:
        return judged(np.where(wins == (own == A), 0.8, 0.2))
    result = analyse(probes, [gen(own_wins), gen(own_wins)], reference=gen(ref_wins), n_bootstrap=200)
    assert result.per_generation["self_preference_excess"][0].value == pytest.approx(0.3)
    without = analyse(probes, [gen(own_wins), gen(own_wins)], n_bootstrap=200)
    assert without.per_generation["self_preference_excess"][0].value == pytest.approx(0.3)  # 0.8 − 0.5


def test_anchor_agreement_and_kappa_match_sklearn() -> None:
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    human = rng.integers(0, 2, 60)
    judge = np.where(rng.random(60) < 0.75, human, 1 - human)
    probes = probes_of(["human_anchor"] * 60, list(human))
    g0 = judged(np.where(judge == A, 0.7, 0.3))
    result = analyse(probes, [g0, g0], n_bootstrap=200)
    assert result.per_generation["anchor_agreement"][0].value == pytest.approx(np.mean(judge == human))
    assert result.per_generation["anchor_kappa"][0].value == pytest.approx(cohen_kappa_score(human, judge))


# ------------------------------------------------------------------------------------------------ across generations


def known_answer_chain(patterns: list[np.ndarray]) -> tuple[ProbeSet, list[GenerationJudgments]]:
    n = len(patterns[0])
    expected = np.array([A, B] * (n // 2) + [A] * (n % 2))
    probes = probes_of(["arithmetic"] * n, list(expected))
    return probes, [from_correct(correct, expected) for correct in patterns]


def test_inherited_error_tables_and_mantel_haenszel_match_statsmodels() -> None:
    from statsmodels.stats.contingency_tables import StratifiedTable

    rng = np.random.default_rng(11)
    g0 = rng.random(80) < 0.7
    g1 = np.where(g0, rng.random(80) < 0.85, rng.random(80) < 0.4)  # wrong after wrong far more often
    g2 = np.where(g1, rng.random(80) < 0.8, rng.random(80) < 0.5)
    probes, generations = known_answer_chain([g0, g1, g2])
    result = analyse(probes, generations, n_bootstrap=300)
    tables = []
    for step, (before, after) in enumerate([(g0, g1), (g1, g2)]):
        wrong_before, wrong_after = ~before, ~after
        table = np.array([[np.sum(wrong_before & wrong_after), np.sum(wrong_before & ~wrong_after)],
                          [np.sum(~wrong_before & wrong_after), np.sum(~wrong_before & ~wrong_after)]])
        tables.append(table)
        row = result.inherited[step]
        np.testing.assert_array_equal(row.table, table)
        assert row.p_wrong_after_wrong.value == pytest.approx(table[0, 0] / table[0].sum())
        assert row.p_wrong_after_right.value == pytest.approx(table[1, 0] / table[1].sum())
        assert row.odds_ratio.value == pytest.approx(table[0, 0] * table[1, 1] / (table[0, 1] * table[1, 0]))
    by_hand = (sum(t[0, 0] * t[1, 1] / t.sum() for t in tables) / sum(t[0, 1] * t[1, 0] / t.sum() for t in tables))
    reference = StratifiedTable(np.stack(tables, axis=-1).astype(float))
    assert result.inherited_pooled.value == pytest.approx(by_hand)
    assert result.inherited_pooled.ci == pytest.approx(reference.oddsratio_pooled_confint())
    assert result.inherited_p_value == pytest.approx(reference.test_null_odds().pvalue)
    assert result.inherited_pooled_bootstrap.value == pytest.approx(by_hand)
    assert result.inherited_pooled.value > 2 and result.inherited_pooled.ci[0] > 1


def test_accuracy_differences_use_exact_mcnemar() -> None:
    from scipy.stats import binom
    from statsmodels.stats.contingency_tables import mcnemar

    g0 = np.array([1] * 30 + [0] * 10 + [1] * 3 + [0] * 7, dtype=bool)   # 33 right
    g1 = np.array([1] * 30 + [1] * 10 + [0] * 3 + [0] * 7, dtype=bool)   # discordant: 10 fixed, 3 broken
    probes, generations = known_answer_chain([g0, g1])
    result = analyse(probes, generations, n_bootstrap=300)
    (diff,) = [d for d in result.differences if d.measure == "known_answer_accuracy"]
    assert diff.metric.value == pytest.approx((40 - 33) / 50)
    assert diff.test == "McNemar exact"
    assert diff.p_value == pytest.approx(mcnemar([[30, 3], [10, 7]], exact=True).pvalue)
    assert diff.p_value == pytest.approx(2 * binom.cdf(3, 13, 0.5))


def test_trend_is_the_ols_slope_and_differences_are_paired() -> None:
    rng = np.random.default_rng(5)
    base = rng.random(200) < 0.9
    patterns = [base & (rng.random(200) > 0.08 * g) for g in range(5)]  # accuracy falls each generation
    probes, generations = known_answer_chain(patterns)
    result = analyse(probes, generations, n_bootstrap=400)
    accuracy = [m.value for m in result.per_generation["known_answer_accuracy"]]
    assert accuracy == pytest.approx([p.mean() for p in patterns])
    trend = result.trends["known_answer_accuracy"]
    assert trend.metric.value == pytest.approx(np.polyfit(np.arange(5), accuracy, 1)[0])
    assert slope_weights(5) @ np.array(accuracy) == pytest.approx(trend.metric.value)
    assert trend.verdict == "amplifying"  # accuracy falling: the error bias amplifies
    vs_zero = {d.later: d for d in result.differences if d.measure == "known_answer_accuracy" and d.earlier == 0}
    assert vs_zero[4].metric.value == pytest.approx(accuracy[4] - accuracy[0])
    # Paired: generation 4's probes are a subset of generation 0's right answers, so every resample's difference
    # is ≤ 0 and the whole CI lies below 0.
    assert vs_zero[4].metric.ci[1] <= 0


def test_identical_generations_are_stable() -> None:
    rng = np.random.default_rng(8)
    correct = rng.random(2000) < 0.8
    probes, generations = known_answer_chain([correct] * 4)
    result = analyse(probes, generations, n_bootstrap=300)
    assert result.trends["known_answer_accuracy"].metric.value == pytest.approx(0.0, abs=1e-12)
    assert result.trends["known_answer_accuracy"].verdict == "stable"


def test_bh_adjust_matches_the_step_up_rule() -> None:
    p_values = [0.001, 0.04, 0.03, 0.2, float("nan"), 0.012]
    adjusted = bh_adjust(p_values)
    finite = np.array([0.001, 0.04, 0.03, 0.2, 0.012])
    order = np.argsort(finite)
    ranked = finite[order] * len(finite) / np.arange(1, len(finite) + 1)
    expected = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    by_hand = np.empty(len(finite))
    by_hand[order] = expected
    assert math.isnan(adjusted[4])
    assert np.array(adjusted)[[0, 1, 2, 3, 5]] == pytest.approx(by_hand)


# ------------------------------------------------------------------------------------------------ simulation


def test_transfer_raises_the_simulated_bias_levels() -> None:
    chain = simulate_chain(SimulationConfig(generations=3, probes=100, transfer={"length": 0.5}, seed=1))
    assert chain.levels["length"] == pytest.approx([0.5, 0.75, 0.875, 0.9375])
    assert chain.levels["position"] == pytest.approx([0.3] * 4)
    assert parse_transfer("length=0.5, position=0") == {"length": 0.5, "position": 0.0}
    with pytest.raises(ValueError, match="length, position, self_preference, error"):
        parse_transfer("lenght=0.5")


def verdict_rates(transfer: dict[str, float], n_seeds: int) -> dict[str, float]:
    """Share of seeds whose verdict on each bias is 'amplifying' (3 generations after gen-0, 300 probes)."""
    calls: dict[str, list[bool]] = {}
    for seed in range(n_seeds):
        chain = simulate_chain(SimulationConfig(generations=3, probes=300, transfer=transfer, seed=seed))
        result = analyse(chain.probes, chain.generations, reference=chain.reference, n_bootstrap=250, seed=seed)
        for name, verdict in result.verdicts().items():
            calls.setdefault(name, []).append(verdict == "amplifying")
        calls.setdefault("any", []).append("amplifying" in result.verdicts().values())
    return {name: float(np.mean(values)) for name, values in calls.items()}


def test_simulated_false_alarms_and_power_over_200_seeds() -> None:
    null = verdict_rates({}, 200)
    assert null["any"] <= 0.05, null
    injected = verdict_rates({"length": 0.8, "position": 0.8, "self_preference": 0.8}, 200)
    assert injected["padded_wins_rate"] >= 0.8, injected
    assert injected["position_consistency"] >= 0.8, injected
    assert injected["self_preference_excess"] >= 0.8, injected


def test_error_transfer_shows_as_inherited_error() -> None:
    independent = simulate_chain(SimulationConfig(generations=4, probes=1000, seed=2))
    inherited = simulate_chain(SimulationConfig(generations=4, probes=1000, transfer={"error": 0.9}, seed=2))
    r0 = analyse(independent.probes, independent.generations, n_bootstrap=200)
    r1 = analyse(inherited.probes, inherited.generations, n_bootstrap=200)
    # Length bias alone makes some padding probes wrong in every generation (OR > 1 without transfer); carried-over
    # errors add to it.
    assert r1.inherited_pooled.ci[0] > r0.inherited_pooled.ci[1]
    assert r1.inherited_pooled.value > 2 * r0.inherited_pooled.value


# ------------------------------------------------------------------------------------------------ commands


def run_cli(args: list[str]) -> object:
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), args, catch_exceptions=False)


def test_simulate_and_propagation_commands_agree(tmp_path) -> None:
    out = tmp_path / "sim"
    result = run_cli(["simulate", "--generations", "3", "--probes", "200", "--transfer", "length=0.8",
                      "--seed", "4", "--n-bootstrap", "200", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "padded_wins_rate" in result.output
    report = json.loads((out / "report.json").read_text())
    simulated = report["auditors"]["propagation"]
    assert simulated["status"] == "ok"
    assert {row["measure"] for row in simulated["tables"]["verdicts"]} >= {"padded_wins_rate", "position_consistency"}
    assert list((out / "figures").glob("propagation-padded_wins_rate_by_generation*"))
    folder = out / "simulated"
    again = tmp_path / "again"
    result = run_cli(["propagation", "--data", str(folder / "probes.jsonl"),
                      *[str(folder / f"gen-{g}.jsonl") for g in range(4)], "--reference",
                      str(folder / "reference.jsonl"), "--n-bootstrap", "200", "--seed", "4", "-o", str(again)])
    assert result.exit_code == 0, result.output
    reread = json.loads((again / "report.json").read_text())["auditors"]["propagation"]
    assert reread["metrics"] == simulated["metrics"]
    assert reread["tables"]["verdicts"] == simulated["tables"]["verdicts"]


def test_propagation_command_rejects_bad_input(tmp_path) -> None:
    from rlaif_audit.cli import build_cli
    from rlaif_audit.testing import write_synthetic_pairs

    runner = CliRunner()
    one = runner.invoke(build_cli(), ["propagation", "--data", "x.jsonl", "j0.jsonl", "-o", str(tmp_path / "o")])
    assert one.exit_code == 2 and "at least two judgment files" in one.output
    pairs = write_synthetic_pairs(tmp_path / "pairs.jsonl", 4)
    judgments = tmp_path / "j.jsonl"
    judgments.write_text("".join(json.dumps({"pair_id": f"syn-{i:07d}", "order": order, "p_first": 0.6,
                                             "verdict": "first", "parse_status": "ok"}) + "\n"
                                 for i in range(4) for order in ("ab", "ba")))
    bad = runner.invoke(build_cli(), ["propagation", "--data", str(pairs), str(judgments), str(judgments),
                                      "-o", str(tmp_path / "o")])
    assert bad.exit_code == 2 and "no pair has metadata.probe_kind" in bad.output
    assert not (tmp_path / "o").exists()


def test_auditor_skips_without_generations() -> None:
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.default_plugins.auditors.propagation import NO_GENERATIONS, PropagationAuditor
    from rlaif_audit.testing import synthetic_frames, synthetic_judgments

    pairs, labels = synthetic_frames(20, seed=0)
    ctx = build_context(synthetic_judgments(pairs), pairs, labels)
    outcome = PropagationAuditor().audit(ctx)
    assert outcome.status == "skipped" and outcome.reason == NO_GENERATIONS
