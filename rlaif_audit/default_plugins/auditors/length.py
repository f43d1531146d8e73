"""The length and format auditor: does the evaluator prefer longer answers, or lists, more than humans do?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult

if TYPE_CHECKING:
    import numpy as np

NO_JUDGMENTS = "no pair has a usable judge preference"


class LengthAuditor(Auditor):
    """Length and list preference of the judge, compared with the humans on the same pairs.

    Metrics (``length.metrics.<name>``), pair-clustered bootstrap 95% CIs unless stated; the judge's
    choice is its debiased choice with a tie counting half, the humans' the share preferring a side:

    * ``longer_excess`` = ``p_prefer_longer_judge`` − ``p_prefer_longer_human`` (paired); P(prefer
      longer) as AlpacaEval: among pairs whose lengths differ by more than ``length_threshold`` (30)
      characters, the share preferring the longer response.
    * ``lists_excess`` = ``p_prefer_lists_judge`` − ``p_prefer_lists_human``: among pairs where exactly one
      response holds a Markdown list item (``audit_context.LIST_PATTERN``), the share preferring it.
    * ``length_coef``: logistic regression of the judge's decisive choice (A=1) on the human preference
      (2·share − 1) and log((len_a + 1)/(len_b + 1)); the log-length coefficient is the judge's length
      bias in log-odds per unit log length ratio, holding the human-judged quality fixed (Wald CI with
      pair-robust sandwich SE). ``quality_coef`` is the human-preference coefficient of the same fit.
      The separation is only as good as the human label as a measure of quality: noisy labels plus a
      human length preference bias ``length_coef``.
    * Without human labels only the ``_judge`` shares are reported.

    Figure ``length_curve``: mean judge P(A) choice score and mean human share per bucket of
    len_a − len_b. ``tables["bias_tests"]`` / ``tables["flags"]``: ``longer_excess``, ``lists_excess``
    (bootstrap p) and ``length_coef`` (Wald p) against 0, Benjamini–Hochberg adjusted across the report, no
    flag below ``stats.MIN_N`` pairs (``auditing.flags``); ``tables["dropped_pairs"]``: pairs left out for a
    failed order.
    """

    name = "length"
    meanings = {
        "longer_excess": ("The judge picks the longer response at a rate {value:+.1%} above the humans' rate (0 is no "
                          "length bias)."),
        "length_coef": ("At equal human-judged quality, the judge's log-odds of picking a response rise by "
                        "{value:.2f} per unit of log length ratio (0 is no length bias)."),
    }
    headline = ("longer_excess", "length_coef")
    figure_kinds = {"length_curve": "curve"}
    description = "Length and list bias of the judge vs humans (AlpacaEval P(prefer longer), regression)"
    requires = ()

    def audit(self, ctx: AuditContext) -> AuditResult:
        import numpy as np

        from rlaif_audit.auditing.context import has_human_labels, judge_preference, note_failed_orders, option
        from rlaif_audit.records.preference import choice_codes

        p_a, single_note = judge_preference(ctx)
        judge = choice_codes(p_a, float(option(ctx, "tie_band")))
        if not (judge >= 0).any():
            return AuditResult(status="skipped", reason=NO_JUDGMENTS)
        humans = has_human_labels(ctx)
        human = ctx.pairs["human_p_a"].to_numpy(dtype=float)
        rows = (judge >= 0) & (np.isfinite(human) if humans else True)
        result = AuditResult(notes=[single_note] if single_note else [])
        p_values = preference_shares(ctx, judge, human, rows, humans, result)
        if humans:
            p_values.update(length_regression(ctx, judge, human, rows, result))
        else:
            result.notes.append("No human labels: only the judge's shares are reported; the excess over humans and "
                                "the regression that separates length from quality need human labels.")
        result.figures["length_curve"] = length_curve(ctx, judge, human, rows)
        note_failed_orders(ctx, rows, result, "the length metrics")
        flag_bias(result, p_values)
        return result


def side_values(judge_score: np.ndarray, human: np.ndarray, eligible: np.ndarray, a_side: np.ndarray) -> list[Any]:
    """[eligible, judge prefers the marked side, humans prefer it] per pair (0 outside ``eligible``)."""
    import numpy as np

    judge_side = np.where(a_side, judge_score, 1 - judge_score)
    human_side = np.where(a_side, human, 1 - human)
    return [eligible, np.where(eligible, judge_side, 0.0), np.where(eligible, np.nan_to_num(human_side), 0.0)]


def preference_shares(ctx: AuditContext, judge: np.ndarray, human: np.ndarray, rows: np.ndarray, humans: bool,
                      result: AuditResult) -> dict[str, float | None]:
    """P(prefer longer) and P(prefer lists) for judge and humans, and the excess, with one bootstrap.

    The excesses lie in [−1, 1]: at ±1 with every resample agreeing they get the Wilson boundary interval, as the
    shares do. Returns the excesses' bootstrap p-values against 0.
    """
    import numpy as np

    from rlaif_audit.auditing.context import has_list, option
    from rlaif_audit.records.preference import choice_score
    from rlaif_audit.auditing.stats import SumBootstrap, family_rng

    pairs = ctx.pairs
    difference = pairs["len_a"].to_numpy(dtype=float) - pairs["len_b"].to_numpy(dtype=float)
    longer = rows & (np.abs(difference) > float(option(ctx, "length_threshold")))
    list_a, list_b = has_list(pairs["text_a"]), has_list(pairs["text_b"])
    listed = rows & (list_a != list_b)
    score = np.nan_to_num(choice_score(judge))
    values = np.column_stack(side_values(score, human, longer, difference > 0)
                             + side_values(score, human, listed, list_a)).astype(float)
    boot = SumBootstrap(values, n_bootstrap=ctx.n_bootstrap, rng=family_rng(ctx.seed, "length:shares"))
    ci = option(ctx, "ci_method")
    p_values: dict[str, float | None] = {}
    for offset, kind in ((0, "longer"), (3, "lists")):
        n = int(boot.total[offset])
        if humans:
            excess = lambda s, o=offset: (s[..., o + 1] - s[..., o + 2]) / s[..., o]  # noqa: E731
            result.metrics[f"{kind}_excess"] = boot.metric(excess, n, ci, (-1.0, 1.0))
            p_values[f"{kind}_excess"] = boot.p_value(excess, 0.0)
        result.metrics[f"p_prefer_{kind}_judge"] = boot.metric(lambda s, o=offset: s[..., o + 1] / s[..., o], n, ci,
                                                            (0.0, 1.0))
        if humans:
            result.metrics[f"p_prefer_{kind}_human"] = boot.metric(lambda s, o=offset: s[..., o + 2] / s[..., o], n, ci,
                                                                (0.0, 1.0))
    threshold = option(ctx, "length_threshold")
    result.notes.append(f"P(prefer longer) uses pairs whose lengths differ by more than {threshold} characters;"
                        " P(prefer lists) pairs where exactly one response has a list item; a judge tie "
                        "counts half; judge and human shares use the same pairs.")
    return p_values


def length_regression(ctx: AuditContext, judge: np.ndarray, human: np.ndarray, rows: np.ndarray,
                      result: AuditResult) -> dict[str, float | None]:
    """Logistic regression of the judge's decisive choice on human preference and log length ratio; its Wald p."""
    import numpy as np

    from rlaif_audit.auditing.context import log_length_ratio
    from rlaif_audit.records.preference import CHOICE_A, CHOICE_TIE
    from rlaif_audit.auditing.stats import wald_metric, wald_p_value
    from rlaif_audit.auditing.estimators import logistic_fit

    use = rows & (judge != CHOICE_TIE)
    outcome = (judge[use] == CHOICE_A).astype(float)
    if use.sum() < 10 or outcome.min() == outcome.max():
        result.notes.append("Too few decisive judge choices (or only one side chosen) for the length regression.")
        return {}
    ratio = log_length_ratio(ctx.pairs["len_a"].to_numpy()[use], ctx.pairs["len_b"].to_numpy()[use])
    features = np.column_stack([2 * human[use] - 1, ratio])
    coef, se, converged = logistic_fit(features, outcome)
    method = ("logistic regression of judge choice (A=1) on [2·human share − 1, log((len_a+1)/(len_b+1))], "
              "Wald 95% CI with pair-robust sandwich SE")
    n = int(use.sum())
    result.metrics["length_coef"] = wald_metric(float(coef[2]), float(se[2]), n, method)
    result.metrics["quality_coef"] = wald_metric(float(coef[1]), float(se[1]), n, method)
    if not converged:
        result.notes.append("The length regression did not converge (near-perfect separation: the judge almost "
                            "always follows the humans); its coefficients are unreliable.")
    return {"length_coef": wald_p_value(float(coef[2]), float(se[2]), 0.0)}


