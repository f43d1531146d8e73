"""How many human labels an audit needs: power for an agreement drop, and the width of a (PPI) win-rate CI.

Agreement drop, one sample (a baseline agreement ``p0`` known from an earlier large audit; ``n`` new labelled
pairs; H0: p = p0 against p = p0 − drop):

* normal approximation (the score test, variance under H0 and under the alternative):
  n = ((z_α·√(p0·q0) + z_β·√(p1·q1)) / drop)² (statsmodels' ``normal_sample_size_one_tail``);
* exact binomial: the smallest n whose exact test (reject when X ≤ the largest c with P_p0(X ≤ c) ≤ α; equal
  tails α/2 when two-sided) has power ≥ the target at p1. Exact power saw-tooths in n, so the n from which it
  never falls below the target again (within the search range) is reported too.

Agreement drop, two samples (two audits of ``n`` labels each): the pooled-variance normal approximation
(Fleiss), as statsmodels' ``samplesize_proportions_2indep_onetail``.

Win-rate CI of half-width h at anticipated rate p (σ² = p·(1 − p), an upper bound when ties count half):
human labels only n = z²·σ²/h²; PPI++ with N AI-only pairs and correlation ρ between the human label and the
judge's prediction has variance σ²·(1 − ρ²·N/(n + N))/n (Angelopoulos, Duchi & Zrnic 2023), solved for n; PPI
(λ = 1, prediction variance σ²) has σ²/N + 2σ²(1 − ρ)/n. An agreement rate a becomes ρ = 1 − (1 − a)/(2·p·q)
(binary labels, judge and humans with the same rate p).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Alternative = Literal["one-sided", "two-sided"]
MAX_LABELS = 10_000_000


@dataclass(frozen=True)
class PlanRow:
    """One answer: how many human labels a method needs, and what it achieves there."""

    method: str
    n_labels: int | None
    achieved: float | None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return asdict(self)


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.isf(level))


def tail_alpha(alpha: float, alternative: Alternative) -> float:
    """The level of the one tail that matters (α/2 for a two-sided test)."""
    return alpha / 2 if alternative == "two-sided" else alpha


def normal_n_one_sample(p0: float, drop: float, alpha: float, power: float,
                        alternative: Alternative = "one-sided") -> int:
    """Labels for the one-sample score test to detect agreement p0 − drop with the given power."""
    p1 = p0 - drop
    z_alpha, z_beta = _z(tail_alpha(alpha, alternative)), _z(power)  # z_beta < 0 for power > ½
    n = ((z_alpha * math.sqrt(p0 * (1 - p0)) - z_beta * math.sqrt(p1 * (1 - p1))) / drop) ** 2
    return max(1, math.ceil(n - 1e-9))


def normal_power_one_sample(p0: float, drop: float, alpha: float, n: int,
                            alternative: Alternative = "one-sided") -> float:
    """Power of the one-sample score test at n (the far tail ignored)."""
    from scipy.stats import norm

    p1 = p0 - drop
    z_alpha = _z(tail_alpha(alpha, alternative))
    return float(norm.cdf((drop * math.sqrt(n) - z_alpha * math.sqrt(p0 * (1 - p0))) / math.sqrt(p1 * (1 - p1))))


def exact_power(p0: float, p1: float, alpha: float, n: Any, alternative: Alternative = "one-sided") -> Any:
    """Power at p1 of the exact binomial test of p = p0 against smaller p (both tails, α/2 each, if two-sided)."""
    import numpy as np
    from scipy.stats import binom

    n = np.asarray(n)
    level = tail_alpha(alpha, alternative)
    low = binom.ppf(level, n, p0)
    low = np.where(binom.cdf(low, n, p0) <= level, low, low - 1)  # largest c with P_p0(X ≤ c) ≤ level
    power = binom.cdf(low, n, p1)
    if alternative == "two-sided":
        high = binom.isf(level, n, p0)  # P_p0(X > high) ≤ level: reject when X ≥ high + 1
        power = power + binom.sf(high, n, p1)
    return power


def exact_n_one_sample(p0: float, drop: float, alpha: float, power: float,
                       alternative: Alternative = "one-sided") -> tuple[int, int, float]:
    """Smallest n with exact power ≥ target, the n from which it stays there, and the power at the first."""
    import numpy as np

    start = normal_n_one_sample(p0, drop, alpha, power, alternative)
    ns = np.arange(1, min(MAX_LABELS, 3 * start + 200) + 1)
    powers = exact_power(p0, p0 - drop, alpha, ns, alternative)
    reached = powers >= power
    if not reached.any():
        raise ValueError(f"no n up to {ns[-1]} reaches power {power}")
    first = int(np.argmax(reached))
    below = np.flatnonzero(~reached)
    stays = int(below[-1] + 1) if len(below) else 0
    return int(ns[first]), int(ns[stays]), float(powers[first])


def two_sample_stds(p0: float, drop: float) -> tuple[float, float]:
    """Standard deviations (times √n) of the difference of two shares under H0 (pooled) and the alternative."""
    p1 = p0 - drop
    pooled = (p0 + p1) / 2
    return math.sqrt(2 * pooled * (1 - pooled)), math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))


def normal_n_two_sample(p0: float, drop: float, alpha: float, power: float,
                        alternative: Alternative = "one-sided") -> int:
    """Labels per audit for the pooled two-sample z-test to detect a drop from p0 to p0 − drop."""
    z_alpha, z_beta = _z(tail_alpha(alpha, alternative)), _z(power)  # z_beta < 0 for power > ½
    std_null, std_alt = two_sample_stds(p0, drop)
    return max(1, math.ceil(((z_alpha * std_null - z_beta * std_alt) / drop) ** 2 - 1e-9))


def normal_power_two_sample(p0: float, drop: float, alpha: float, n: int,
                            alternative: Alternative = "one-sided") -> float:
    """Power of the pooled two-sample z-test with n labels in each audit (the far tail ignored)."""
    from scipy.stats import norm

    std_null, std_alt = two_sample_stds(p0, drop)
    return float(norm.cdf((drop * math.sqrt(n) - _z(tail_alpha(alpha, alternative)) * std_null) / std_alt))


def agreement_plan(p0: float, drop: float, alpha: float, power: float, alternative: Alternative = "one-sided",
                   design: str = "one-sample") -> list[PlanRow]:
    """The rows ``rlaif-audit plan agreement`` prints."""
    if design == "two-sample":
        n = normal_n_two_sample(p0, drop, alpha, power, alternative)
        return [PlanRow("normal approximation, two samples (pooled z-test)", n,
                        normal_power_two_sample(p0, drop, alpha, n, alternative),
                        f"{n} labels in each of the two audits ({2 * n} in all)")]
    n_normal = normal_n_one_sample(p0, drop, alpha, power, alternative)
    first, stays, at_first = exact_n_one_sample(p0, drop, alpha, power, alternative)
    return [
        PlanRow("normal approximation (score test)", n_normal,
                normal_power_one_sample(p0, drop, alpha, n_normal, alternative),
                f"exact power at this n: {float(exact_power(p0, p0 - drop, alpha, n_normal, alternative)):.3f}"),
        PlanRow("exact binomial test", first, at_first,
                f"power stays ≥ {power} from n = {stays}", {"n_stays_above": stays}),
    ]


def ppi_variance_factor(n: float, n_ai: float | None, correlation: float) -> float:
    """PPI++'s variance relative to human labels only: 1 − ρ²·N/(n + N) (ρ < 0 gives λ = 0: factor 1)."""
    rho = max(correlation, 0.0)
    return 1.0 - rho**2 if n_ai is None else 1.0 - rho**2 * n_ai / (n + n_ai)


