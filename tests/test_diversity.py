"""Policy-side diversity and trend statistics: valid bootstraps over prompts, length-matched distinct-n, EAD,
Self-BLEU against nltk, and the autocorrelation-robust training-trend slope CI (issue 9, defects 5, 6, 10)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rlaif_audit.auditing.auditor import AuditContext
from rlaif_audit.auditing import diversity as dv
from rlaif_audit.testing import ZIPF_VOCABULARY, draw_words, zipf_prompt_cdfs
from rlaif_audit.default_plugins.auditors import policy as ap

VOCABULARY = ZIPF_VOCABULARY


def texts(word_ids: np.ndarray) -> list[list[str]]:
    return [[" ".join(f"w{w}" for w in sample) for sample in prompt] for prompt in word_ids]


def rows_of(policy: list[list[str]], reference: list[list[str]]) -> list[dict[str, Any]]:
    return [{"prompt_id": f"p{p}", "sample": i, "policy_text": x, "reference_text": y}
            for p, (xs, ys) in enumerate(zip(policy, reference)) for i, (x, y) in enumerate(zip(xs, ys))]


def true_distinct_2(rng: np.random.Generator, samples: int, length: int, n_prompts: int = 20000) -> float:
    """E[distinct bigrams of one prompt's samples] / bigrams per prompt, by Monte Carlo over the prompt population."""
    ids = draw_words(rng, zipf_prompt_cdfs(rng, n_prompts), samples, length)
    bigrams = np.sort((ids[..., :-1] * VOCABULARY + ids[..., 1:]).reshape(n_prompts, -1), axis=1)
    distinct = 1 + (np.diff(bigrams, axis=1) != 0).sum(axis=1)
    return float(distinct.mean() / bigrams.shape[1])


def test_diversity_ci_contains_its_estimate_and_covers_the_truth() -> None:
    rng = np.random.default_rng(5)
    samples, length, n_prompts, runs = 3, 12, 40, 300
    truth = true_distinct_2(rng, samples, length)
    measure = ap.DIVERSITY["distinct_2"]("policy_text")
    contains, covers = 0, 0
    for run in range(runs):
        cdf = zipf_prompt_cdfs(rng, n_prompts)
        side = texts(draw_words(rng, cdf, samples, length))
        metric = ap.cluster_bootstrap(rows_of(side, side), measure, seed=run, n_boot=300, family="sim")
        contains += metric.ci[0] <= metric.value <= metric.ci[1]
        covers += metric.ci[0] <= truth <= metric.ci[1]
    assert contains == runs  # main: the estimate fell outside its own CI (prompts drawn twice repeat their n-grams)
    assert 0.90 <= covers / runs <= 0.985


def test_length_only_change_is_not_mode_collapse() -> None:
    rng = np.random.default_rng(6)
    n_prompts, samples, runs = 30, 3, 200
    changes = {name: ap.difference(ap.DIVERSITY[name]("policy_text"), ap.DIVERSITY[name]("reference_text"))
               for name in ("distinct_2", "unigram_entropy")}
    covers = dict.fromkeys(changes, 0)
    for run in range(runs):
        cdf = zipf_prompt_cdfs(rng, n_prompts)
        longer, shorter = draw_words(rng, cdf, samples, 24), draw_words(rng, cdf, samples, 12)
        rows = rows_of(texts(longer), texts(shorter))
        for name, measure in changes.items():
            metric = ap.cluster_bootstrap(rows, measure, seed=run, n_boot=300, family=name)
            covers[name] += metric.ci[0] <= 0 <= metric.ci[1]
    for name, count in covers.items():  # main: distinct-2's CI lay wholly below 0 in most runs
        assert 0.90 <= count / runs <= 0.99, (name, count)


def test_repeating_the_same_words_longer_reads_as_no_change() -> None:
    rows = [{"prompt_id": f"p{p}", "sample": i, "reference_text": f"a{p} b{i} c d",
             "policy_text": f"a{p} b{i} c d e{p}{i} f{i} g h"} for p in range(4) for i in range(2)]
    for name in ("distinct_1", "distinct_2", "unigram_entropy"):
        change = ap.estimate(ap.difference(ap.DIVERSITY[name]("policy_text"), ap.DIVERSITY[name]("reference_text")),
                             rows)
        assert change == pytest.approx(0.0, abs=1e-12), name
    # per prompt, 2 samples of 4 words: bigrams (a,b0),(b0,c),(c,d),(a,b1),(b1,c),(c,d): 5 distinct of 6
    assert ap.estimate(ap.DIVERSITY["distinct_2"]("reference_text"), rows) == pytest.approx(5 / 6)


def test_expectation_adjusted_distinct_by_hand() -> None:
    rows = [{"prompt_id": "p", "policy_text": "a b a b", "reference_text": "c d e"},
            {"prompt_id": "q", "policy_text": "a b c", "reference_text": "c d e"}]
    vocabulary = 5  # distinct bigrams over both sides: (a,b) (b,a) (b,c) (c,d) (d,e)
    expected = [vocabulary * (1 - ((vocabulary - 1) / vocabulary) ** total) for total in (3, 2)]
    ead = ap.estimate(ap.ead(2, "policy_text"), rows)
    assert ead == pytest.approx((2 + 2) / sum(expected), rel=1e-12)
    assert dv.expected_distinct(1, 10) == pytest.approx(1.0) and dv.expected_distinct(10**6, 10) == pytest.approx(10)


def nltk_bleu(hypothesis: tuple[str, ...], references: list[tuple[str, ...]]) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return float(sentence_bleu(references, hypothesis, smoothing_function=SmoothingFunction().method1))


def test_bleu_and_self_bleu_match_nltk() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        m = int(rng.integers(2, 6))
        group = [tuple(f"w{w}" for w in rng.integers(0, int(rng.integers(2, 12)), int(rng.integers(1, 15))))
                 for _ in range(m)]
        for i, hypothesis in enumerate(group):
            assert dv.bleu(hypothesis, group[:i] + group[i + 1 :]) == pytest.approx(
                nltk_bleu(hypothesis, group[:i] + group[i + 1 :]), abs=1e-9)
        texts_ = [" ".join(tokens) for tokens in group]
        reference = np.mean([nltk_bleu(h, group[:i] + group[i + 1 :]) for i, h in enumerate(group)])
        assert dv.self_bleu(texts_) == pytest.approx(reference, abs=1e-9)


def test_mode_collapse_reports_self_bleu_per_prompt() -> None:
    rng = np.random.default_rng(8)
    groups = [[" ".join(f"w{w}" for w in rng.integers(0, 6, 10)) for _ in range(3)] for _ in range(5)]
    rows = rows_of(groups, [[f"x{p} y{i} z" for i in range(3)] for p in range(5)])
    ctx = AuditContext(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), seed=0, n_bootstrap=200,
                       options={"policy": {"samples": rows, "log": [], "reward": "model"}})
    metrics = ap.ModeCollapseAuditor().audit(ctx).metrics
    per_prompt = [np.mean([nltk_bleu(tuple(h.split()), [tuple(r.split()) for r in g[:i] + g[i + 1 :]])
                           for i, h in enumerate(g)]) for g in groups]
    assert metrics["self_bleu_policy"].value == pytest.approx(float(np.mean(per_prompt)), abs=1e-9)
    assert "pairwise_similarity_policy" not in metrics and "edit_similarity_policy" in metrics


