"""The agreement auditor: how often the evaluator's debiased choice matches the humans, and what to review."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult
from rlaif_audit.records.preference import CHOICE_NAMES

if TYPE_CHECKING:
    import numpy as np

NO_HUMANS = "no human labels for the judged pairs: agreement needs human preferences"
NO_USABLE = "no labeled pair has a usable judgment in both orders (every one failed or is missing)"


class AgreementAuditor(Auditor):
    """Agreement of the evaluator's position-debiased choice with human labels.

    Metrics (``agreement.metrics.<name>``), each with a pair-clustered bootstrap 95% CI and n:

    * ``accuracy_without_ties`` — MT-Bench "without ties": pairs where the judge or the human majority says
      tie are dropped; share of the rest where the choices match.
    * ``accuracy_with_ties`` — MT-Bench "with ties": exact match over a/b/tie on every pair.
    * ``accuracy_ties_half`` — ties half: ``1 − |judge − human|`` with the judge's choice on the P(A) scale
      (a=1, tie=½, b=0) and the human *share* preferring A (ties half) as target. With several annotators this
      is not AlpacaEval's number (AlpacaEval scores against the annotators' mode): ``--protocol alpaca-eval``.
    * ``cohen_kappa`` — κ between judge choice and human majority (3 categories).
    * With several annotators on some pairs: ``krippendorff_alpha`` (nominal, humans only),
      ``human_ceiling`` (each annotator vs the majority of the others, leave-one-out; a split majority
      gives fractional credit instead of a fixed tie-break), ``judge_accuracy_loo`` (the judge against the
      same leave-one-out majorities) and ``ceiling_fraction`` = judge_accuracy_loo / human_ceiling.
    * With ``ctx.options['protocol']`` other than ``rlaif-audit``: that protocol's metrics
      (``alpaca_eval_*``, ``mt_bench_*``, ``judgebench_*``; see :mod:`rlaif_audit.auditing.protocols`), the
      same bootstrap, and its headline metrics added to the report's headline.
    * With ``ctx.compare``: ``accuracy_difference`` (this judge − the other, exact match, paired) and a
      McNemar exact test in ``tables["mcnemar"]``.

    Tables: ``breakdown`` (by each metadata column with 2..``breakdown_max_levels`` levels and by length
    difference bucket), ``confident_disagreements``, ``review_queue`` (rows pair_id, context, a, b, p_a,
    reason, rank, …: pairs whose two orders disagree or whose debiased P(A) is within ``review_margin`` of
    ½, or whose judgment failed; most uncertain first; cut to ``review_budget``), ``dropped_pairs`` (pairs left
    out for a failed order). The judge's choice follows the two-order rule ``records.preference.pair_p_a``.
    Options: ``tie_band`` (judge tie when |P(A) − ½| ≤ band, default 0), ``review_budget`` (50),
    ``review_margin`` (0.1), ``top_disagreements`` (20), ``breakdown_max_levels`` (20), ``ci_method``
    (``percentile`` or ``bca``).

    ``requires`` is empty on purpose: without human labels the result is ``skipped`` (with the reason) but
    still carries the review queue, which is how unlabeled pairs reach human labelers.
    """

    name = "agreement"
    meanings = {
        "accuracy_without_ties": ("The judge agrees with the human choice on {value:.1%} of the pairs where both "
                                  "decided (50% is chance)."),
        "cohen_kappa": ("Chance-corrected agreement with humans is {value:.2f} (0 is chance level, 1 is perfect "
                        "agreement)."),
    }
    headline = ("accuracy_without_ties", "cohen_kappa", "ceiling_fraction")
    review_table = "review_queue"
    description = "Agreement of the debiased judge with human labels (accuracy, κ, α, human ceiling, review queue)"
    requires = ()

    def audit(self, ctx: AuditContext) -> AuditResult:
        from rlaif_audit.auditing.context import has_human_labels, judge_preference

        queue = review_queue(ctx)
        if not has_human_labels(ctx):
            return AuditResult(status="skipped", reason=NO_HUMANS, tables={"review_queue": queue},
                               notes=["The review queue is still produced: it needs no human labels."])
        p_a, single_note = judge_preference(ctx)
        if not usable_rows(ctx, p_a).any():
            return AuditResult(status="skipped", reason=NO_USABLE, tables={"review_queue": queue})
        result = AuditResult(tables={"review_queue": queue})
        result.notes += [n for n in [single_note] if n] + method_notes(ctx)
        agreement_metrics(ctx, p_a, result)
        protocol_metrics(ctx, result)
        result.tables["breakdown"] = breakdown_rows(ctx, p_a)
        result.tables["confident_disagreements"] = confident_disagreements(ctx, p_a)
        if ctx.compare is not None:
            compare_evaluators(ctx, p_a, result)
        return result


def method_notes(ctx: AuditContext) -> list[str]:
    """How ties, choices and intervals are defined, and which protocol is used."""
    from rlaif_audit.auditing.context import option
    from rlaif_audit.auditing.protocols import DEFAULT_PROTOCOL, PROTOCOLS

    protocol = PROTOCOLS[str(ctx.options.get("protocol") or DEFAULT_PROTOCOL)]

    from rlaif_audit.records.preference import TWO_ORDER_RULE

    return [
        f"{TWO_ORDER_RULE} tie_band = {option(ctx, 'tie_band')}. Human choice: the annotators' majority (tie at an "
        "even split).",
        "accuracy_without_ties drops pairs where either side says tie (MT-Bench); accuracy_with_ties counts tie as "
        "a third category; accuracy_ties_half gives a tie half credit against the human share (AlpacaEval's "
        "protocol scores against the annotators' mode: --protocol alpaca-eval).",
        f"Protocol: {protocol.name} ({protocol.source}).",
        f"Intervals: pair-clustered bootstrap ({option(ctx, 'ci_method')}), B = {ctx.n_bootstrap}, seed {ctx.seed}.",
    ]


# --------------------------------------------------------------------------------------------- agreement stats


def per_pair_values(judge: np.ndarray, human: np.ndarray, human_p_a: np.ndarray) -> dict[str, np.ndarray]:
    """Per pair: decisive (neither side a tie), correct without ties, correct 3-way, tie-half score, 3×3 confusion."""
    import numpy as np

    from rlaif_audit.records.preference import CHOICE_TIE, choice_score, ties_half_agreement

    decisive = (judge != CHOICE_TIE) & (human != CHOICE_TIE)
    confusion = (judge[:, None, None] == np.arange(3)[None, :, None]) & (human[:, None, None] == np.arange(3))
    return {"decisive": decisive, "correct_no_ties": decisive & (judge == human), "correct_3way": judge == human,
            "score_ties_half": ties_half_agreement(choice_score(judge), human_p_a),
            "confusion": confusion.reshape(len(judge), 9)}


def leave_one_out(counts: np.ndarray, judge: np.ndarray) -> dict[str, np.ndarray]:
    """Per pair: annotators' and the judge's agreement credits against leave-one-out majorities, and annotators.

    For each annotator, the others' majority is the set of most frequent labels among the others; a match
    earns ``1 / size_of_that_set`` (a split earns fractional credit rather than an arbitrary tie-break).
    Only pairs with at least two annotators contribute.
    """
    import numpy as np

    n_pairs = len(counts)
    human_credit = np.zeros(n_pairs)
    judge_credit = np.zeros(n_pairs)
    m = counts.sum(axis=1)
    eligible = m >= 2
    for left_out in range(3):
        others = counts - np.eye(3)[left_out]
        modes = others == others.max(axis=1, keepdims=True)
        n_modes = modes.sum(axis=1)
        weight = np.where(eligible, counts[:, left_out], 0.0)
        human_credit += weight * modes[:, left_out] / n_modes
        judge_hit = np.take_along_axis(modes, np.clip(judge, 0, 2)[:, None], axis=1)[:, 0] & (judge >= 0)
        judge_credit += weight * judge_hit / n_modes
    total = np.where(eligible, m, 0.0)
    return {"human_credit": human_credit, "judge_credit": judge_credit, "annotators": total}


def usable_rows(ctx: AuditContext, p_a: np.ndarray) -> np.ndarray:
    """The pairs with both a judge choice (at ``tie_band``) and a human choice: the rows agreement is measured on."""
    from rlaif_audit.auditing.context import human_choice, option
    from rlaif_audit.records.preference import choice_codes

    return (choice_codes(p_a, float(option(ctx, "tie_band"))) >= 0) & (human_choice(ctx) >= 0)


def agreement_metrics(ctx: AuditContext, p_a: np.ndarray, result: AuditResult) -> None:
    """Accuracy, κ, α and the human ceiling with one shared bootstrap."""

    from rlaif_audit.auditing.context import human_choice, note_failed_orders, option
    from rlaif_audit.records.preference import choice_codes
    from rlaif_audit.auditing.stats import SumBootstrap
    from rlaif_audit.auditing.estimators import alpha_from_coincidence, coincidence_rows, cohen_kappa_from_confusion
    from rlaif_audit.auditing.stats import Columns, family_rng

    judge = choice_codes(p_a, float(option(ctx, "tie_band")))
    human = human_choice(ctx)
    rows = usable_rows(ctx, p_a)
    counts = ctx.pairs[["human_n_a", "human_n_b", "human_n_tie"]].to_numpy(dtype=float)[rows]
    cols = Columns({**per_pair_values(judge[rows], human[rows], ctx.pairs["human_p_a"].to_numpy(float)[rows]),
                    "coincidence": coincidence_rows(counts), **leave_one_out(counts, judge[rows])})
    boot = SumBootstrap(cols.values, n_bootstrap=ctx.n_bootstrap, rng=family_rng(ctx.seed, "agreement"))
    ci = option(ctx, "ci_method")
    n = int(rows.sum())
    block = cols.sums
    stats: dict[str, tuple[Callable[[Any], Any], int]] = {
        "accuracy_without_ties": (cols.ratio("correct_no_ties", "decisive"), int(block(boot.total, "decisive"))),
        "accuracy_with_ties": (lambda s: block(s, "correct_3way") / n, n),
        "accuracy_ties_half": (lambda s: block(s, "score_ties_half") / n, n),
        "cohen_kappa": (lambda s: cohen_kappa_from_confusion(block(s, "confusion"), 3), n),
    }
    multi = int((counts.sum(axis=1) >= 2).sum())
    if multi:
        human_ceiling, judge_loo = cols.ratio("human_credit", "annotators"), cols.ratio("judge_credit", "annotators")
        stats.update({
            "krippendorff_alpha": (lambda s: alpha_from_coincidence(block(s, "coincidence"), 3), multi),
            "human_ceiling": (human_ceiling, multi),
            "judge_accuracy_loo": (judge_loo, multi),
            "ceiling_fraction": (lambda s: judge_loo(s) / human_ceiling(s), multi),
        })
        result.notes.append(
            f"Human ceiling on the {multi} pairs with several annotators: each annotator against the majority of the "
            "others (leave-one-out); when the others split, a match earns 1/(number of tied labels). AlpacaEval "
            "resolves a 2–2 split to output_2, which biases its ceiling; this avoids that. The judge is scored "
            "against the same leave-one-out majorities (judge_accuracy_loo), so ceiling_fraction compares like "
            "with like.")
    else:
        result.notes.append("One annotator per pair: Krippendorff's α and the human ceiling need several.")
    for name, (stat, size) in stats.items():
        result.metrics[name] = boot.metric(stat, size, ci, (0.0, 1.0) if name.startswith("accuracy") else None)
    if n < len(p_a):
        result.notes.append(f"{len(p_a) - n} judged pair(s) lack a usable judge choice or human label and are "
                            "left out.")
    note_failed_orders(ctx, rows, result, "the agreement metrics")


def protocol_metrics(ctx: AuditContext, result: AuditResult) -> None:
    """The chosen protocol's metrics (ratios of per-pair totals) with a pair-clustered bootstrap, notes, tables."""
    import numpy as np

    from rlaif_audit.auditing.context import option
    from rlaif_audit.auditing.protocols import protocol_scores
    from rlaif_audit.auditing.stats import Columns, SumBootstrap, family_rng
    from rlaif_audit.reporting.report import HeadlineRow

    scores = protocol_scores(ctx)
    if scores is None:
        return
    result.notes += scores.notes
    result.tables.update(scores.tables)
    if not scores.ratios:
        return
    blocks = {f"{name}:{part}": values for name, pair in scores.ratios.items() for part, values in zip("nd", pair)}
    used = np.column_stack([pair[1] for pair in scores.ratios.values()]).sum(axis=1) > 0
    cols = Columns({key: values[used] for key, values in blocks.items()})
    boot = SumBootstrap(cols.values, n_bootstrap=ctx.n_bootstrap, rng=family_rng(ctx.seed, "protocol"))
    for name in scores.ratios:
        size = int(round(float(cols.sums(boot.total, f"{name}:d"))))
        result.metrics[name] = boot.metric(cols.ratio(f"{name}:n", f"{name}:d"), size, option(ctx, "ci_method"),
                                           (0.0, 1.0))
    result.headline += [HeadlineRow.of("agreement", name, result.metrics[name]) for name in scores.headline
                        if name in result.metrics and result.metrics[name].value is not None]


