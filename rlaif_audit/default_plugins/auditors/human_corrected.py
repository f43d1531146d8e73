"""The human-corrected auditor: win and preference rates over all judged pairs, corrected by a human-labelled slice."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult, Metric

if TYPE_CHECKING:
    import numpy as np

    from rlaif_audit.auditing.ppi import MeanEstimate

MIN_PAIRS = 30
"""Fewest human-labelled pairs, and fewest AI-only pairs, for the normal-theory PPI interval."""
SAMPLING_P = 0.01
"""Below this KS p-value the labelled pairs' judge P(A) differ from the AI-only pairs': the report warns."""
SUFFIXES = {"ppi++": "", "ppi": "_ppi", "human-only": "_human_only", "ai-only": "_ai_only"}
"""Metric name suffix of each estimate (PPI++ carries the plain name: it is the one to read)."""
ESTIMANDS = {
    "win_rate": "win rate of A: mean human share preferring A (ties half); AI prediction = the judge's P(A) "
                "(the two-order rule)",
    "preference_rate": "agreement-corrected preference rate of A: share of pairs whose human majority prefers A; "
                       "AI prediction = the judge's choice is A",
}
ALL_LABELLED = ("human labels cover every judged pair: there are no AI-only pairs for prediction-powered inference "
                "to use (the agreement auditor measures the judge on them)")


class HumanCorrectedAuditor(Auditor):
    """Prediction-powered estimates of what humans would say about all judged pairs, from a labelled slice.

    Runs when human labels cover some but not all judged pairs (at least ``MIN_PAIRS`` of each). Metrics, each
    with a normal 95% CI (clipped to [0, 1]) and n:

    * ``win_rate``: E[human share preferring A] (ties half), the judge's P(A) (the two-order rule) as the
      prediction, by PPI++ (power-tuned λ); ``win_rate_ppi`` (λ = 1), ``win_rate_human_only`` (labelled pairs
      alone) and ``win_rate_ai_only`` (the judge's mean P(A) over all pairs: biased whenever the judge is).
    * ``preference_rate`` (and ``_ppi``, ``_human_only``, ``_ai_only``): the share of pairs whose human
      majority prefers A, the judge's choice (A when P(A) > ½ + tie_band) as the prediction: the AI rate
      corrected by the judge's disagreements with humans on the labelled slice.

    Table ``estimates``: every estimate with its se, λ, sample sizes and effective number of human labels
    (n·(se_human-only / se)²; none for the AI-only estimate, whose error is bias rather than noise).
    """

    name = "human-corrected"
    meanings = {
        "win_rate": "The human-corrected (prediction-powered) win rate is {value:.1%}.",
        "preference_rate": "The human-corrected share of pairs where A is preferred is {value:.1%}.",
    }
    description = ("Human-corrected win and preference rates by prediction-powered inference (PPI++), beside the "
                   "human-only and AI-only estimates")
    requires = ("human",)
    headline = ("win_rate", "preference_rate")
    method_notes = (
        "human-corrected: prediction-powered inference (Angelopoulos et al. 2023, Science 382:669) with PPI++ power "
        "tuning (Angelopoulos, Duchi & Zrnic 2023, arXiv:2311.01453): estimate = λ·mean(AI on AI-only pairs) + "
        "mean(human − λ·AI on labelled pairs), se² = λ²·var/N + var(human − λ·AI)/n, 95% CI = estimate ± 1.96·se "
        "(as ppi_py's ppi_mean_ci). Valid when the labelled pairs are a uniform random sample of the judged pairs.",
    )

    def audit(self, ctx: AuditContext) -> AuditResult:
        import numpy as np

        from rlaif_audit.auditing.context import judge_preference, note_failed_orders

        p_a, single_note = judge_preference(ctx)
        human = ctx.pairs["human_p_a"].to_numpy(dtype=float)
        usable = np.isfinite(p_a)
        labelled, unlabelled = usable & np.isfinite(human), usable & ~np.isfinite(human)
        reason = skip_reason(int(labelled.sum()), int(unlabelled.sum()))
        if reason:
            return AuditResult(status="skipped", reason=reason)
        result = AuditResult(notes=([single_note] if single_note else []) + [
            f"{name}: {definition}." for name, definition in ESTIMANDS.items()])
        for estimand, (target, prediction) in targets(ctx, p_a, human).items():
            add_estimates(result, estimand, target[labelled], prediction[labelled], prediction[unlabelled])
        sampling_note = sampling_check(p_a[labelled], p_a[unlabelled])
        if sampling_note:
            result.notes.append(sampling_note)
        note_failed_orders(ctx, usable, result, "the human-corrected estimates")
        return result


def skip_reason(n_labelled: int, n_unlabelled: int) -> str | None:
    """Why prediction-powered inference cannot run on these counts; None when it can."""
    if n_unlabelled == 0:
        return ALL_LABELLED
    if n_labelled < MIN_PAIRS or n_unlabelled < MIN_PAIRS:
        return (f"needs at least {MIN_PAIRS} human-labelled and {MIN_PAIRS} AI-only judged pairs; found "
                f"{n_labelled} labelled and {n_unlabelled} AI-only")
    return None


def sampling_check(labelled: np.ndarray, unlabelled: np.ndarray) -> str | None:
    """A warning when the judge's P(A) on the labelled pairs is distributed unlike the AI-only pairs' (KS test)."""
    from scipy.stats import ks_2samp

    test = ks_2samp(labelled, unlabelled)
    if test.pvalue >= SAMPLING_P:
        return None
    return (f"WARNING: the judge's P(A) on the labelled pairs is distributed unlike on the AI-only pairs "
            f"(two-sample KS p = {test.pvalue:.2g}): the labelled pairs look like no random sample (e.g. the review "
            "queue's least certain pairs), and the PPI intervals assume one")


def targets(ctx: AuditContext, p_a: np.ndarray, human: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each estimand's human target and AI prediction per pair (NaN targets where unlabelled)."""
    import numpy as np

    from rlaif_audit.auditing.context import option
    from rlaif_audit.records.preference import CHOICE_A, choice_codes

    human_prefers_a = np.where(np.isfinite(human), (choice_codes(human) == CHOICE_A).astype(float), np.nan)
    judge_prefers_a = (choice_codes(p_a, float(option(ctx, "tie_band"))) == CHOICE_A).astype(float)
    return {"win_rate": (human, p_a), "preference_rate": (human_prefers_a, judge_prefers_a)}


def add_estimates(result: AuditResult, estimand: str, target: np.ndarray, prediction: np.ndarray,
                  prediction_unlabelled: np.ndarray) -> None:
    """The four estimates of one estimand as metrics and rows of the ``estimates`` table."""
    from rlaif_audit.auditing.ppi import effective_labels, mean_estimates

    estimates = mean_estimates(target, prediction, prediction_unlabelled)
    correlation = prediction_correlation(target, prediction)
    if correlation is not None:
        result.notes.append(f"{estimand}: the judge's prediction correlates with the human label at "
                            f"{correlation:.3f} on the labelled pairs (`rlaif-audit plan win-rate --correlation`).")
    human_only = next(e for e in estimates if e.method == "human-only")
    table = result.tables.setdefault("estimates", [])
    for estimate in estimates:
        metric = estimate_metric(estimate)
        result.metrics[estimand + SUFFIXES[estimate.method]] = metric
        effective = None if estimate.method == "ai-only" else effective_labels(estimate, human_only)
        table.append(estimate_row(estimand, estimate, metric, effective))


def prediction_correlation(target: np.ndarray, prediction: np.ndarray) -> float | None:
    """Pearson correlation of the human target and the judge's prediction; None when either is constant."""
    import numpy as np

    if target.std() == 0 or prediction.std() == 0:
        return None
    return float(np.corrcoef(target, prediction)[0, 1])


def estimate_metric(estimate: MeanEstimate) -> Metric:
    """A normal 95% interval clipped to [0, 1]; Wilson at a zero-variance boundary, no interval otherwise."""
    from rlaif_audit.auditing.stats import boundary_interval, wald_metric

    n = estimate.n_labeled + estimate.n_unlabeled
    method = describe(estimate)
    if estimate.se > 0:
        metric = wald_metric(estimate.value, estimate.se, n, method)
        if metric.ci is not None:
            metric.ci = (max(0.0, metric.ci[0]), min(1.0, metric.ci[1]))
        return metric
    if estimate.value in (0.0, 1.0):
        units = estimate.n_labeled or estimate.n_unlabeled
        return Metric(estimate.value, boundary_interval(estimate.value, (0.0, 1.0), units), n,
                      method + "; zero variance: Wilson interval at the boundary")
    return Metric(estimate.value, None, n, method + "; zero variance: no interval")


def describe(estimate: MeanEstimate) -> str:
    """The method string of one estimate."""
    sizes = f"{estimate.n_labeled} human-labelled + {estimate.n_unlabeled} AI-only pairs"
    if estimate.method in ("ppi++", "ppi"):
        return f"{estimate.method.upper()} (λ = {estimate.lam:.3f}), {sizes}; normal 95% CI"
    if estimate.method == "human-only":
        return f"human labels only, {estimate.n_labeled} pairs; normal 95% CI"
    return f"AI judge only (uncorrected), {estimate.n_unlabeled} pairs; normal 95% CI"


def estimate_row(estimand: str, estimate: MeanEstimate, metric: Metric, effective: float | None) -> dict[str, Any]:
    """One row of the ``estimates`` table."""
    return {"estimand": estimand, "method": estimate.method,
            "value": estimate.value, "ci_low": None if metric.ci is None else metric.ci[0],
            "ci_high": None if metric.ci is None else metric.ci[1], "se": estimate.se, "lambda": estimate.lam,
            "n_labelled": estimate.n_labeled, "n_ai_only": estimate.n_unlabeled,
            "effective_human_labels": effective}


AUDITORS = (HumanCorrectedAuditor,)
"""The auditors this module defines, registered by the package's plugin."""
