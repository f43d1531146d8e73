"""The calibration auditor: do the evaluator's probabilities match how often humans agree?"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult

if TYPE_CHECKING:
    import numpy as np

    from rlaif_audit.auditing.auditor import Metric

NO_HUMANS = "no human labels for the judged pairs: calibration is measured against human preferences"
NO_PROBABILITIES = "the judgments carry verdicts only, no probabilities (every p_first is 0, 0.5 or 1)"


class CalibrationAuditor(Auditor):
    """Calibration of the debiased P(A ≻ B) against the human share preferring A (ties half).

    Metrics (``calibration.metrics.<name>``), pair-clustered bootstrap 95% CIs unless stated:

    * ``ece_equal_width`` / ``ece_equal_mass`` (point estimates, no interval: ``ci_note`` "no valid interval"): Σ_b (n_b/N)·|mean human − mean P| over ``n_bins`` (10)
      equal-width bins on [0, 1] / equal-count bins (quantile edges), binned as sklearn's
      ``calibration_curve`` (uniform / quantile); ``mce``: the largest |mean human − mean P| over
      non-empty equal-width bins; ``brier``: mean (P − human)²; ``log_loss``: mean cross-entropy with
      the human share as (soft) target, P clipped to [eps, 1 − eps].
    * Recalibration fitted with ``cv_folds``-fold cross-validation (folds of pairs) and scored out of
      fold: ``ece_temperature`` (σ(logit P / T)), ``ece_platt`` (σ(a·logit P + c), sklearn logistic
      regression with soft labels as weights), ``ece_isotonic`` (sklearn IsotonicRegression); equal-width
      ECE of the out-of-fold probabilities, bins and folds held fixed in the bootstrap.
    * ``ece_debiased``: the debiased L2 calibration error of Kumar, Liang & Ma (2019) on equal-mass bins,
      with a Wald interval of its square (coverage measured by bench/coverage.py).
    * ``temperature``: T fitted on all pairs (T > 1: over-confident, T < 1: under-confident), Wald CI from
      the pair-robust sandwich variance of 1/T.
    * With ``ctx.options['batch_calibration']``: ``ece_batch_calibrated`` — equal-width ECE after
      removing the batch's mean log-odds from P(A).

    Figures: ``reliability_equal_width`` and ``reliability_equal_mass`` (bins with lo, hi, conf, acc,
    count). ``tables["bias_tests"]`` / ``tables["flags"]``: temperature against 1 (Wald p of 1/T,
    Benjamini–Hochberg adjusted across the report); ``tables["dropped_pairs"]``: pairs left out for a failed
    order.
    """

    name = "calibration"
    meanings = {
        "ece_equal_width": ("The judge's stated confidence is off from its observed accuracy by {value:.3f} on "
                            "average (expected calibration error; 0 is calibrated)."),
        "ece_equal_mass": ("Equal-mass-bin calibration error: the judge's confidence is off by {value:.3f} on "
                           "average (0 is calibrated)."),
        "brier": "Mean squared error of the judge's P(A) against the human choice: {value:.3f} (0.25 is a constant ½).",
    }
    point_estimates = ("ece_equal_width", "ece_equal_mass", "mce", "ece_temperature", "ece_platt", "ece_isotonic",
                       "ece_batch_calibrated")
    inferential = ("ece_debiased", "brier", "log_loss", "temperature")
    headline = ("ece_equal_width", "ece_equal_mass", "brier")
    figure_kinds = {"reliability_equal_width": "reliability", "reliability_equal_mass": "reliability"}
    description = "Calibration of the judge's debiased probability vs humans: ECE, MCE, Brier, recalibration"
    requires = ("human", "probabilities")

    def audit(self, ctx: AuditContext) -> AuditResult:
        import numpy as np

        from rlaif_audit.auditing.context import has_human_labels, judge_preference, note_failed_orders

        if not has_human_labels(ctx):
            return AuditResult(status="skipped", reason=NO_HUMANS)
        if not has_probabilities(ctx):
            return AuditResult(status="skipped", reason=NO_PROBABILITIES)
        p_a, single_note = judge_preference(ctx)
        human = ctx.pairs["human_p_a"].to_numpy(dtype=float)
        rows = np.isfinite(p_a) & np.isfinite(human)
        result = AuditResult(notes=[single_note] if single_note else [])
        calibrate(ctx, p_a[rows], human[rows], result)
        note_failed_orders(ctx, rows, result, "the calibration metrics")
        return result


def has_probabilities(ctx: AuditContext) -> bool:
    """True when some parsed judgment has a probability other than 0, ½ or 1."""
    import numpy as np

    values = []
    for order in ("ab", "ba"):
        given = ctx.pairs[f"prob_{order}"].to_numpy()
        values.append(ctx.pairs[f"p_first_{order}"].to_numpy(dtype=float)[given])
    stacked = np.concatenate(values)
    return bool(len(stacked)) and not np.isin(stacked, (0.0, 0.5, 1.0)).all()


def bin_ids(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index per probability, as sklearn's calibration_curve assigns it (right-closed inner edges)."""
    import numpy as np

    return np.searchsorted(edges[1:-1], p)