# --------------------------------------------------------------------------------------------------- tables


def breakdown_columns(ctx: AuditContext) -> list[tuple[str, np.ndarray, list[str]]]:
    """(name, level index per pair, level labels) for each metadata column worth breaking down and length."""
    import numpy as np
    import pandas as pd

    from rlaif_audit.auditing.context import META_PREFIX, length_buckets, option

    max_levels = int(option(ctx, "breakdown_max_levels"))
    out = []
    for column in ctx.pairs.columns:
        if not (column.startswith(META_PREFIX) or column in ("generator_a", "generator_b")):
            continue
        try:
            codes, levels = pd.factorize(ctx.pairs[column], sort=True)
        except TypeError:  # unhashable metadata such as lists
            continue
        if 2 <= len(levels) <= max_levels:
            out.append((column.removeprefix(META_PREFIX), codes, [str(level) for level in levels]))
    buckets, labels = length_buckets(ctx.pairs["len_a"].to_numpy(), ctx.pairs["len_b"].to_numpy())
    out.append(("length_difference_chars", buckets, labels))
    return [(name, np.asarray(codes), labels) for name, codes, labels in out]


def breakdown_rows(ctx: AuditContext, p_a: np.ndarray) -> list[dict[str, Any]]:
    """Accuracy (without ties, ties half) per level of each breakdown column, with bootstrap CIs."""
    import numpy as np

    from rlaif_audit.auditing.context import human_choice, option
    from rlaif_audit.records.preference import choice_codes
    from rlaif_audit.auditing.stats import Columns, SumBootstrap, family_rng

    judge = choice_codes(p_a, float(option(ctx, "tie_band")))
    human = human_choice(ctx)
    usable = (judge >= 0) & (human >= 0)
    per_pair = per_pair_values(judge[usable], human[usable], ctx.pairs["human_p_a"].to_numpy(float)[usable])
    cols = Columns({name: per_pair[name] for name in ("decisive", "correct_no_ties", "score_ties_half")}
                   | {"pairs": np.ones(int(usable.sum()))})
    rows, ci = [], option(ctx, "ci_method")
    for name, codes, labels in breakdown_columns(ctx):
        level = codes[usable]
        known = level >= 0  # a missing metadata value has no level
        boot = SumBootstrap(cols.values[known], n_bootstrap=ctx.n_bootstrap, groups=level[known],
                            n_groups=len(labels), rng=family_rng(ctx.seed, f"breakdown:{name}"))
        for index, label in enumerate(labels):
            without = boot.metric(cols.ratio("correct_no_ties", "decisive", index),
                                  int(cols.sums(boot.total, "decisive", index)), ci)
            half = boot.metric(cols.ratio("score_ties_half", "pairs", index), int(cols.sums(boot.total, "pairs", index)),
                               ci)
            rows.append({"by": name, "level": label, "n": half.n, "accuracy_without_ties": without.value,
                         "ci_without_ties": without.ci, "n_without_ties": without.n,
                         "accuracy_ties_half": half.value, "ci_ties_half": half.ci})
    return rows


