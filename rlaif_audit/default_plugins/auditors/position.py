"""The position auditor: does the evaluator's verdict depend on which slot a response is shown in?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult

if TYPE_CHECKING:
    import numpy as np

ONE_ORDER = "no pair was judged in both orders: position effects need each pair shown both ways"
FIRST, SECOND, TIE = 0, 1, 2
MT_BENCH = ("consistent", "biased_first", "biased_second", "partial_tie", "error")


class PositionAuditor(Auditor):
    """Position bias from both orders of each pair.

    Metrics (``position.metrics.<name>``):

    * MT-Bench categories (Zheng et al. 2023), Wilson 95% CIs: ``consistent`` (same content wins both times,
      tie/tie included — Shi et al. 2024's position consistency), ``biased_first`` (first slot wins both
      times), ``biased_second``, ``partial_tie`` (a tie in exactly one order — MT-Bench has no column for it),
      each a share of the pairs with both orders parsed (Shi et al. leave a failed order out of the
      denominator; the four sum to 1); ``error``: share of the pairs judged in both orders with an order that
      failed to parse. ``tables["mt_bench"]`` holds the counts and MT-Bench's own shares of all pairs judged in
      both orders (error included, summing to 1 as in MT-Bench's Table 2).
    * ``conflict_rate`` (Wang et al. 2023): share of parsed pairs whose winner changes when swapped (Wilson).
    * ``same_slot_rate`` (RLAIF): share of pairs with decisive verdicts in both orders that pick the same
      slot both times (Wilson).
    * ``first_slot_preference``: decisive verdicts won by the first slot / all decisive verdicts
      (pair-clustered bootstrap CI); binomial and sign tests in ``tables["tests"]``.
    * ``preference_fairness`` (Shi et al. 2024, PF): (recency-preferred − primacy-preferred) / parsed pairs, in
      [−1, 1], where a pair is primacy-preferred when its slot verdicts in the two orders are first/first,
      first/tie or tie/first and recency-preferred for second/second, second/tie, tie/second; < 0 primacy (first
      slot) favoured, > 0 recency (second slot) favoured, 0 fair. Shi et al.'s rescaled
      rc·irr − pc·ipr with the extremes ±n is exactly this.
    * ``first_slot_log_odds``: mean over pairs of ½·[logit P_first(A,B) + logit P_first(B,A)] — the judge's
      prior for the first slot in log-odds (the quantity batch calibration removes); needs probabilities.
    * With human labels, AlpacaEval ties-half agreement (``1 − |choice − human share|``) on the same pairs:
      ``accuracy_first_order_only`` (order ab verdicts), ``accuracy_second_order_only``,
      ``accuracy_single_order`` (mean of the two), ``accuracy_debiased`` (order averaging),
      ``debiasing_gain`` (debiased − single order), and with ``ctx.options['batch_calibration']``
      ``accuracy_batch_calibrated`` (each order's P_first shifted by the batch's mean log-odds, Zhou et al.
      2024, then scored per order and averaged).

    Tables: ``mt_bench`` (counts), ``tests`` (binomial and sign tests), ``bias_tests`` and ``flags``
    (first_slot_preference against ½, preference_fairness against 0: bootstrap p-values, Benjamini–Hochberg
    adjusted across the report, no flag below ``stats.MIN_N``; see ``auditing.flags``), ``dropped_pairs`` (pairs
    left out for a failed order).
    """

    name = "position"
    meanings = {
        "consistent": "{value:.1%} of pairs get the same verdict in both orders (100% is no position dependence).",
        "first_slot_preference": ("The judge picks the response shown first {value:.1%} of the time (50% is no "
                                  "position bias)."),
        "conflict_rate": "{value:.1%} of pairs get contradictory decisive verdicts in the two orders.",
    }
    headline = ("consistent", "first_slot_preference", "conflict_rate")
    table_figures = {"mt_bench": "mt-bench"}
    run_summary = {"consistent": "evaluator position consistency (MT-Bench)",
                   "first_slot_preference": "evaluator first-slot preference"}
    description = "Position bias from both orders: MT-Bench table, conflict rate, first-slot preference, debiasing"
    requires = ("both_orders",)

    def audit(self, ctx: AuditContext) -> AuditResult:
        from rlaif_audit.auditing.context import has_human_labels, note_failed_orders

        status_ab, status_ba = (ctx.pairs[f"status_{o}"].to_numpy().astype(str) for o in ("ab", "ba"))
        rows = (status_ab != "missing") & (status_ba != "missing")
        if not rows.any() or not ((status_ab == "ok") & (status_ba == "ok")).any():
            return AuditResult(status="skipped", reason=ONE_ORDER)
        result = AuditResult()
        codes = slot_codes(ctx, rows)
        mt_bench_table(codes, result)
        parsed = rows.copy()
        parsed[rows] = codes["parsed"]
        note_failed_orders(ctx, parsed, result, "consistent, biased_first, biased_second, partial_tie, conflict_rate, "
                           "same_slot_rate, preference_fairness and the debiasing accuracies (counted in error; "
                           "first_slot_preference keeps the parsed order's verdict)")
        p_values = slot_preference(ctx, codes, result)
        log_odds_prior(ctx, rows, result)
        if has_human_labels(ctx):
            debiasing_accuracy(ctx, rows, result)
        else:
            result.notes.append("No human labels: agreement before/after debiasing is not measured.")
        result.notes.append(f"{int(rows.sum())} pairs judged in both orders; {int((~rows).sum())} with one order "
                            "are left out.")
        flag_bias(result, p_values)
        return result


def slot_codes(ctx: AuditContext, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Verdict codes of both orders and the per-pair categories of the MT-Bench table and of Shi et al. (2024)."""
    import numpy as np

    from rlaif_audit.records.preference import content_choice

    ab = ctx.pairs["verdict_ab"].cat.codes.to_numpy()[rows]
    ba = ctx.pairs["verdict_ba"].cat.codes.to_numpy()[rows]
    error = (ab < 0) | (ba < 0)
    leans = lambda slot: np.isin(ab, (slot, TIE)) & np.isin(ba, (slot, TIE)) & ((ab != TIE) | (ba != TIE))  # noqa: E731
    return {
        "ab": ab, "ba": ba, "error": error, "parsed": ~error,
        "consistent": ~error & (content_choice(ab, "ab") == content_choice(ba, "ba")),
        "biased_first": (ab == FIRST) & (ba == FIRST),
        "biased_second": (ab == SECOND) & (ba == SECOND),
        "partial_tie": ~error & ((ab == TIE) != (ba == TIE)),
        "primacy": leans(FIRST),  # Shi et al.'s primacy-preferred pairs: AA, AC, CA
        "recency": leans(SECOND),  # recency-preferred: BB, BC, CB
    }


def mt_bench_table(codes: dict[str, np.ndarray], result: AuditResult) -> None:
    """The MT-Bench categories, conflict rate and same-slot rate with Wilson intervals; the MT-Bench table."""
    import numpy as np

    from rlaif_audit.auditing.stats import proportion_metric

    n = len(codes["ab"])
    parsed = int(codes["parsed"].sum())
    for name in MT_BENCH:
        result.metrics[name] = proportion_metric(int(codes[name].sum()), n if name == "error" else parsed)
    result.metrics["conflict_rate"] = proportion_metric(parsed - int(codes["consistent"].sum()), parsed)
    decisive = (codes["ab"] >= 0) & (codes["ab"] != TIE) & (codes["ba"] >= 0) & (codes["ba"] != TIE)
    same_slot = int(codes["biased_first"].sum() + codes["biased_second"].sum())
    result.metrics["same_slot_rate"] = proportion_metric(same_slot, int(np.sum(decisive)))
    result.notes.append("consistent, biased_first, biased_second and partial_tie are shares of the pairs with both "
                        "orders parsed (Shi et al. 2024 leave failed judgments out), so consistent = 1 − "
                        "conflict_rate; error is the share of all pairs judged in both orders. The mt_bench table "
                        "gives MT-Bench's shares of all pairs (error included). MT-Bench's table has no column for a "
                        "tie in exactly one order; partial_tie holds those pairs.")
    result.tables["mt_bench"] = [{"category": name, "count": int(codes[name].sum()),
                                  "share": int(codes[name].sum()) / n if n else None} for name in MT_BENCH]


def slot_preference(ctx: AuditContext, codes: dict[str, np.ndarray], result: AuditResult) -> dict[str, float | None]:
    """First-slot preference and preference fairness (bootstrap), with binomial and sign tests; their p-values."""
    import numpy as np
    from scipy.stats import binomtest

    from rlaif_audit.auditing.context import option
    from rlaif_audit.auditing.stats import Columns, SumBootstrap, family_rng

    ab, ba = codes["ab"], codes["ba"]
    cols = Columns({"first_wins": (ab == FIRST).astype(float) + (ba == FIRST),
                    "decisive": np.isin(ab, (FIRST, SECOND)).astype(float) + np.isin(ba, (FIRST, SECOND)),
                    "biased_first": codes["biased_first"], "biased_second": codes["biased_second"],
                    "recency_minus_primacy": codes["recency"].astype(float) - codes["primacy"],
                    "parsed": codes["parsed"]})
    boot = SumBootstrap(cols.values, n_bootstrap=ctx.n_bootstrap, rng=family_rng(ctx.seed, "position:slot"))
    ci = option(ctx, "ci_method")
    wins, total, n_first, n_second = (int(cols.sums(boot.total, name)) for name in list(cols.slices)[:4])
    fairness = cols.ratio("recency_minus_primacy", "parsed")
    result.metrics["first_slot_preference"] = boot.metric(cols.ratio("first_wins", "decisive"), total, ci, (0.0, 1.0))
    result.metrics["preference_fairness"] = boot.metric(fairness, int(codes["parsed"].sum()), ci, (-1.0, 1.0))
    result.tables["tests"] = [
        {"test": "first-slot binomial test (H0: P(first) = 0.5)", "successes": wins, "n": total,
         "p_value": float(binomtest(wins, total, 0.5).pvalue) if total else None,
         "note": "treats judgments as independent; first_slot_preference's CI resamples pairs"},
        {"test": "sign test, biased-to-first vs biased-to-second pairs", "successes": n_first,
         "n": n_first + n_second,
         "p_value": float(binomtest(n_first, n_first + n_second, 0.5).pvalue) if n_first + n_second else None,
         "note": "one unit per pair (McNemar on the two same-slot outcomes)"},
    ]
    return {"first_slot_preference": boot.p_value(cols.ratio("first_wins", "decisive"), 0.5),
            "preference_fairness": boot.p_value(fairness, 0.0)}


def log_odds_prior(ctx: AuditContext, rows: np.ndarray, result: AuditResult) -> None:
    """The judge's first-slot prior in log-odds, from pairs with probabilities in both orders."""
    import numpy as np

    from rlaif_audit.auditing.context import option
    from rlaif_audit.auditing.stats import SumBootstrap, family_rng
    from rlaif_audit.auditing.estimators import logit

    pairs = ctx.pairs
    usable = rows & pairs["prob_ab"].to_numpy() & pairs["prob_ba"].to_numpy()
    if not usable.any() or np.isin(pairs["p_first_ab"].to_numpy()[usable], (0.0, 0.5, 1.0)).all():
        result.notes.append("No probabilities: first_slot_log_odds and batch calibration need P(first).")
        return
    prior = 0.5 * (logit(pairs["p_first_ab"].to_numpy()[usable]) + logit(pairs["p_first_ba"].to_numpy()[usable]))
    boot = SumBootstrap(prior[:, None], n_bootstrap=ctx.n_bootstrap, rng=family_rng(ctx.seed, "position:prior"))
    n = int(usable.sum())
    result.metrics["first_slot_log_odds"] = boot.metric(lambda s: s[..., 0] / n, n, option(ctx, "ci_method"))
    result.notes.append("first_slot_log_odds clips probabilities to [1e-6, 1 − 1e-6] before taking log-odds.")


def batch_calibrated_scores(ctx: AuditContext, rows: np.ndarray, human_p_a: np.ndarray) -> np.ndarray:
    """Per pair: mean over the two orders of the ties-half score of the batch-calibrated single-order choice."""
    import numpy as np

    from rlaif_audit.auditing.context import option
    from rlaif_audit.auditing.estimators import logit, sigmoid
    from rlaif_audit.records.preference import choice_codes, choice_score, ties_half_agreement

    pairs = ctx.pairs
    logits = {o: logit(pairs[f"p_first_{o}"].to_numpy()[rows]) for o in ("ab", "ba")}
    has_prob = np.concatenate([pairs[f"prob_{o}"].to_numpy()[rows] for o in ("ab", "ba")])
    stacked = np.concatenate([logits["ab"], logits["ba"]])
    prior = float(np.mean(stacked[has_prob])) if has_prob.any() else 0.0
    band = float(option(ctx, "tie_band"))
    first_ab = choice_score(choice_codes(sigmoid(logits["ab"] - prior), band))
    first_ba = choice_score(choice_codes(sigmoid(logits["ba"] - prior), band))
    return 0.5 * (ties_half_agreement(first_ab, human_p_a) + ties_half_agreement(1 - first_ba, human_p_a))


def debiasing_accuracy(ctx: AuditContext, rows: np.ndarray, result: AuditResult) -> None:
    """Ties-half agreement with humans from single orders, after order averaging, after batch calibration."""
    import numpy as np

    from rlaif_audit.auditing.context import option
    from rlaif_audit.auditing.stats import SumBootstrap, family_rng
    from rlaif_audit.records.preference import choice_codes, choice_score, ties_half_agreement

    pairs = ctx.pairs
    human = pairs["human_p_a"].to_numpy(float)
    keep = rows & np.isfinite(human) & np.isfinite(pairs["p_a"].to_numpy(float))
    human = human[keep]
    score_ab = ties_half_agreement(choice_score(pairs["verdict_ab"].cat.codes.to_numpy()[keep]), human)
    score_ba = ties_half_agreement(1 - choice_score(pairs["verdict_ba"].cat.codes.to_numpy()[keep]), human)
    debiased = choice_score(choice_codes(pairs["p_a"].to_numpy(float)[keep], float(option(ctx, "tie_band"))))
    columns = [score_ab, score_ba, ties_half_agreement(debiased, human)]
    if option(ctx, "batch_calibration"):
        columns.append(batch_calibrated_scores(ctx, keep, human))
    boot = SumBootstrap(np.column_stack(columns), n_bootstrap=ctx.n_bootstrap,
                        rng=family_rng(ctx.seed, "position:accuracy"))
    n, ci = int(keep.sum()), option(ctx, "ci_method")
    stats: dict[str, Callable[[Any], Any]] = {
        "accuracy_first_order_only": lambda s: s[..., 0] / n,
        "accuracy_second_order_only": lambda s: s[..., 1] / n,
        "accuracy_single_order": lambda s: (s[..., 0] + s[..., 1]) / (2 * n),
        "accuracy_debiased": lambda s: s[..., 2] / n,
        "debiasing_gain": lambda s: (s[..., 2] - (s[..., 0] + s[..., 1]) / 2) / n,
    }
    if len(columns) == 4:
        stats["accuracy_batch_calibrated"] = lambda s: s[..., 3] / n
    for name, stat in stats.items():
        result.metrics[name] = boot.metric(stat, n, ci, (0.0, 1.0) if name.startswith("accuracy") else None)
    result.notes.append("Agreement before/after debiasing uses AlpacaEval's ties-half score on the pairs with both "
                        "orders parsed and a human label, so all variants share one n.")


def flag_bias(result: AuditResult, tests: dict[str, float | None]) -> None:
    """Test a first-slot preference against ½ and a fairness score against 0 (bootstrap p-values, BH-adjusted)."""
    from rlaif_audit.auditing.flags import bias_test, finish_flags

    preference = result.metrics.get("first_slot_preference")
    side = "first" if preference is not None and (preference.value or 0.5) > 0.5 else "second"
    finish_flags(result, [
        bias_test("first_slot_preference", preference, 0.5, tests.get("first_slot_preference"),
                  f"position bias toward the {side} slot"),
        bias_test("preference_fairness", result.metrics.get("preference_fairness"), 0.0,
                  tests.get("preference_fairness"), "inconsistent pairs lean to one slot"),
    ])


AUDITORS = (PositionAuditor,)
"""The auditors this module defines, registered by the package's plugin."""