def bin_edges(p: np.ndarray, n_bins: int, scheme: str) -> np.ndarray:
    """Equal-width edges on [0, 1], or equal-mass edges at the quantiles of ``p``."""
    import numpy as np

    if scheme == "equal_mass":
        return np.percentile(p, np.linspace(0, 100, n_bins + 1))
    return np.linspace(0.0, 1.0, n_bins + 1)


def reliability(p: np.ndarray, human: np.ndarray, edges: np.ndarray, scheme: str) -> dict[str, Any]:
    """Reliability-diagram data: non-empty bins with lo, hi, mean confidence, mean human share, count."""
    import numpy as np

    ids = bin_ids(p, edges)
    n_bins = len(edges) - 1
    count = np.bincount(ids, minlength=n_bins)
    conf = np.bincount(ids, weights=p, minlength=n_bins)
    acc = np.bincount(ids, weights=human, minlength=n_bins)
    bins = [{"lo": float(edges[b]), "hi": float(edges[b + 1]), "conf": float(conf[b] / count[b]),
             "acc": float(acc[b] / count[b]), "count": int(count[b])} for b in range(n_bins) if count[b]]
    return {"scheme": scheme, "x": "mean debiased P(A) in bin", "y": "mean human share preferring A", "bins": bins}


def out_of_fold(ctx: AuditContext, p: np.ndarray, human: np.ndarray) -> dict[str, np.ndarray]:
    """Temperature, Platt and isotonic recalibrations, each fitted on k−1 folds and applied to the held-out fold."""
    import numpy as np

    from rlaif_audit.auditing.context import option
    from rlaif_audit.auditing.stats import family_rng

    folds = int(option(ctx, "cv_folds"))
    assignment = family_rng(ctx.seed, "calibration:folds").permutation(len(p)) % folds
    out = {name: np.empty(len(p)) for name in ("temperature", "platt", "isotonic")}
    for fold in range(folds):
        test = assignment == fold
        train = ~test
        for name, fit in RECALIBRATORS.items():
            out[name][test] = fit(p[train], human[train])(p[test])
    return out


