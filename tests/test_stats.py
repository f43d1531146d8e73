"""The vectorised bootstrap, intervals and estimators against scipy, sklearn and published values."""

from __future__ import annotations

import numpy as np
import pytest

from rlaif_audit.auditing import estimators, stats


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_wilson_matches_scipy() -> None:
    from scipy.stats import binomtest

    for successes, n in [(0, 20), (7, 20), (20, 20), (523, 1000)]:
        expected = binomtest(successes, n).proportion_ci(method="wilson")
        assert stats.wilson_interval(successes, n) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert stats.wilson_interval(0, 0) is None


def test_percentile_and_bca_match_scipy_bootstrap_on_a_mean() -> None:
    from scipy.stats import bootstrap

    data = rng(1).exponential(size=300)  # skewed, so BCa and percentile differ
    boot = stats.SumBootstrap(data[:, None], n_bootstrap=20000, rng=rng(2))
    assert boot.kind.startswith("exact")
    for method, ours in (("percentile", "percentile"), ("BCa", "bca")):
        ref = bootstrap((data,), np.mean, n_resamples=20000, method=method, rng=rng(3)).confidence_interval
        metric = boot.metric(lambda s: s[..., 0] / len(data), len(data), ours)
        assert metric.value == pytest.approx(data.mean())
        assert metric.ci == pytest.approx((ref.low, ref.high), abs=0.01)


def test_percentile_interval_covers_a_bernoulli_mean_about_95_percent() -> None:
    generator = rng(4)
    truth, covered, trials = 0.3, 0, 300
    for trial in range(trials):
        sample = (generator.random(150) < truth).astype(float)
        boot = stats.SumBootstrap(sample[:, None], n_bootstrap=400, rng=rng(trial))
        low, high = boot.metric(lambda s: s[..., 0] / 150, 150).ci
        covered += low <= truth <= high
    assert boot.kind == "exact-cells"
    assert 0.91 <= covered / trials <= 0.985


def test_exact_cells_and_index_resampling_agree_on_discrete_data() -> None:
    values = np.column_stack([rng(5).random(3000) < 0.6, rng(6).random(3000) < 0.5]).astype(float)
    ratio = stats.ratio(0, 1)
    cells = stats.SumBootstrap(values, n_bootstrap=4000, rng=rng(7))
    index = stats.SumBootstrap(values, n_bootstrap=4000, rng=rng(8), discrete=False)
    assert (cells.kind, index.kind) == ("exact-cells", "exact-index")
    assert cells.metric(ratio, 3000).ci == pytest.approx(index.metric(ratio, 3000).ci, abs=0.01)


def test_cells_normal_approximation_agrees_with_exact_resampling() -> None:
    generator = rng(9)
    p = generator.random(20000)
    y = (generator.random(20000) < p).astype(float)
    values = np.column_stack([np.ones_like(p), y - p, (p - y) ** 2])
    groups = np.minimum((p * 10).astype(int), 9)
    exact = stats.SumBootstrap(values, n_bootstrap=2000, rng=rng(10), groups=groups, n_groups=10, discrete=False,
                               dense_limit=10**9)
    approx = stats.SumBootstrap(values, n_bootstrap=2000, rng=rng(11), groups=groups, n_groups=10, discrete=False,
                                strata=y, dense_limit=0)
    assert (exact.kind, approx.kind) == ("exact-index", "cells-normal")

    def ece(sums: np.ndarray) -> np.ndarray:
        return np.abs(sums[..., 1::3]).sum(axis=-1) / sums[..., 0::3].sum(axis=-1)

    def brier(sums: np.ndarray) -> np.ndarray:
        return sums[..., 2::3].sum(axis=-1) / 20000

    for stat in (ece, brier):
        a, b = exact.metric(stat, 20000), approx.metric(stat, 20000)
        assert a.value == pytest.approx(b.value)
        width = a.ci[1] - a.ci[0]
        assert b.ci == pytest.approx(a.ci, abs=0.1 * width)


def test_groups_give_the_sums_of_the_expanded_matrix() -> None:
    values = rng(12).normal(size=(500, 2))
    groups = rng(13).integers(0, 3, 500)
    grouped = stats.SumBootstrap(values, n_bootstrap=50, rng=rng(14), groups=groups, n_groups=3)
    expanded = stats.SumBootstrap(stats.expand(values, groups, 3), n_bootstrap=50, rng=rng(14))
    assert grouped.total == pytest.approx(expanded.total)
    assert grouped.replicates == pytest.approx(expanded.replicates)
    for g in range(3):
        assert grouped.total[2 * g : 2 * g + 2] == pytest.approx(values[groups == g].sum(axis=0))