def win_rate_n_human(half_width: float, rate: float = 0.5, level: float = 0.95) -> int:
    """Human labels for a normal CI of the given half-width (statsmodels' ``samplesize_confint_proportion``)."""
    return max(1, math.ceil(_z((1 - level) / 2) ** 2 * rate * (1 - rate) / half_width**2 - 1e-9))


def win_rate_n_ppi_plus(half_width: float, correlation: float, n_ai: int | None, rate: float = 0.5,
                        level: float = 0.95) -> int:
    """Human labels for a PPI++ CI of the given half-width with N AI-only pairs (None: unlimited)."""
    a = _z((1 - level) / 2) ** 2 * rate * (1 - rate) / half_width**2  # the human-only n, unrounded
    if n_ai is None:
        return max(1, math.ceil(a * ppi_variance_factor(0, None, correlation) - 1e-9))
    rho2 = max(correlation, 0.0) ** 2
    # n·(n + N) = a·(n + N·(1 − ρ²))  ⇔  n² + (N − a)·n − a·N·(1 − ρ²) = 0
    b = n_ai - a
    n = (-b + math.sqrt(b * b + 4 * a * n_ai * (1 - rho2))) / 2
    return max(1, math.ceil(n - 1e-9))


def win_rate_n_ppi(half_width: float, correlation: float, n_ai: int | None, rate: float = 0.5,
                   level: float = 0.95) -> int | None:
    """Human labels for a PPI (λ = 1) CI of the given half-width; None when N AI-only pairs cannot reach it."""
    variance = rate * (1 - rate)
    budget = (half_width / _z((1 - level) / 2)) ** 2 - (0.0 if n_ai is None else variance / n_ai)
    if budget <= 0:
        return None
    return max(1, math.ceil(2 * variance * (1 - correlation) / budget - 1e-9))


