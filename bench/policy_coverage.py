"""Known-truth coverage of the policy-side intervals (mode collapse, training trends); prints JSON.

Usage: python bench/policy_coverage.py [--runs 300] [--seed 0]
- trend: 95% CI coverage of a logged slope under AR(1) noise, for the i.i.d. OLS t interval (the old method),
  plain Newey–West HAC (statsmodels, its default lag rule) and the AR(1)-prewhitened HAC the auditors use.
- diversity: share of runs whose distinct-2 CI contains its own estimate and covers the population value
  (prompts with their own Zipf word distributions), and the share whose distinct-2 / entropy change CI covers 0
  when the policy only writes twice as long from the same words.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from rlaif_audit.testing import ZIPF_VOCABULARY, draw_words, zipf_prompt_cdfs

VOCABULARY = ZIPF_VOCABULARY


def ar1(rng: np.random.Generator, runs: int, n: int, rho: float) -> np.ndarray:
    """``runs`` stationary AR(1) series of length n with unit innovations."""
    noise = rng.standard_normal((runs, n))
    series = np.empty_like(noise)
    series[:, 0] = noise[:, 0] / math.sqrt(1 - rho**2)
    for t in range(1, n):
        series[:, t] = rho * series[:, t - 1] + noise[:, t]
    return series


def trend_coverage(rng: np.random.Generator, runs: int, n: int, rho: float) -> dict[str, float]:
    """Coverage of the true slope 0 by the three intervals."""
    import statsmodels.api as sm
    from scipy import stats

    from rlaif_audit.default_plugins.auditors.policy import trend

    steps = np.arange(1, n + 1) * 10.0
    hits = {"ols_t": 0, "newey_west": 0, "prewhitened_hac": 0}
    for values in ar1(rng, runs, n, rho):
        fit = stats.linregress(steps, values)
        hits["ols_t"] += abs(fit.slope) <= stats.t.ppf(0.975, n - 2) * fit.stderr
        lags = int(4 * (n / 100) ** (2 / 9))  # Newey & West's rule, statsmodels' default in S_hac_simple
        hac = sm.OLS(values, sm.add_constant(steps)).fit(cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
        low, high = hac.conf_int()[1]
        hits["newey_west"] += low <= 0 <= high
        metric = trend([{"step": s, "y": v} for s, v in zip(steps, values)], "y")
        hits["prewhitened_hac"] += metric.ci is not None and metric.ci[0] <= 0 <= metric.ci[1]
    return {name: count / runs for name, count in hits.items()}


def as_rows(policy: np.ndarray, reference: np.ndarray) -> list[dict[str, Any]]:
    def text(ids: np.ndarray) -> str:
        return " ".join(f"w{w}" for w in ids)

    return [{"prompt_id": f"p{p}", "sample": i, "policy_text": text(policy[p, i]),
             "reference_text": text(reference[p, i])} for p in range(policy.shape[0]) for i in range(policy.shape[1])]


def diversity_coverage(rng: np.random.Generator, runs: int, n_prompts: int, samples: int = 3,
                       length: int = 12) -> dict[str, float]:
    """Own-estimate containment and truth coverage of distinct-2, and 0-coverage of length-only changes."""
    from rlaif_audit.default_plugins.auditors.policy import DIVERSITY, cluster_bootstrap, difference

    ids = draw_words(rng, zipf_prompt_cdfs(rng, 20000), samples, length)
    bigrams = np.sort((ids[..., :-1] * VOCABULARY + ids[..., 1:]).reshape(len(ids), -1), axis=1)
    truth = float((1 + (np.diff(bigrams, axis=1) != 0).sum(axis=1)).mean() / bigrams.shape[1])
    side = DIVERSITY["distinct_2"]("policy_text")
    changes = {name: difference(DIVERSITY[name]("policy_text"), DIVERSITY[name]("reference_text"))
               for name in ("distinct_2", "unigram_entropy")}
    hits = {"distinct_2_contains_estimate": 0, "distinct_2_covers_truth": 0,
            **{f"{name}_length_only_change_covers_0": 0 for name in changes}}
    for run in range(runs):
        cdf = zipf_prompt_cdfs(rng, n_prompts)
        same = draw_words(rng, cdf, samples, length)
        metric = cluster_bootstrap(as_rows(same, same), side, seed=run, n_boot=500, family="sim")
        hits["distinct_2_contains_estimate"] += metric.ci[0] <= metric.value <= metric.ci[1]
        hits["distinct_2_covers_truth"] += metric.ci[0] <= truth <= metric.ci[1]
        rows = as_rows(draw_words(rng, cdf, samples, 2 * length), draw_words(rng, cdf, samples, length))
        for name, measure in changes.items():
            change = cluster_bootstrap(rows, measure, seed=run, n_boot=500, family=name)
            hits[f"{name}_length_only_change_covers_0"] += change.ci[0] <= 0 <= change.ci[1]
    return {name: count / runs for name, count in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="simulated audits per setting")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    out: dict[str, Any] = {"runs": args.runs, "trend": [], "diversity": []}
    for n in (30, 100, 300):
        for rho in (0.0, 0.5, 0.8):
            out["trend"].append({"log_rows": n, "rho": rho, **trend_coverage(rng, args.runs, n, rho)})
    for n_prompts in (20, 60):
        out["diversity"].append({"prompts": n_prompts, **diversity_coverage(rng, args.runs, n_prompts)})
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