def length_curve(ctx: AuditContext, judge: np.ndarray, human: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    """Per length-difference bucket: n, mean judge choice on the P(A) scale, mean human share."""
    import numpy as np

    from rlaif_audit.auditing.context import length_buckets
    from rlaif_audit.records.preference import choice_score

    buckets, labels = length_buckets(ctx.pairs["len_a"].to_numpy(), ctx.pairs["len_b"].to_numpy())
    score = choice_score(judge)
    points = []
    for index, label in enumerate(labels):
        in_bucket = rows & (buckets == index)
        labeled = in_bucket & np.isfinite(human)
        points.append({"bucket": label, "n": int(in_bucket.sum()),
                       "judge_p_a": float(score[in_bucket].mean()) if in_bucket.any() else None,
                       "human_p_a": float(human[labeled].mean()) if labeled.any() else None,
                       "n_human": int(labeled.sum())})
    return {"x": "len_a − len_b (characters)", "y": "P(prefer A)", "points": points}


def flag_bias(result: AuditResult, p_values: dict[str, float | None]) -> None:
    """Test each excess and the length coefficient against 0 (p-values BH-adjusted, no flag below the minimum n)."""
    from rlaif_audit.auditing.flags import bias_test, finish_flags

    rows = []
    for name, what in (("longer_excess", "prefers the longer response more than humans do"),
                       ("lists_excess", "prefers the response with a list more than humans do"),
                       ("length_coef", "prefers longer responses at equal human-judged quality")):
        metric = result.metrics.get(name)
        if metric is None:
            continue
        if metric.value is not None and metric.value < 0:
            what = what.replace("prefers", "disfavours").replace("more than", "beyond")
        rows.append(bias_test(name, metric, 0.0, p_values.get(name), f"the judge {what}"))
    finish_flags(result, rows)


AUDITORS = (LengthAuditor,)
"""The auditors this module defines, registered by the package's plugin."""