def _excerpt(text: Any, limit: int = 300) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + "…"


def confident_disagreements(ctx: AuditContext, p_a: np.ndarray) -> list[dict[str, Any]]:
    """Decisive judge choices opposite to a decisive human majority, most confident judge first."""
    import numpy as np

    from rlaif_audit.auditing.context import human_choice, option
    from rlaif_audit.records.preference import CHOICE_TIE, choice_codes

    judge = choice_codes(p_a, float(option(ctx, "tie_band")))
    human = human_choice(ctx)
    wrong = np.flatnonzero((judge >= 0) & (human >= 0) & (judge != CHOICE_TIE) & (human != CHOICE_TIE)
                           & (judge != human))
    confidence = np.abs(p_a[wrong] - 0.5)
    ids = id_ranks(ctx.pairs["pair_id"].to_numpy()[wrong])
    top = wrong[np.lexsort((ids, -confidence))][: int(option(ctx, "top_disagreements"))]
    pairs = ctx.pairs
    return [{"pair_id": pairs["pair_id"].iat[i], "p_a": float(p_a[i]), "p_first_ab": _num(pairs["p_first_ab"].iat[i]),
             "p_first_ba": _num(pairs["p_first_ba"].iat[i]), "human_p_a": float(pairs["human_p_a"].iat[i]),
             "n_annotators": int(pairs["n_annotators"].iat[i]), "judge_choice": CHOICE_NAMES[judge[i]],
             "human_choice": CHOICE_NAMES[human[i]], "a": _excerpt(pairs["text_a"].iat[i]),
             "b": _excerpt(pairs["text_b"].iat[i])} for i in top]