def half_width(n: int, correlation: float | None, n_ai: int | None, rate: float = 0.5, level: float = 0.95,
               method: str = "human-only") -> float:
    """The planned CI half-width at n labels for a method (``human-only``, ``ppi++`` or ``ppi``)."""
    variance = rate * (1 - rate)
    if method == "ppi++":
        variance *= ppi_variance_factor(n, n_ai, correlation or 0.0)
    elif method == "ppi":
        variance = 2 * variance * (1 - (correlation or 0.0)) + (0.0 if n_ai is None else n * variance / n_ai)
    return _z((1 - level) / 2) * math.sqrt(variance / n)


def correlation_from_agreement(agreement: float, rate: float = 0.5) -> float:
    """ρ between binary human and judge labels that agree at this rate, both with P(A) = rate."""
    return 1.0 - (1.0 - agreement) / (2 * rate * (1 - rate))


def win_rate_plan(target: float, rate: float = 0.5, correlation: float | None = None, n_ai: int | None = None,
                  level: float = 0.95) -> list[PlanRow]:
    """The rows ``rlaif-audit plan win-rate`` prints."""
    n_human = win_rate_n_human(target, rate, level)
    rows = [PlanRow("human labels only", n_human, half_width(n_human, None, None, rate, level))]
    if correlation is None:
        return rows
    pool = "unlimited AI-only pairs" if n_ai is None else f"{n_ai} AI-only pairs"
    n_plus = win_rate_n_ppi_plus(target, correlation, n_ai, rate, level)
    rows.append(PlanRow("PPI++ (power-tuned)", n_plus,
                        half_width(n_plus, correlation, n_ai, rate, level, "ppi++"),
                        f"with {pool}, correlation {correlation:.3f}; saves {n_human - n_plus} labels"))
    n_ppi = win_rate_n_ppi(target, correlation, n_ai, rate, level)
    rows.append(PlanRow("PPI (λ = 1)", n_ppi,
                        None if n_ppi is None else half_width(n_ppi, correlation, n_ai, rate, level, "ppi"),
                        "the AI-only pairs alone are too few for this width" if n_ppi is None else
                        f"with {pool}; worse than human-only when correlation < 0.5"))
    return rows
