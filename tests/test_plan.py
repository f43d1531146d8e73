"""`rlaif-audit plan`: the planner's n against statsmodels' closed forms and checked by simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from rlaif_audit.auditing import power as planner

GRID = [(0.8, 0.05, 0.05, 0.8, "one-sided"), (0.9, 0.05, 0.05, 0.9, "one-sided"),
        (0.7, 0.1, 0.01, 0.8, "two-sided"), (0.65, 0.03, 0.05, 0.8, "two-sided")]


def run_cli(args):
    from rlaif_audit.cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args])


def sm_alternative(alternative):
    return "two-sided" if alternative == "two-sided" else "smaller"


@pytest.mark.parametrize("p0, drop, alpha, power, alternative", GRID)
def test_normal_n_matches_statsmodels(p0, drop, alpha, power, alternative):
    from statsmodels.stats.power import normal_sample_size_one_tail
    from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

    tail = alpha / 2 if alternative == "two-sided" else alpha
    one = normal_sample_size_one_tail(drop, power, tail, std_null=math.sqrt(p0 * (1 - p0)),
                                      std_alternative=math.sqrt((p0 - drop) * (1 - p0 + drop)))
    assert planner.normal_n_one_sample(p0, drop, alpha, power, alternative) == math.ceil(one)
    two = samplesize_proportions_2indep_onetail(-drop, p0, power, alpha=alpha,
                                                alternative=sm_alternative(alternative))
    assert planner.normal_n_two_sample(p0, drop, alpha, power, alternative) == math.ceil(two)


@pytest.mark.parametrize("alternative", ["one-sided", "two-sided"])
def test_exact_power_matches_statsmodels_rejection_region(alternative):
    from scipy.stats import binom
    from statsmodels.stats.proportion import binom_test_reject_interval

    for n in (20, 57, 200, 433):
        low, high = binom_test_reject_interval(0.8, n, alpha=0.05, alternative=sm_alternative(alternative))
        expected = binom.cdf(low, n, 0.75) + (binom.sf(high - 1, n, 0.75) if alternative == "two-sided" else 0)
        assert float(planner.exact_power(0.8, 0.75, 0.05, n, alternative)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("p0, drop, alpha, power, alternative", GRID)
def test_power_at_the_planned_n_by_simulation(p0, drop, alpha, power, alternative):
    """20 000 simulated audits at p1 = p0 − drop: the normal test at the normal n and the exact binomial test at
    the exact n each detect the drop with the target power, ±0.03."""
    from scipy.stats import norm
    from statsmodels.stats.proportion import binom_test_reject_interval

    rng = np.random.default_rng(7)
    p1 = p0 - drop
    tail = alpha / 2 if alternative == "two-sided" else alpha
    n = planner.normal_n_one_sample(p0, drop, alpha, power, alternative)
    z = (rng.binomial(n, p1, 20_000) / n - p0) / math.sqrt(p0 * (1 - p0) / n)
    rejected = np.abs(z) > norm.isf(tail) if alternative == "two-sided" else z < -norm.isf(tail)
    assert abs(rejected.mean() - power) <= 0.03, (n, rejected.mean())
    n_exact, _, _ = planner.exact_n_one_sample(p0, drop, alpha, power, alternative)
    low, high = binom_test_reject_interval(p0, n_exact, alpha=alpha, alternative=sm_alternative(alternative))
    counts = rng.binomial(n_exact, p1, 20_000)
    simulated = np.mean((counts <= low) | ((counts >= high) & (alternative == "two-sided")))
    assert abs(simulated - power) <= 0.03, (n_exact, simulated)
    assert planner.exact_power(p0, p1, alpha, n_exact - 1, alternative) < power  # it is the smallest such n


def test_two_sample_power_by_simulation():
    from scipy.stats import norm

    n = planner.normal_n_two_sample(0.8, 0.05, 0.05, 0.8)
    rng = np.random.default_rng(8)
    before, after = rng.binomial(n, 0.8, 20_000) / n, rng.binomial(n, 0.75, 20_000) / n
    pooled = (before + after) / 2
    z = (after - before) / np.sqrt(2 * pooled * (1 - pooled) / n)
    assert abs(np.mean(z < -norm.isf(0.05)) - 0.8) <= 0.03


def test_win_rate_human_only_matches_statsmodels():
    from statsmodels.stats.proportion import samplesize_confint_proportion

    for half_width, rate in ((0.03, 0.5), (0.05, 0.7), (0.01, 0.2)):
        assert planner.win_rate_n_human(half_width, rate) == math.ceil(
            samplesize_confint_proportion(rate, half_width))


def test_ppi_plus_half_width_by_simulation():
    """Binary human labels (rate ½) and a judge agreeing 85% of the time: at the planned n with N = 4000 AI-only
    pairs, the PPI++ CI's mean half-width is the target (±5%) and it covers."""
    from rlaif_audit.auditing.ppi import ppi_mean, tuned_lambda

    agreement, n_ai, target = 0.85, 4000, 0.04
    correlation = planner.correlation_from_agreement(agreement)
    assert correlation == pytest.approx(2 * agreement - 1)
    n = planner.win_rate_n_ppi_plus(target, correlation, n_ai)
    assert n < planner.win_rate_n_human(target)
    assert planner.half_width(n, correlation, n_ai, method="ppi++") <= target < planner.half_width(
        n - 1, correlation, n_ai, method="ppi++")
    rng = np.random.default_rng(9)
    human = (rng.random((2000, n + n_ai)) < 0.5).astype(float)
    judge = np.where(rng.random(human.shape) < agreement, human, 1 - human)
    value, se = ppi_mean(human[:, :n], judge[:, :n], judge[:, n:],
                         tuned_lambda(human[:, :n], judge[:, :n], judge[:, n:]))
    half = 1.959963984540054 * se
    assert half.mean() == pytest.approx(target, rel=0.05)
    assert 0.93 <= np.mean(np.abs(value - 0.5) <= half) <= 0.97


