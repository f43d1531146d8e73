"""The field's agreement protocols by name (``audit --protocol``): how each published tool scores a judge.

One home for the protocol definitions. Each protocol turns the audit context into per-pair sums (a numerator and
a denominator per metric), so the agreement auditor gives every protocol metric the same pair-clustered
bootstrap interval, and the point estimate equals the published tool's ratio of totals.

* ``rlaif-audit`` (default): the agreement auditor's own metrics (position-debiased choice, MT-Bench-style
  with/without ties, κ, α, leave-one-out human ceiling with fractional credit).
* ``alpaca-eval``: AlpacaEval's evaluator leaderboard (``alpaca_eval.analyze.Analyzer`` with the ``absolute``
  scoring rule, alpaca_eval commit cd543a1): preferences on its 1/2 scale, the target is the *mode* of the
  human annotators (a split broken as ``_random_mode`` does: ``Series.sample(1, random_state=123)``), score
  ``1 − |target − prediction|`` (a tie is worth ½), "Human agreement" of the judge against the mode of all
  annotators, the humans' own leave-one-out agreement (each annotator against the mode of the others),
  "Bias" (error of the mode of the judge's annotations against the humans' mode) and "Variance" (error of
  each judge annotation against the mode of its other annotations), both measured only when the judge
  annotated pairs several times.
* ``mt-bench``: FastChat's ``fastchat/llm_judge/compute_agreement.py`` (commit 0e6d3e4): the judge's vote per
  pair combines its two games as MT-Bench does (a disagreement is a tie), every human vote is scored
  separately, only experts (annotator ids ``expert*``) when the ids name experts and authors, setup S1 with
  ties (3-way) and S2 without (a tie vote of the judge drops the pair, a tie vote of a human drops that vote);
  human–human agreement over every pair of votes.
* ``judgebench``: JudgeBench's ``utils/metrics.py`` (``compute_final_metrics`` with ``reverse_order``, commit
  e2c52c2): both orders, each decision +1 when it names the human's choice, −1 when it names the other,
  0 for a tie or a null decision; a pair is correct when the net is positive; pairs with a null decision in
  one (or both) orders stay in the denominator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from rlaif_audit.auditing.auditor import AuditContext


@dataclass(frozen=True)
class Protocol:
    """A named agreement protocol and where its definitions come from."""

    name: str
    source: str
    summary: str


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("rlaif-audit", "this tool; see docs/audit.md",
             "position-debiased choice; with/without ties, κ, α, leave-one-out human ceiling with fractional credit"),
    Protocol("alpaca-eval", "AlpacaEval, src/alpaca_eval/analyze.py (Analyzer, absolute scoring rule)",
             "mode of annotators, tie ½, leave-one-out human agreement, bias and variance"),
    Protocol("mt-bench", "FastChat, fastchat/llm_judge/compute_agreement.py (Zheng et al. 2023)",
             "each human vote scored separately, experts only, S1 with ties and S2 without"),
    Protocol("judgebench", "JudgeBench, utils/metrics.py compute_final_metrics (Tan et al. 2024)",
             "both orders, +1/−1 per decision, correct when the net is positive"),
)}
DEFAULT_PROTOCOL = "rlaif-audit"
ALPACA_PREFERENCE = (1.0, 2.0, 1.5)
"""Each choice code (a, b, tie) on AlpacaEval's preference scale (1: output_1 = A better, 2: B, 1.5: draw)."""
ALPACA_N_ANNOTATORS = 4
"""``Analyzer(n_annotators=4)``: pairs with at least this many human annotations, the first four kept."""


@dataclass
class ProtocolScores:
    """Per-pair numerators and denominators of a protocol's metrics (ratio of totals), tables and notes."""

    ratios: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    headline: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------ shared pieces


