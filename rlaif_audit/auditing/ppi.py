"""Prediction-powered inference for a mean: human labels on a few pairs correct the judge's labels on many.

PPI (Angelopoulos, Bates, Fannjiang, Jordan, Zrnic 2023, "Prediction-powered inference", Science 382) and its
power-tuned form PPI++ (Angelopoulos, Duchi, Zrnic 2023, arXiv:2311.01453). With ``n`` pairs that carry a human
label ``y`` and the judge's prediction ``f``, and ``N`` pairs judged only by the AI (predictions ``f_u``):

    estimate(λ) = λ·mean(f_u) + mean(y − λ·f),   se(λ)² = λ²·var(f_u)/N + var(y − λ·f)/n

(population variances, ddof = 0, as ppi_py computes them); the 95% CI is estimate ± z·se. λ = 1 is PPI, λ = 0 the
classical human-only mean, and PPI++ takes λ = cov(y, f) / ((1 + n/N)·var(f ∪ f_u)) clipped to [0, 1], which is
never wider than either (asymptotically). Every function works along the last axis, so a simulation passes
``(seeds, n)`` arrays at once. The formulas are checked to 1e-10 against ppi_py's ``ppi_mean_ci`` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("ppi++", "ppi", "human-only", "ai-only")
"""The estimates of one mean, in the order a report shows them."""
CITATION = ("prediction-powered inference (Angelopoulos et al. 2023, Science 382:669; PPI++ power tuning: "
            "Angelopoulos, Duchi & Zrnic 2023, arXiv:2311.01453)")


@dataclass(frozen=True)
class MeanEstimate:
    """One estimate of a mean with its standard error and the sample sizes behind it."""

    method: str
    value: float
    se: float
    n_labeled: int
    n_unlabeled: int
    lam: float | None = None


def tuned_lambda(y: np.ndarray, f: np.ndarray, f_unlabeled: np.ndarray) -> np.ndarray:
    """PPI++'s variance-minimising λ for a mean, clipped to [0, 1] (ppi_py's ``_calc_lam_glm``, d = 1)."""
    n, big_n = y.shape[-1], f_unlabeled.shape[-1]
    cov = ((y - y.mean(-1, keepdims=True)) * (f - f.mean(-1, keepdims=True))).mean(-1)
    var_f = np.concatenate([f, f_unlabeled], axis=-1).var(-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = cov / ((1 + n / big_n) * var_f)
    return np.clip(np.nan_to_num(lam, nan=0.0), 0.0, 1.0)  # constant predictions carry no information: λ = 0


def ppi_mean(y: np.ndarray, f: np.ndarray, f_unlabeled: np.ndarray,
             lam: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """The prediction-powered estimate of E[y] and its standard error for a given λ."""
    lam = np.asarray(lam, dtype=float)
    residual = y - lam[..., None] * f
    value = lam * f_unlabeled.mean(-1) + residual.mean(-1)
    variance = lam**2 * f_unlabeled.var(-1) / f_unlabeled.shape[-1] + residual.var(-1) / y.shape[-1]
    return value, np.sqrt(variance)


def mean_of(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A sample mean and its standard error (ddof = 0, the classical CLT interval of ppi_py)."""
    return values.mean(-1), values.std(-1) / np.sqrt(values.shape[-1])


def mean_estimates(y: np.ndarray, f: np.ndarray, f_unlabeled: np.ndarray) -> list[MeanEstimate]:
    """PPI++, PPI, the human-only mean of ``y`` and the naive AI-only mean of all predictions, for 1-D inputs."""
    n, big_n = len(y), len(f_unlabeled)
    lam = float(tuned_lambda(y, f, f_unlabeled))
    rows = []
    for method, weight in (("ppi++", lam), ("ppi", 1.0)):
        value, se = ppi_mean(y, f, f_unlabeled, weight)
        rows.append(MeanEstimate(method, float(value), float(se), n, big_n, weight))
    value, se = mean_of(y)
    rows.append(MeanEstimate("human-only", float(value), float(se), n, 0, 0.0))
    value, se = mean_of(np.concatenate([f, f_unlabeled]))
    rows.append(MeanEstimate("ai-only", float(value), float(se), 0, n + big_n))
    return rows


def effective_labels(estimate: MeanEstimate, human_only: MeanEstimate) -> float | None:
    """How many human labels alone would give the same standard error: n·(se_human / se_estimate)²."""
    if not estimate.se > 0:
        return None
    return human_only.n_labeled * (human_only.se / estimate.se) ** 2