def test_ppi_plus_closed_form_without_an_ai_limit():
    n_human = planner.win_rate_n_human(0.03)
    assert planner.win_rate_n_ppi_plus(0.03, 0.6, None) == math.ceil(
        1.959963984540054**2 * 0.25 * (1 - 0.36) / 0.03**2)
    assert planner.win_rate_n_ppi_plus(0.03, -0.4, None) == n_human  # a useless judge: λ = 0, human labels only
    assert planner.win_rate_n_ppi(0.03, 0.6, 100) is None  # 100 AI-only pairs alone are wider than ±0.03


# ------------------------------------------------------------------------------------------------ the command


def test_plan_agreement_json():
    result = run_cli(["plan", "agreement", "--p0", "0.8", "--drop", "0.05", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["p1"] == 0.75
    normal, exact = answer["rows"]
    assert normal["n_labels"] == planner.normal_n_one_sample(0.8, 0.05, 0.05, 0.8) == 419
    assert exact["n_labels"] == planner.exact_n_one_sample(0.8, 0.05, 0.05, 0.8)[0]
    assert exact["achieved"] >= 0.8


def test_plan_agreement_two_sample_json():
    result = run_cli(["plan", "agreement", "--p0", "0.8", "--drop", "0.05", "--design", "two-sample", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["rows"]
    assert row["n_labels"] == planner.normal_n_two_sample(0.8, 0.05, 0.05, 0.8) == 862
    assert abs(row["achieved"] - 0.8) < 0.005


def test_plan_win_rate_table():
    result = run_cli(["plan", "win-rate", "--half-width", "0.03", "--agreement", "0.8", "--n-ai", "5000"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[:3] == ["method", "human", "labels"]
    assert lines[2].split()[3] == str(planner.win_rate_n_human(0.03)) == "1068"
    assert lines[3].split()[2] == str(planner.win_rate_n_ppi_plus(0.03, 0.6, 5000))


@pytest.mark.parametrize("args, message", [
    (["agreement", "--p0", "0.8", "--drop", "0.8"], "the drop (0.8) must be smaller than p0 (0.8)"),
    (["agreement", "--p0", "1.5", "--drop", "0.1"], "'--p0': 1.5 is not in the range"),
    (["agreement", "--p0", "0.8", "--drop", "0.1", "--power", "0.04"], "must exceed alpha"),
    (["win-rate", "--half-width", "0.03", "--agreement", "0.8", "--correlation", "0.5"],
     "give --correlation or --agreement, not both"),
    (["win-rate"], "Missing option '--half-width'"),
])
def test_plan_misuse_exits_2(args, message):
    result = run_cli(["plan", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