def content_choices(ctx: AuditContext) -> tuple[np.ndarray, np.ndarray]:
    """The content (a 0, b 1, tie 2, none −1) each order's verdict picks: order ba shows B first."""
    import numpy as np

    ab = ctx.pairs["verdict_ab"].cat.codes.to_numpy().astype(np.int64)
    ba = ctx.pairs["verdict_ba"].cat.codes.to_numpy().astype(np.int64)
    return ab, np.where(ba < 2, np.where(ba < 0, ba, 1 - ba), ba)


def label_positions(ctx: AuditContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per human label (file order): its pair's row in ``ctx.pairs`` (−1 unknown), choice code and annotator."""
    import numpy as np
    import pandas as pd

    from rlaif_audit.auditing.context import positions_of
    from rlaif_audit.records.preference import CHOICE_NAMES

    labels = ctx.labels
    where = positions_of(labels["pair_id"], ctx.pairs["pair_id"])
    codes = pd.Categorical(labels["preferred"], categories=CHOICE_NAMES).codes.astype(np.int64)
    known = (where >= 0) & (codes >= 0)
    return where[known], codes[known], labels["annotator"].astype(str).to_numpy()[known]


def vote_counts(rows: np.ndarray, codes: np.ndarray, n_pairs: int) -> np.ndarray:
    """(n_pairs, 3) counts of a/b/tie votes."""
    import numpy as np

    return np.bincount(rows * 3 + codes, minlength=3 * n_pairs).reshape(n_pairs, 3).astype(float)


# ------------------------------------------------------------------------------------------------------ mt-bench


def mt_bench_vote(content_ab: np.ndarray, content_ba: np.ndarray) -> np.ndarray:
    """The judge's vote per pair as MT-Bench combines two games: the same content in both, else a tie.

    A pair with a failed or missing game has no vote (−1), except when no pair has both games (then the one
    game is the vote).
    """
    import numpy as np

    from rlaif_audit.records.preference import games_choice

    if not ((content_ab >= 0) & (content_ba >= 0)).any():
        return np.where(content_ab >= 0, content_ab, content_ba)
    return games_choice(content_ab, content_ba)


def expert_votes(annotators: np.ndarray) -> np.ndarray:
    """compute_agreement's ``get_judge_name``: when ids name experts/authors, only ``expert*`` votes are human."""
    import numpy as np

    names = np.char.lower(annotators.astype(str))
    expert = np.char.startswith(names, "expert")
    named = expert | np.char.startswith(names, "author")
    return expert if named.any() else np.ones(len(annotators), dtype=bool)


def mt_bench_scores(ctx: AuditContext) -> ProtocolScores:
    """Judge–human agreement per vote (S1 with ties, S2 without) and human–human agreement per pair of votes."""
    import numpy as np

    judge = mt_bench_vote(*content_choices(ctx))
    rows, codes, annotators = label_positions(ctx)
    keep = expert_votes(annotators)
    counts = vote_counts(rows[keep], codes[keep], len(judge))
    total = counts.sum(axis=1)
    has_vote = judge >= 0
    matching = np.take_along_axis(counts, np.clip(judge, 0, 2)[:, None], axis=1)[:, 0]
    decisive_judge = has_vote & (judge != 2)
    pairs_of = lambda n: n * (n - 1) / 2  # noqa: E731
    scores = ProtocolScores(headline=("mt_bench_agreement_s2", "mt_bench_agreement_s1"))
    scores.ratios = {
        "mt_bench_agreement_s1": (np.where(has_vote, matching, 0.0), np.where(has_vote, total, 0.0)),
        "mt_bench_agreement_s2": (np.where(decisive_judge, matching, 0.0),
                                  np.where(decisive_judge, counts[:, 0] + counts[:, 1], 0.0)),
        "mt_bench_human_agreement_s1": (pairs_of(counts).sum(axis=1), pairs_of(total)),
        "mt_bench_human_agreement_s2": (pairs_of(counts[:, :2]).sum(axis=1), pairs_of(counts[:, 0] + counts[:, 1])),
    }
    scores.tables["mt_bench_agreement"] = mt_bench_turn_rows(ctx, scores.ratios)
    dropped = int(((judge < 0) & (total > 0)).sum())
    scores.notes.append(
        f"mt-bench protocol (FastChat compute_agreement.py): {int(keep.sum())} of {len(keep)} human votes are "
        "scored (only expert* ids when the ids name experts and authors), each vote separately; the judge's vote "
        "combines its two games (a disagreement is a tie); S1 counts ties as a third class, S2 drops a tie vote "
        f"of the judge (the pair) or of a human (that vote). {dropped} labeled pair(s) without a usable judge "
        "vote (a failed game) are left out.")
    return scores


def mt_bench_turn_rows(ctx: AuditContext, ratios: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict[str, Any]]:
    """compute_agreement's printout per turn: total and agreeing votes, ratio, with and without ties."""
    import numpy as np

    turns = ctx.pairs["meta_turn"].to_numpy() if "meta_turn" in ctx.pairs.columns else np.ones(len(ctx.pairs))
    rows = []
    for turn in sorted({int(t) for t in turns if t == t and t is not None}):
        where = turns == turn
        for setup, name in (("S1 (with ties)", "mt_bench_agreement_s1"), ("S2 (without ties)", "mt_bench_agreement_s2")):
            agree, total = (float(part[where].sum()) for part in ratios[name])
            rows.append({"turn": turn, "setup": setup, "total": int(total), "agree": int(agree),
                         "ratio": agree / total if total else None})
    return rows


# ---------------------------------------------------------------------------------------------------- judgebench


def judgebench_net(content_ab: np.ndarray, content_ba: np.ndarray, human: np.ndarray) -> np.ndarray:
    """JudgeBench's counter per pair: +1 per decision naming the human's choice, −1 per one naming the other."""
    import numpy as np

    other = 1 - human
    return sum(np.where(c == human, 1, np.where(c == other, -1, 0)) for c in (content_ab, content_ba))


def judgebench_scores(ctx: AuditContext) -> ProtocolScores:
    """JudgeBench accuracy: correct when the net of the two orders' decisions is positive; nulls stay in."""
    import numpy as np

    from rlaif_audit.auditing.context import human_choice

    content_ab, content_ba = content_choices(ctx)
    human = human_choice(ctx)
    labeled = (human == 0) | (human == 1)
    net = judgebench_net(content_ab, content_ba, np.where(labeled, human, -5))
    consistent = content_ab == content_ba
    nulls = (content_ab < 0) | (content_ba < 0)
    scores = ProtocolScores(headline=("judgebench_accuracy",))
    ones = labeled.astype(float)
    scores.ratios = {"judgebench_accuracy": ((labeled & (net > 0)).astype(float), ones),
                     "judgebench_incorrect": ((labeled & (net < 0)).astype(float), ones),
                     "judgebench_tie": ((labeled & (net == 0)).astype(float), ones),
                     "judgebench_inconsistent": ((labeled & ~consistent).astype(float), ones)}
    scores.tables["judgebench"] = [{"n_pairs": int(labeled.sum()), "n_correct": int((labeled & (net > 0)).sum()),
                                    "n_incorrect": int((labeled & (net < 0)).sum()),
                                    "n_tie": int((labeled & (net == 0)).sum()),
                                    "n_nulls": int((labeled & nulls).sum()),
                                    "n_inconsistent": int((labeled & ~consistent).sum())}]
    scores.notes.append(
        "judgebench protocol (JudgeBench compute_final_metrics, reverse_order): each order's decision is +1 when "
        "it names the human majority's choice, −1 when it names the other response, 0 for a tie or a null "
        f"(failed or missing) decision; a pair is correct when the net is positive. {int((labeled & nulls).sum())} "
        "pair(s) with a null decision in an order are scored on the other order (and stay in the denominator); "
        f"{int((~labeled & (human == 2)).sum())} pair(s) whose humans tie have no JudgeBench label and are left out.")
    return scores


# --------------------------------------------------------------------------------------------------- alpaca-eval


def alpaca_mode_table() -> np.ndarray:
    """AlpacaEval's ``_random_mode`` outcome for each set of tied modes (bit mask over a, b, tie) as a preference.

    ``pd.Series.mode`` sorts the modes; a split is broken by ``sample(1, random_state=123)``, as AlpacaEval does
    (a 2–2 split of output_1 and output_2 always resolves to output_2).
    """
    import numpy as np
    import pandas as pd

    table = np.full(8, np.nan)
    for mask in range(1, 8):
        modes = sorted(ALPACA_PREFERENCE[code] for code in range(3) if mask >> code & 1)
        table[mask] = pd.Series(modes).sample(1, random_state=123).item() if len(modes) > 1 else modes[0]
    return table


def alpaca_mode(counts: np.ndarray) -> np.ndarray:
    """The mode (AlpacaEval tie-break) of each row of a/b/tie counts, as a preference; NaN for an empty row."""
    import numpy as np

    top = counts.max(axis=1, keepdims=True)
    modes = (counts == top) & (top > 0)
    mask = modes @ np.array([1, 2, 4])
    return alpaca_mode_table()[mask]


def alpaca_score(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """AlpacaEval's absolute scoring rule per example: 1 − |target − prediction| on the 1/2 scale."""
    import numpy as np

    return 1.0 - np.abs(np.asarray(target, dtype=float) - np.asarray(prediction, dtype=float))


def first_annotations(rows: np.ndarray, codes: np.ndarray, n_pairs: int, k: int) -> np.ndarray:
    """(n_pairs, k) choice codes of each pair's first ``k`` labels in file order (−1 where fewer)."""
    import numpy as np
    import pandas as pd

    index = pd.Series(rows).groupby(rows).cumcount().to_numpy()
    matrix = np.full((n_pairs, k), -1, dtype=np.int64)
    kept = index < k
    matrix[rows[kept], index[kept]] = codes[kept]
    return matrix


def alpaca_eval_scores(ctx: AuditContext) -> ProtocolScores:
    """AlpacaEval's Analyzer: the judge against the humans' mode, the humans' leave-one-out agreement, bias/variance."""
    import numpy as np

    from rlaif_audit.auditing.context import judge_preference

    p_a, _ = judge_preference(ctx)
    repeats = judge_repeats(ctx)
    judge = (2.0 - p_a)[:, None] if repeats is None else repeats  # P(A) → preference (1: A = output_1 better)
    rows, codes, _annotators = label_positions(ctx)
    n_pairs = len(p_a)
    k = int(min(ALPACA_N_ANNOTATORS, np.bincount(rows, minlength=n_pairs).max(initial=0)))
    scores = ProtocolScores(headline=("alpaca_eval_human_agreement", "alpaca_eval_human_ceiling"))
    if k < 1:
        return scores
    matrix = first_annotations(rows, codes, n_pairs, k)
    complete = (matrix >= 0).all(axis=1)
    onehot = (matrix[:, :, None] == np.arange(3)).astype(float)
    counts = onehot.sum(axis=1)
    target = alpaca_mode(counts)
    judged = complete & np.isfinite(judge).any(axis=1)
    with np.errstate(invalid="ignore"):
        agreement = np.nanmean(np.where(np.isfinite(judge), alpaca_score(judge, target[:, None]), np.nan), axis=1)
    scores.ratios["alpaca_eval_human_agreement"] = (np.where(judged, agreement, 0.0), judged.astype(float))
    if k >= 2:
        values = np.asarray(ALPACA_PREFERENCE)[np.clip(matrix, 0, 2)]
        loo = np.mean([alpaca_score(values[:, i], alpaca_mode(counts - onehot[:, i])) for i in range(k)], axis=0)
        scores.ratios["alpaca_eval_human_ceiling"] = (np.where(complete, loo, 0.0), complete.astype(float))
    if repeats is not None:
        scores.ratios.update(alpaca_bias_variance(repeats, target, complete))
    scores.notes.append(
        f"alpaca-eval protocol (AlpacaEval Analyzer, absolute scoring rule): {int(complete.sum())} pair(s) with at "
        f"least {k} human annotations (the first {k} in file order; AlpacaEval uses 4); the target is the mode of "
        "the annotators with AlpacaEval's tie-break (Series.sample(random_state=123): a 1–2 split resolves to "
        "output_2 = B), the judge's preference is 2 − P(A) (each of its annotations when it annotated a pair several "
        "times), score = 1 − |target − preference| (a tie scores ½). alpaca_eval_human_ceiling is each annotator "
        "against the mode of the others (AlpacaEval's 'Human agreement' of humans). " +
        ("Bias: the judge's mode (median for weighted preferences) against the humans' mode; variance: each judge "
         "annotation against the mode of its others (errors, 1 − score)." if repeats is not None else
         "Bias and variance need several annotations of each pair by the judge (AlpacaEval cross-annotations, "
         "told apart by 'index'); this judgment file has one per pair, so they are not measured."))
    return scores


def judge_repeats(ctx: AuditContext) -> np.ndarray | None:
    """(n_pairs, r) the judge's repeated annotations per pair (preferences, NaN where fewer), when recorded."""
    import numpy as np

    column = "meta_judge_preferences"
    if column not in ctx.pairs.columns:
        return None
    lists = [v if isinstance(v, (list, tuple)) else [] for v in ctx.pairs[column]]
    width = max((len(v) for v in lists), default=0)
    if width < 2:
        return None
    out = np.full((len(lists), width), np.nan)
    for i, values in enumerate(lists):
        out[i, : len(values)] = [np.nan if v is None else float(v) for v in values]
    return out


def alpaca_estimator(preferences: np.ndarray) -> np.ndarray:
    """AlpacaEval's Bayes estimator per row (absolute rule): the mode when every value is 1, 1.5 or 2, else the
    median (NaN ignored)."""
    import warnings

    import numpy as np

    finite = np.isfinite(preferences)
    discrete = np.all(~finite | np.isin(preferences, ALPACA_PREFERENCE), axis=1)
    counts = np.stack([(preferences == value).sum(axis=1) for value in ALPACA_PREFERENCE], axis=1).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        median = np.nanmedian(preferences, axis=1)
    return np.where(discrete, alpaca_mode(counts), median)


def alpaca_bias_variance(repeats: np.ndarray, target: np.ndarray,
                         complete: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """AlpacaEval's bias (error of the judge's estimator against the humans' mode, on pairs with the humans'
    annotations) and variance (error of each judge annotation against the estimator of its other annotations, on
    every pair the judge annotated fully: it needs no humans)."""
    import numpy as np

    full = np.isfinite(repeats).all(axis=1)
    several = complete & full
    bias = 1.0 - alpaca_score(alpaca_estimator(repeats), target)
    others = [np.delete(repeats, i, axis=1) for i in range(repeats.shape[1])]
    variance = np.mean([1.0 - alpaca_score(repeats[:, i], alpaca_estimator(rest)) for i, rest in enumerate(others)],
                       axis=0)
    return {"alpaca_eval_bias": (np.where(several, bias, 0.0), several.astype(float)),
            "alpaca_eval_variance": (np.where(full, variance, 0.0), full.astype(float))}


SCORERS = {"alpaca-eval": alpaca_eval_scores, "mt-bench": mt_bench_scores, "judgebench": judgebench_scores}
"""The protocols with their own scores; ``rlaif-audit`` is the agreement auditor's own metrics."""


def protocol_scores(ctx: AuditContext) -> ProtocolScores | None:
    """The chosen protocol's (``ctx.options['protocol']``) per-pair scores; None for the default protocol."""
    name = str(ctx.options.get("protocol") or DEFAULT_PROTOCOL)
    if name not in PROTOCOLS:
        raise ValueError(f"Protocol {name!r} not found. Available: {', '.join(PROTOCOLS)}")
    scorer = SCORERS.get(name)
    return None if scorer is None else scorer(ctx)