def fit_temperature(p: np.ndarray, human: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """σ(θ·logit P) with θ = 1/T fitted by maximum likelihood."""
    from rlaif_audit.auditing.estimators import fit_inverse_temperature, logit, sigmoid

    theta, _ = fit_inverse_temperature(logit(p), human)
    return lambda q: sigmoid(theta * logit(q))


def fit_platt(p: np.ndarray, human: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """σ(a·logit P + c) fitted by maximum likelihood with the human share as soft target."""
    from rlaif_audit.auditing.estimators import logistic_fit, logit, sigmoid

    coef, _, _ = logistic_fit(logit(p)[:, None], human)
    return lambda q: sigmoid(coef[0] + coef[1] * logit(q))


def fit_isotonic(p: np.ndarray, human: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A monotone step function of P (sklearn IsotonicRegression, clipped to [0, 1])."""
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, human)
    return model.predict


RECALIBRATORS = {"temperature": fit_temperature, "platt": fit_platt, "isotonic": fit_isotonic}


def batch_calibrated(p: np.ndarray) -> np.ndarray:
    """P(A) with the batch's mean log-odds removed."""
    from rlaif_audit.auditing.estimators import logit, sigmoid

    z = logit(p)
    return sigmoid(z - z.mean())


def ece_stat(n_bins: int) -> Callable[[np.ndarray], np.ndarray]:
    """ECE from per-bin sums of [1, human − P] (columns ``2·bin``, ``2·bin + 1``)."""
    import numpy as np

    def stat(sums: np.ndarray) -> np.ndarray:
        return np.abs(sums[..., 1::2]).sum(axis=-1) / sums[..., 0::2].sum(axis=-1)

    return stat


def mce_stat(n_bins: int) -> Callable[[np.ndarray], np.ndarray]:
    """MCE (largest bin gap over non-empty bins) from per-bin sums of [1, human − P]."""
    import numpy as np

    def stat(sums: np.ndarray) -> np.ndarray:
        count = sums[..., 0::2]
        gap = np.abs(sums[..., 1::2]) / np.where(count > 0, count, 1)
        return np.where(count > 0, gap, -np.inf).max(axis=-1)

    return stat


def proper_scores(p: np.ndarray, human: np.ndarray) -> np.ndarray:
    """Per-pair squared error and cross-entropy (P clipped as sklearn's log_loss does)."""
    import numpy as np

    eps = np.finfo(float).eps
    clipped = np.clip(p, eps, 1 - eps)
    cross_entropy = -(human * np.log(clipped) + (1 - human) * np.log1p(-clipped))
    return np.column_stack([(p - human) ** 2, cross_entropy])


def binnings(ctx: AuditContext, p: np.ndarray, human: np.ndarray, n_bins: int,
             result: AuditResult) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(probabilities, bin ids) per scheme: raw equal-width/equal-mass, recalibrated, batch-calibrated."""
    from rlaif_audit.auditing.context import option

    schemes = {name: (p, bin_ids(p, bin_edges(p, n_bins, name))) for name in ("equal_width", "equal_mass")}
    if len(p) >= 2 * int(option(ctx, "cv_folds")):
        for name, probs in out_of_fold(ctx, p, human).items():
            schemes[name] = (probs, bin_ids(probs, bin_edges(probs, n_bins, "equal_width")))
    else:
        result.notes.append(f"Only {len(p)} pairs: too few for {option(ctx, 'cv_folds')}-fold recalibration.")
    if option(ctx, "batch_calibration"):
        probs = batch_calibrated(p)
        schemes["batch_calibrated"] = (probs, bin_ids(probs, bin_edges(probs, n_bins, "equal_width")))
    return schemes


def binned_gap_sums(ids: np.ndarray, gaps: np.ndarray, n_bins: int) -> np.ndarray:
    """Per-bin sums of [1, human − P], interleaved (columns ``2·bin``, ``2·bin + 1``) as ``ece_stat`` reads them."""
    import numpy as np

    return np.column_stack([np.bincount(ids, minlength=n_bins).astype(float),
                            np.bincount(ids, weights=gaps, minlength=n_bins)]).ravel()


def debiased_ece(p: np.ndarray, human: np.ndarray, n_bins: int) -> Metric:
    """Debiased L2 calibration error on equal-mass bins (Kumar, Liang & Ma 2019) with its 95% interval.

    ``sqrt(max(0, T))`` with ``T = Σ_b (n_b/N)·(d̄_b² − s_b²/n_b)``, d = human − P: d̄_b² overestimates the
    squared bin gap by Var(d̄_b), estimated without bias by s_b²/n_b. The interval is the Wald interval of T
    (``stats.weighted_squared_means``) mapped through ``sqrt(max(0, ·))``; bench/coverage.py measures its
    coverage of the population value (docs/audit.md).
    """
    import numpy as np

    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.auditing.stats import Z95, marked, weighted_squared_means

    ids = bin_ids(p, bin_edges(p, n_bins, "equal_mass"))
    estimate, variance = weighted_squared_means(ids, human - p, n_bins)
    root = lambda x: float(np.sqrt(max(0.0, x)))  # noqa: E731
    half = Z95 * float(np.sqrt(variance))
    method = (f"debiased L2 calibration error, {n_bins} equal-mass bins (Kumar, Liang & Ma 2019); Wald 95% CI of "
              "the squared error, square-rooted")
    return marked(Metric(root(estimate), (root(estimate - half), root(estimate + half)), len(p), method))


def point_metric(value: float, n: int, method: str) -> Metric:
    """A calibration error reported without an interval (no valid one is known)."""
    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.auditing.stats import NO_VALID_INTERVAL

    return Metric(value if math.isfinite(value) else None, None, n, method, NO_VALID_INTERVAL)


def calibrate(ctx: AuditContext, p: np.ndarray, human: np.ndarray, result: AuditResult) -> None:
    """All calibration metrics, figures, the temperature and its flag.

    ECE and MCE are point estimates without an interval: the plug-in ECE is biased upward and its bootstrap
    interval does not cover the population ECE (coverage 0.00 for a calibrated judge at n = 400, issue 9);
    Brier score, log loss and the temperature carry the inference.
    """
    import numpy as np

    from rlaif_audit.auditing.context import option
    from rlaif_audit.auditing.stats import SumBootstrap, family_rng, row_codes

    n, n_bins, ci = len(p), int(option(ctx, "n_bins")), option(ctx, "ci_method")
    for name in ("equal_width", "equal_mass"):
        result.figures[f"reliability_{name}"] = reliability(p, human, bin_edges(p, n_bins, name), name)
    human_code = row_codes(human[:, None], limit=n)[0]
    for name, (probs, ids) in binnings(ctx, p, human, n_bins, result).items():
        sums = binned_gap_sums(ids, human - probs, n_bins)
        result.metrics["ece_" + name] = point_metric(float(ece_stat(n_bins)(sums)), n, f"plug-in ECE, {n_bins} bins")
        if name == "equal_width":
            result.metrics["mce"] = point_metric(float(mce_stat(n_bins)(sums)), n, f"plug-in MCE, {n_bins} bins")
    result.metrics["ece_debiased"] = debiased_ece(p, human, n_bins)
    fine = np.minimum((p * 100).astype(int), 99)
    boot = SumBootstrap(proper_scores(p, human), n_bootstrap=ctx.n_bootstrap,
                        rng=family_rng(ctx.seed, "calibration:scores"), strata=fine * (n + 1) + human_code,
                        discrete=False)
    result.metrics["brier"] = boot.metric(lambda s: s[..., 0] / n, n, ci)
    result.metrics["log_loss"] = boot.metric(lambda s: s[..., 1] / n, n, ci)
    temperature_metric(p, human, result)
    result.notes += calibration_notes(ctx, n_bins)


def temperature_metric(p: np.ndarray, human: np.ndarray, result: AuditResult) -> None:
    """T = 1/θ fitted on all pairs, its CI from the sandwich SE of θ, and the over/under-confidence test."""
    from rlaif_audit.auditing.auditor import Metric
    from rlaif_audit.auditing.flags import bias_test, finish_flags
    from rlaif_audit.auditing.stats import Z95, marked, wald_p_value
    from rlaif_audit.auditing.estimators import fit_inverse_temperature, logit

    theta, se = fit_inverse_temperature(logit(p), human)
    method = "maximum likelihood; 95% CI inverted from the Wald CI of 1/T with pair-robust (sandwich) SE"
    low, high = theta - Z95 * se, theta + Z95 * se
    ci = (1 / high, 1 / low if low > 0 else float("inf")) if theta > 0 and high > 0 else None
    result.metrics["temperature"] = marked(Metric(1 / theta if theta > 0 else None, ci, len(p), method))
    metric = result.metrics["temperature"]
    if not theta > 0:
        result.notes.append(f"The fitted inverse temperature is {theta:.3f} ≤ 0: the judge's probabilities point "
                            "away from the human preference, so no temperature can calibrate them.")
    elif ci is not None and not math.isfinite(ci[1]):
        result.notes.append("The temperature's upper bound is unbounded: the CI of 1/T reaches 0.")
    kind = "over-confident" if (metric.value or 1.0) > 1 else "under-confident"
    finish_flags(result, [bias_test("temperature", metric, 1.0, wald_p_value(theta, se, 1.0),
                                    f"the judge is {kind} (recalibration temperature ≠ 1)")])


def calibration_notes(ctx: AuditContext, n_bins: int) -> list[str]:
    """Method notes: bins, target, folds, interval method."""
    from rlaif_audit.auditing.context import option

    return [
        f"Calibration target: the share of annotators preferring A (ties half); {n_bins} bins, equal-width bins "
        "right-closed as sklearn's calibration_curve; equal-mass edges at quantiles of P (duplicate edges leave "
        "empty bins, which are skipped).",
        f"Recalibrations are fitted with {option(ctx, 'cv_folds')}-fold cross-validation over pairs and scored out "
        "of fold; their bootstrap CIs hold the fitted maps fixed (they do not include refitting noise).",
        "ECE and MCE are reported without an interval (ci_note 'no valid interval'): the plug-in ECE is biased "
        "upward (a perfectly calibrated judge shows ECE > 0) and its bootstrap interval does not cover the population "
        "ECE. ece_debiased (Kumar et al. 2019, L2 on equal-mass bins) removes the bias of the squared bin gaps and "
        "carries an interval; with Brier score, log loss and the temperature it is an inferential calibration metric.",
    ]


AUDITORS = (CalibrationAuditor,)
"""The auditors this module defines, registered by the package's plugin."""