def id_ranks(pair_ids: np.ndarray) -> np.ndarray:
    """Integer sort keys of pair ids (their rank in sorted order), for ``np.lexsort``."""
    import pandas as pd

    return pd.factorize(pd.Series(pair_ids, dtype=object).astype(str), sort=True)[0]


def _num(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def _winner(verdict: Any, order: str) -> str | None:
    """The content (a/b/tie) a slot verdict picks in one order."""
    if verdict is None or verdict != verdict:
        return None
    if verdict == "tie":
        return "tie"
    first_is_a = order == "ab"
    return "a" if (verdict == "first") == first_is_a else "b"


def review_queue(ctx: AuditContext) -> list[dict[str, Any]]:
    """Pairs the evaluator is least sure of, most uncertain first, cut to the review budget.

    Candidates: an order failed or is missing, the two orders pick different winners, or the debiased
    P(A) is within ``review_margin`` of ½ (the single-order P(A) when no pair was judged both ways). Uncertainty = 1 − 2·|P(A) − ½| (1 for a failed/missing order);
    ties in uncertainty put order conflicts first, then pair id.
    """
    import numpy as np

    from rlaif_audit.auditing.context import judge_preference, option
    from rlaif_audit.records.preference import content_choice

    pairs = ctx.pairs
    p_a, single_order = judge_preference(ctx)
    winner_ab = content_choice(pairs["verdict_ab"].cat.codes.to_numpy(), "ab")
    winner_ba = content_choice(pairs["verdict_ba"].cat.codes.to_numpy(), "ba")
    conflict = (winner_ab >= 0) & (winner_ba >= 0) & (winner_ab != winner_ba)
    incomplete = ~np.isfinite(p_a)
    uncertainty = np.where(incomplete, 1.0, 1.0 - 2.0 * np.abs(p_a - 0.5))
    near = uncertainty >= 1.0 - 2.0 * float(option(ctx, "review_margin"))
    candidates = np.flatnonzero(conflict | incomplete | near)
    order = np.lexsort((id_ranks(pairs["pair_id"].to_numpy()[candidates]), ~conflict[candidates],
                        -uncertainty[candidates]))
    chosen = candidates[order][: int(option(ctx, "review_budget"))]
    return [_queue_row(ctx, int(i), rank, bool(conflict[i]), float(uncertainty[i]), _num(p_a[i]), single_order)
            for rank, i in enumerate(chosen, start=1)]


def _queue_row(ctx: AuditContext, i: int, rank: int, conflict: bool, uncertainty: float, p_a: float | None,
               single_order: str | None) -> dict[str, Any]:
    pairs = ctx.pairs
    if p_a is None:
        missing = [o for o in ("ab", "ba") if pairs[f"status_{o}"].iat[i] != "ok"]
        statuses = ", ".join(str(pairs[f"status_{o}"].iat[i]) for o in missing)
        reason = f"no usable judgment in order {' and '.join(missing)} ({statuses})"
    elif conflict:
        reason = (f"orders disagree: order ab picks {_winner(pairs['verdict_ab'].iat[i], 'ab')}, order ba picks "
                  f"{_winner(pairs['verdict_ba'].iat[i], 'ba')}; debiased P(A) = {p_a:.3f}")
    elif single_order:
        reason = f"P(A) = {p_a:.3f} is near 0.5 (one order judged)"
    else:
        reason = f"debiased P(A) = {p_a:.3f} is near 0.5"
    context = pairs["context"].iat[i] if "context" in pairs.columns else None
    return {"rank": rank, "pair_id": pairs["pair_id"].iat[i], "context": context, "a": pairs["text_a"].iat[i],
            "b": pairs["text_b"].iat[i], "p_a": p_a, "reason": reason, "uncertainty": uncertainty,
            "p_first_ab": _num(pairs["p_first_ab"].iat[i]), "p_first_ba": _num(pairs["p_first_ba"].iat[i]),
            "human_p_a": _num(pairs["human_p_a"].iat[i]) if "human_p_a" in pairs.columns else None}


# ------------------------------------------------------------------------------------------------- comparison


def compare_evaluators(ctx: AuditContext, p_a: np.ndarray, result: AuditResult) -> None:
    """McNemar exact test and paired accuracy difference against ``ctx.compare`` on shared labeled pairs."""
    import numpy as np
    import pandas as pd
    from scipy.stats import binomtest

    from rlaif_audit.auditing.context import human_choice, judge_preference, option
    from rlaif_audit.records.preference import choice_codes
    from rlaif_audit.auditing.stats import SumBootstrap, family_rng

    other_p, _ = judge_preference(ctx.compare)
    band = float(option(ctx, "tie_band"))
    other = pd.Series(choice_codes(other_p, band), index=ctx.compare.pairs["pair_id"])
    other_choice = other.reindex(ctx.pairs["pair_id"]).fillna(-1).to_numpy(dtype=int)
    judge, human = choice_codes(p_a, band), human_choice(ctx)
    rows = (judge >= 0) & (other_choice >= 0) & (human >= 0)
    first, second = judge[rows] == human[rows], other_choice[rows] == human[rows]
    table = {"both_correct": int(np.sum(first & second)), "only_this": int(np.sum(first & ~second)),
             "only_compare": int(np.sum(~first & second)), "both_wrong": int(np.sum(~first & ~second))}
    discordant = table["only_this"] + table["only_compare"]
    p_value = binomtest(table["only_this"], discordant, 0.5).pvalue if discordant else 1.0
    result.tables["mcnemar"] = [{"n": int(rows.sum()), **table, "p_value": float(p_value),
                                 "test": "McNemar exact (two-sided binomial on discordant pairs)",
                                 "correct": "judge choice equals the human majority (a/b/tie)"}]
    values = np.column_stack([first, second]).astype(float)
    boot = SumBootstrap(values, n_bootstrap=ctx.n_bootstrap, rng=family_rng(ctx.seed, "compare"))
    n = int(rows.sum())
    result.metrics["accuracy_difference"] = boot.metric(lambda s: (s[..., 0] - s[..., 1]) / n, n,
                                                        option(ctx, "ci_method"))


AUDITORS = (AgreementAuditor,)
"""The auditors this module defines, registered by the package's plugin."""