def test_row_codes_are_exact() -> None:
    values = rng(15).integers(0, 3, size=(5000, 4)).astype(float)
    codes, n_codes = stats.row_codes(values)
    assert n_codes == len(np.unique(values, axis=0))
    first = {}
    for code, row in zip(codes, map(tuple, values)):
        assert first.setdefault(code, row) == row
    assert stats.row_codes(rng(16).random((5000, 2))) is None


def test_no_data_and_no_resamples_give_no_interval() -> None:
    empty = stats.SumBootstrap(np.zeros((0, 2)), n_bootstrap=100, rng=rng(17))
    assert empty.metric(stats.ratio(0, 1), 0).value is None
    none = stats.SumBootstrap(np.ones((10, 1)), n_bootstrap=0, rng=rng(18)).metric(lambda s: s[..., 0] / 10, 10)
    assert none.value == 1.0 and none.ci is None


def test_krippendorff_alpha_reproduces_the_published_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal data with missing values: 0.743.
    nan = np.nan
    data = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
                     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
                     [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
                     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]])
    counts = np.stack([(data == value).sum(axis=0) for value in range(1, 6)], axis=1)
    assert estimators.krippendorff_alpha_nominal(counts) == pytest.approx(0.743, abs=5e-4)


def test_cohen_kappa_matches_sklearn() -> None:
    from sklearn.metrics import cohen_kappa_score

    first = rng(19).integers(0, 3, 400)
    second = np.where(rng(20).random(400) < 0.6, first, rng(21).integers(0, 3, 400))
    confusion = np.zeros((3, 3))
    np.add.at(confusion, (first, second), 1)
    ours = estimators.cohen_kappa_from_confusion(confusion.ravel(), 3)
    assert ours == pytest.approx(cohen_kappa_score(first, second))


def test_logistic_fit_matches_sklearn_and_its_sandwich_se_is_sane() -> None:
    from sklearn.linear_model import LogisticRegression

    generator = rng(22)
    features = generator.normal(size=(4000, 2))
    outcome = (generator.random(4000) < estimators.sigmoid(0.3 + features @ [1.0, -0.5])).astype(float)
    coef, se, converged = estimators.logistic_fit(features, outcome)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(features, outcome)
    assert converged
    assert coef == pytest.approx(np.concatenate([reference.intercept_, reference.coef_[0]]), abs=1e-4)
    fitted = estimators.sigmoid(np.column_stack([np.ones(4000), features]) @ coef)
    design = np.column_stack([np.ones(4000), features])
    model_se = np.sqrt(np.diag(np.linalg.inv((design * (fitted * (1 - fitted))[:, None]).T @ design)))
    assert se == pytest.approx(model_se, rel=0.1)  # well specified: robust ≈ model-based


def test_logistic_fit_reports_separation() -> None:
    features = np.linspace(-1, 1, 50)[:, None]
    _, _, converged = estimators.logistic_fit(features, (features[:, 0] > 0).astype(float))
    assert not converged


def test_inverse_temperature_recovers_the_truth() -> None:
    generator = rng(23)
    logits = generator.normal(scale=2.0, size=20000)
    targets = (generator.random(20000) < estimators.sigmoid(0.5 * logits)).astype(float)
    theta, se = estimators.fit_inverse_temperature(logits, targets)
    assert abs(theta - 0.5) < 3 * se
    assert 0 < se < 0.05


def test_excludes() -> None:
    from rlaif_audit.auditing.auditor import Metric

    assert stats.excludes(Metric(0.6, (0.55, 0.65), 10), 0.5)
    assert not stats.excludes(Metric(0.52, (0.45, 0.6), 10), 0.5)
    assert not stats.excludes(Metric(None, None, 0), 0.5)


def test_a_share_at_its_boundary_gets_a_wilson_interval_not_a_point() -> None:
    """400 of 400 verdicts for the first slot from 200 pairs: the bootstrap has no spread, the truth may be < 1."""
    import numpy as np

    from rlaif_audit.auditing.stats import SumBootstrap, wilson_interval

    values = np.tile([2.0, 2.0], (200, 1))  # per pair: first-slot wins, decisive verdicts
    boot = SumBootstrap(values, n_bootstrap=500, rng=np.random.default_rng(0))
    metric = boot.metric(lambda s: s[..., 0] / s[..., 1], 400, "percentile", (0.0, 1.0))
    assert metric.value == 1.0 and metric.ci[1] == pytest.approx(1.0)
    assert metric.ci[0] == pytest.approx(wilson_interval(200, 200)[0]) and metric.ci[0] < 0.99
    unbounded = boot.metric(lambda s: s[..., 0] / s[..., 1], 400, "percentile")
    assert unbounded.ci == (1.0, 1.0)