def ar1_logs(rng: np.random.Generator, runs: int, n: int, rho: float) -> np.ndarray:
    noise = rng.standard_normal((runs, n))
    series = np.empty_like(noise)
    series[:, 0] = noise[:, 0] / math.sqrt(1 - rho**2)
    for t in range(1, n):
        series[:, t] = rho * series[:, t - 1] + noise[:, t]
    return series


def test_trend_slope_ci_covers_under_autocorrelated_log_steps() -> None:
    from scipy import stats

    rng = np.random.default_rng(9)
    runs, n, slope = 300, 100, 0.002
    steps = np.arange(1, n + 1) * 10.0
    series = ar1_logs(rng, runs, n, rho=0.5) + slope * steps
    old = new = 0
    for values in series:
        fit = stats.linregress(steps, values)  # the i.i.d. OLS t interval main used
        old += abs(fit.slope - slope) <= stats.t.ppf(0.975, n - 2) * fit.stderr
        metric = ap.trend([{"step": s, "reward": v} for s, v in zip(steps, values)], "reward")
        new += metric.ci[0] <= slope <= metric.ci[1]
    assert old / runs < 0.85
    assert 0.91 <= new / runs <= 0.98


def test_trend_slope_ci_keeps_its_level_without_autocorrelation() -> None:
    rng = np.random.default_rng(10)
    runs, n = 300, 60
    metrics = [ap.trend([{"step": s, "kl": v} for s, v in enumerate(values)], "kl")
               for values in rng.standard_normal((runs, n))]
    covers = sum(metric.ci[0] <= 0 <= metric.ci[1] for metric in metrics)
    assert 0.91 <= covers / runs <= 0.99
