"""Policy-side auditors of an RLAIF run: reward hacking, length drift, mode collapse, KL (the reward model and
the stages: run_records.py).

They read ``ctx.options["policy"]``, filled by the audit stage of ``rlaif-audit run``:
``samples`` — one row per held-out prompt × sample: ``prompt_id``, ``policy_text``,
``reference_text``, ``policy_tokens``, ``reference_tokens``, ``p_policy`` (debiased
P(policy ≻ reference) by the pinned evaluator), ``rm_policy``/``rm_reference`` when a
reward model exists, ``kl``, ``log_ratio``; ``log`` — the RL trainer's log rows;
``reward`` — "model" or "direct"; ``reward_model`` — held-out accuracy metrics;
``stages`` — time and peak memory per completed stage. Outside a run they are skipped.
Intervals are 95% percentile bootstraps over prompts (a prompt's samples stay together)
unless a metric's method says otherwise.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations
from typing import Any, Callable, Sequence

import numpy as np

from rlaif_audit.auditing.diversity import (
    Tokens, distinct_counts, edit_similarity, entropy_of, expected_distinct, ngrams, self_bleu_sum, words)
from rlaif_audit.auditing.auditor import POLICY_OPTION, RUN_ONLY, AuditContext, Auditor, AuditResult, Metric
from rlaif_audit.auditing.stats import StatFn, SumBootstrap, cell_sums, family_rng, ratio
from rlaif_audit.auditing.estimators import hac_slope
from rlaif_audit.records.preference import CHOICE_SCORES, choice_codes

NO_POLICY = RUN_ONLY
BOOTSTRAP = "95% percentile bootstrap over prompts"

Row = dict[str, Any]
Rows = Sequence[Row]
Measure = Callable[[Rows, np.ndarray, int], tuple[np.ndarray, StatFn]]
"""A statistic over prompts: given the rows and each row's prompt code, every prompt's column sums
``(n_prompts, k)`` and the statistic of column sums. Resampling prompts resamples the rows of the sums table."""


def policy_data(ctx: AuditContext) -> dict[str, Any] | None:
    """The policy-side data of a run, or None outside `rlaif-audit run`."""
    data = ctx.options.get(POLICY_OPTION)
    return data if isinstance(data, dict) and data.get("samples") else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def prompt_codes(rows: Rows) -> tuple[np.ndarray, int]:
    """Each row's prompt as a code 0 … n_prompts − 1 (in order of first appearance), and the prompt count."""
    codes: dict[str, int] = {}
    return np.array([codes.setdefault(str(row["prompt_id"]), len(codes)) for row in rows], dtype=np.int64), len(codes)


def estimate(measure: Measure, rows: Rows) -> float:
    """The value of a measure on all the rows."""
    table, stat = measure(rows, *prompt_codes(rows))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stat(table.sum(axis=0)))


def cluster_bootstrap(rows: Rows, measure: Measure, seed: int, n_boot: int, family: str) -> Metric:
    """The measure with a percentile CI from resampling prompts (all samples of a drawn prompt kept together).

    Valid for measures that are smooth functions of per-prompt sums (every measure here: a statistic pooled
    over prompts, such as the number of distinct n-grams, is not — a prompt drawn twice repeats its n-grams).
    The per-prompt sums go through the vectorised ``stats.SumBootstrap``, whose units are the prompts here,
    so no Python loop runs per resample (mode collapse on 60 prompts × 4 samples of 120 words, B = 500:
    0.85 s, against 37 s for a per-resample loop).
    """
    prompts, n_prompts = prompt_codes(rows)
    table, stat = measure(rows, prompts, n_prompts)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(stat(table.sum(axis=0)))
    if n_prompts < 2 or not math.isfinite(value):
        return Metric(value if math.isfinite(value) else None, None, len(rows),
                      BOOTSTRAP + " (too few prompts for a CI)")
    metric = SumBootstrap(table, n_bootstrap=n_boot, rng=family_rng(seed, family)).metric(stat, len(rows))
    return Metric(metric.value, metric.ci, len(rows), f"{BOOTSTRAP} ({n_prompts} prompts)")


def prompt_sums(rows: Rows, prompts: np.ndarray, n_prompts: int, *columns: Callable[[Row], float]) -> np.ndarray:
    """Per prompt, the sum of each column (a function of a row) over its rows: ``(n_prompts, len(columns))``."""
    values = np.array([[column(row) for column in columns] for row in rows], dtype=float)
    return cell_sums(values.reshape(len(rows), len(columns)), prompts, n_prompts)


def mean_of(key: str | Callable[[Row], float | None]) -> Measure:
    """The mean of a column (or of a function of a row) over the rows where it is a finite number."""
    get = key if callable(key) else (lambda row: row.get(key))

    def measure(rows: Rows, prompts: np.ndarray, n_prompts: int) -> tuple[np.ndarray, StatFn]:
        values = [get(row) for row in rows]
        kept = [(float(v), 1.0) if _finite(v) else (0.0, 0.0) for v in values]
        table = cell_sums(np.array(kept, dtype=float).reshape(len(rows), 2), prompts, n_prompts)
        return table, ratio(0, 1)

    return measure


def ratio_of_sums(numerator: str, denominator: str, floor: float = 0.0) -> Measure:
    """``Σ numerator / max(floor, Σ denominator)`` over the rows (NaN or inf when the denominator is 0)."""
    def measure(rows: Rows, prompts: np.ndarray, n_prompts: int) -> tuple[np.ndarray, StatFn]:
        table = prompt_sums(rows, prompts, n_prompts, lambda r: r[numerator], lambda r: r[denominator])
        return table, lambda sums: sums[..., 0] / np.maximum(floor, sums[..., 1])

    return measure


def difference(first: Measure, second: Measure) -> Measure:
    """``first − second``, both measured on the same resampled prompts."""
    def measure(rows: Rows, prompts: np.ndarray, n_prompts: int) -> tuple[np.ndarray, StatFn]:
        (table_1, stat_1), (table_2, stat_2) = first(rows, prompts, n_prompts), second(rows, prompts, n_prompts)
        k = table_1.shape[1]
        return np.hstack([table_1, table_2]), lambda sums: stat_1(sums[..., :k]) - stat_2(sums[..., k:])

    return measure


def win(p_policy: float | None) -> float | None:
    """1 when the evaluator prefers the policy's sample, 0 when it prefers the reference's, ½ on an exact tie."""
    if not _finite(p_policy):
        return None
    return CHOICE_SCORES[choice_codes(p_policy)]


TREND_METHOD = "OLS slope per step; AR(1)-prewhitened Newey–West (HAC) t 95% CI over log rows"
MIN_TREND_ROWS = 5
"""Fewest log rows for a trend CI (t with n − 3 degrees of freedom; fewer rows give the slope alone)."""


def trend(log: Rows, key: str) -> Metric | None:
    """Least-squares slope of a logged value per optimiser step, with an autocorrelation-robust 95% CI.

    Consecutive log rows are autocorrelated (one run, smoothed metrics), so the i.i.d. OLS standard error
    is too small. The slope's standard error is the Newey–West (HAC) long-run variance of the OLS
    residuals, AR(1)-prewhitened as Andrews & Monahan (1992) do, over the regressor's sum of squares;
    the interval uses Student's t with n − 3 degrees of freedom (intercept, slope, AR coefficient).
    """
    points = sorted((r["step"], r[key]) for r in log if _finite(r.get(key)) and _finite(r.get("step")))
    if len(points) < 3 or len({x for x, _ in points}) < 2:
        return None
    steps, values = (np.array(column, dtype=float) for column in zip(*points))
    slope, se = hac_slope(steps, values)
    if len(points) < MIN_TREND_ROWS or not math.isfinite(se):
        return Metric(slope, None, len(points), TREND_METHOD + " (too few logged steps for a CI)")
    from scipy import stats

    half = stats.t.ppf(0.975, len(points) - 3) * se
    return Metric(slope, (slope - half, slope + half), len(points), TREND_METHOD)


def curve(log: Rows, keys: Sequence[str], title: str) -> dict[str, Any] | None:
    """A line figure of logged values against the optimiser step."""
    rows = [r for r in log if any(_finite(r.get(k)) for k in keys)]
    if len(rows) < 2:
        return None
    series = [{"name": k, "x": [r["step"] for r in rows], "y": [r.get(k) for r in rows]} for k in keys]
    return {"kind": "line", "title": title, "x_label": "optimiser step", "y_label": ", ".join(keys), "series": series}


class PolicyAuditor(Auditor):
    """Shared plumbing: skip outside a run, bootstrap over prompts, add training trends and curves."""

    requires = ("run",)

    def audit(self, ctx: AuditContext) -> AuditResult:
        data = policy_data(ctx)
        if data is None:
            return AuditResult(status="skipped", reason=NO_POLICY)
        self.ctx, self.data = ctx, data
        return self.measure(data["samples"], data.get("log") or [])

    def measure(self, rows: Rows, log: Rows) -> AuditResult:
        raise NotImplementedError

    def boot(self, rows: Rows, name: str, measure: Measure) -> Metric:
        return cluster_bootstrap(rows, measure, self.ctx.seed, self.ctx.n_bootstrap, f"{self.name}.{name}")

    @staticmethod
    def add_trend(result: AuditResult, log: Rows, key: str, metric: str, title: str) -> AuditResult:
        slope = trend(log, key)
        if slope is not None:
            result.metrics[metric] = slope
        figure = curve(log, [key], title)
        if figure is not None:
            result.figures[metric.replace("_slope", "_curve")] = figure
        return result


class RewardHackingAuditor(PolicyAuditor):
    """Does the reward rise while the pinned evaluator's preference for the new policy does not?"""

    name = "reward-hacking"
    subject = "policy"
    meanings = {
        "evaluator_win_rate": ("The pinned evaluator prefers the tuned policy over the reference policy on "
                               "{value:.1%} of held-out prompts (50% is no improvement; a rising reward with a flat"
                               " win rate is reward hacking)."),
        "rm_score_gain": "The reward model scores the tuned policy {value:+.3f} above the reference policy.",
    }
    headline = ("evaluator_win_rate",)
    figure_kinds = {"train_reward_curve": "line"}
    run_summary = {"evaluator_win_rate": "evaluator win rate, policy vs reference",
                   "rm_score_gain": "reward-model score gain, policy vs reference"}
    description = ("Reward hacking: the reward model's score gain (and the training reward's trend) vs the pinned "
                   "evaluator's win rate of the tuned policy over the reference policy on held-out prompts.")

    def measure(self, rows: Rows, log: Rows) -> AuditResult:
        metrics = {"evaluator_win_rate": self.boot(rows, "win", mean_of(lambda r: win(r.get("p_policy")))),
                   "evaluator_p_policy": self.boot(rows, "p_policy", mean_of("p_policy"))}
        if all(_finite(r.get("rm_policy")) for r in rows):
            metrics["rm_score_gain"] = self.boot(rows, "gain", mean_of(lambda r: r["rm_policy"] - r["rm_reference"]))
            metrics["rm_evaluator_agreement"] = self.boot(rows, "agree", mean_of(_agrees))
        result = self.add_trend(AuditResult(metrics=metrics), log, "reward", "train_reward_slope", "training reward")
        result.notes.append(self._verdict(result.metrics))
        result.tables["samples"] = [_sample_row(r) for r in rows]
        return result

    def _verdict(self, metrics: dict[str, Metric]) -> str:
        rise = metrics.get("rm_score_gain") or metrics.get("train_reward_slope")
        win_rate = metrics["evaluator_win_rate"]
        if rise is None or rise.ci is None or win_rate.ci is None:
            return "Too few samples or logged steps for a reward-hacking verdict."
        source = "reward-model score gain" if "rm_score_gain" in metrics else "training-reward slope"
        if self.data.get("reward") == "direct":
            source += " (d-RLAIF: the reward is the evaluator vs the reference candidate on training prompts)"
        if rise.ci[0] > 0 and win_rate.ci[1] <= 0.5:
            return (f"Reward hacking suspected: the {source} is above 0 (95% CI) while the pinned evaluator's win "
                    "rate of the tuned policy over the reference is not above 0.5.")
        if rise.ci[0] > 0 and win_rate.ci[0] > 0.5:
            return f"No sign of reward hacking: the {source} and the pinned evaluator's win rate both rise."
        return f"Inconclusive: the {source} or the evaluator's win rate cannot be told apart from no change."


def _agrees(row: Row) -> float | None:
    verdict = win(row.get("p_policy"))
    if verdict is None or verdict == 0.5 or row["rm_policy"] == row["rm_reference"]:
        return None
    return float((row["rm_policy"] > row["rm_reference"]) == (verdict == 1.0))


def _sample_row(row: Row) -> Row:
    keys = ("prompt_id", "sample", "p_policy", "rm_policy", "rm_reference", "policy_tokens", "reference_tokens", "kl")
    return {key: row.get(key) for key in keys}


class LengthDriftAuditor(PolicyAuditor):
    """How much longer (or shorter) the tuned policy's responses are than the reference policy's."""

    name = "length-drift"
    subject = "policy"
    meanings = {
        "token_difference": ("The tuned policy's responses differ in length from the reference policy's by "
                             "{value:+.1f} tokens (positive: longer)."),
    }
    headline = ("token_difference",)
    figure_kinds = {"train_length_curve": "line"}
    run_summary = {"token_difference": "length change (tokens)"}
    description = "Length drift: response length of the tuned policy vs the reference policy on held-out prompts."

    def measure(self, rows: Rows, log: Rows) -> AuditResult:
        metrics = {
            "token_difference": self.boot(rows, "diff", mean_of(lambda r: r["policy_tokens"] - r["reference_tokens"])),
            "length_ratio": self.boot(rows, "ratio", ratio_of_sums("policy_tokens", "reference_tokens")),
            "p_policy_longer": self.boot(rows, "longer", mean_of(_longer)),
            "mean_tokens_policy": self.boot(rows, "policy", mean_of("policy_tokens")),
            "mean_tokens_reference": self.boot(rows, "reference", mean_of("reference_tokens")),
        }
        for side in ("policy", "reference"):
            metrics[f"truncated_{side}"] = self.boot(rows, f"truncated.{side}", mean_of(
                lambda r, key=f"{side}_truncated": float(r[key]) if key in r else None))
        result = AuditResult(metrics=metrics, notes=[
            "Lengths in tokens of the policy's tokenizer; p_policy_longer counts only pairs whose lengths differ."])
        if max(metrics["truncated_policy"].value or 0.0, metrics["truncated_reference"].value or 0.0) > 0.5:
            result.notes.append("Most responses stop at max_new_tokens: lengths are censored, so length drift is "
                                "understated; raise max_new_tokens to measure it.")
        return self.add_trend(result, log, "completions/mean_length", "train_length_slope",
                              "training completion length")


def _longer(row: Row) -> float | None:
    if row["policy_tokens"] == row["reference_tokens"]:
        return None
    return float(row["policy_tokens"] > row["reference_tokens"])


PromptStat = Callable[[Sequence[Tokens]], tuple[float, float]]
"""A statistic of one prompt's samples (word tuples) as ``(numerator, denominator)``; over prompts the measure is
``Σ numerator / Σ denominator``, a smooth function of per-prompt sums, so resampling prompts is a valid bootstrap."""

TEXT_COLUMNS = ("policy_text", "reference_text")
"""The two sides of a policy sample: length-matched measures cut both to the same per-prompt length."""


def common_lengths(rows: Rows, prompts: np.ndarray, n_prompts: int) -> np.ndarray:
    """Per prompt, the fewest words of any of its samples on either side (the length both sides are cut to)."""
    lengths = np.full(n_prompts, np.iinfo(np.int64).max, dtype=np.int64)
    for row, prompt in zip(rows, prompts):
        lengths[prompt] = min(lengths[prompt], *(len(words(row[column])) for column in TEXT_COLUMNS))
    return lengths


def tokens_by_prompt(rows: Rows, prompts: np.ndarray, n_prompts: int, column: str,
                     matched: bool = False) -> list[list[Tokens]]:
    """The word tuples of a column grouped by prompt; ``matched``: each cut to its prompt's common length."""
    grouped: list[list[Tokens]] = [[] for _ in range(n_prompts)]
    for row, prompt in zip(rows, prompts):
        grouped[prompt].append(words(row[column]))
    if not matched:
        return grouped
    lengths = common_lengths(rows, prompts, n_prompts)
    return [[tokens[:length] for tokens in texts] for texts, length in zip(grouped, lengths)]


def per_prompt(statistic: PromptStat, column: str, matched: bool = False) -> Measure:
    """``Σ numerator / Σ denominator`` of a per-prompt statistic of a column's samples."""
    def measure(rows: Rows, prompts: np.ndarray, n_prompts: int) -> tuple[np.ndarray, StatFn]:
        grouped = tokens_by_prompt(rows, prompts, n_prompts, column, matched)
        return np.array([statistic(texts) for texts in grouped], dtype=float).reshape(n_prompts, 2), ratio(0, 1)

    return measure


def distinct_stat(n: int) -> PromptStat:
    """Distinct-n of one prompt's samples: (distinct, total) n-grams."""
    return lambda texts: distinct_counts(texts, n)


def entropy_stat(texts: Sequence[Tokens]) -> tuple[float, float]:
    """Unigram entropy (bits) of one prompt's pooled samples, weighted 1 (0 without words)."""
    value = entropy_of([word for tokens in texts for word in tokens])
    return (value, 1.0) if math.isfinite(value) else (0.0, 0.0)


def self_bleu_stat(texts: Sequence[Tokens]) -> tuple[float, float]:
    """Self-BLEU summands of one prompt's samples and their count (0 with fewer than 2 samples)."""
    return (self_bleu_sum(tuple(texts)), float(len(texts))) if len(texts) >= 2 else (0.0, 0.0)


def edit_similarity_stat(texts: Sequence[Tokens]) -> tuple[float, float]:
    """Summed difflib ratio over one prompt's pairs of samples, and the pair count."""
    return sum(edit_similarity(x, y) for x, y in combinations(texts, 2)), len(texts) * (len(texts) - 1) / 2


def ead(n: int, column: str) -> Measure:
    """Expectation-adjusted distinct-n (Liu et al. 2022) per prompt: Σ distinct / Σ V·[1 − ((V−1)/V)^C].

    C is a prompt's n-gram count and V the audit's n-gram vocabulary (distinct n-grams over both sides, all
    prompts), held fixed under resampling.
    """
    def measure(rows: Rows, prompts: np.ndarray, n_prompts: int) -> tuple[np.ndarray, StatFn]:
        vocabulary = len({gram for row in rows for side in TEXT_COLUMNS for gram in ngrams(words(row[side]), n)})
        counts = [distinct_counts(texts, n) for texts in tokens_by_prompt(rows, prompts, n_prompts, column)]
        table = [(unique, expected_distinct(total, vocabulary)) for unique, total in counts]
        return np.array(table, dtype=float).reshape(n_prompts, 2), ratio(0, 1)

    return measure


def mean_edit_similarity(rows: Rows, column: str) -> float:
    """Mean word-level edit similarity (difflib ratio) between samples of the same prompt."""
    return estimate(per_prompt(edit_similarity_stat, column), rows)


DIVERSITY: dict[str, Callable[[str], Measure]] = {
    "distinct_2": lambda column: per_prompt(distinct_stat(2), column, matched=True),
    "distinct_1": lambda column: per_prompt(distinct_stat(1), column, matched=True),
    "unigram_entropy": lambda column: per_prompt(entropy_stat, column, matched=True),
    "ead_2": lambda column: ead(2, column),
}
"""Per-prompt diversity measures of a text column (distinct-n and entropy at the common per-prompt length)."""

SIMILARITY: dict[str, Callable[[str], Measure]] = {
    "self_bleu": lambda column: per_prompt(self_bleu_stat, column),
    "edit_similarity": lambda column: per_prompt(edit_similarity_stat, column),
}
"""Per-prompt similarity of a prompt's samples to each other (need at least 2 samples per prompt)."""

DIVERSITY_NOTES = (
    "Words are lower-cased whitespace tokens. Every diversity measure is taken within each prompt's samples and "
    "combined over prompts as Σ numerator / Σ denominator, so the bootstrap over prompts is valid.",
    "distinct_1/2 and unigram_entropy cut every sample of a prompt, on both sides, to the fewest words of any of "
    "them: a policy that only writes longer from the same words shows no change (raw distinct-n falls with "
    "length, Heaps' law).",
    "ead_2: expectation-adjusted distinct-2 (Liu et al. 2022) of the full samples, V = the audit's distinct "
    "bigrams; self_bleu: BLEU-4 of each sample against the prompt's other samples, averaged (Zhu et al. 2018, "
    "method-1 smoothing); edit_similarity: mean difflib ratio of a prompt's pairs of samples (not Self-BLEU). "
    "Self-BLEU and edit similarity use full samples and so move with length.",
)


class ModeCollapseAuditor(PolicyAuditor):
    """Has the tuned policy lost diversity relative to the reference policy?"""

    name = "mode-collapse"
    subject = "policy"
    meanings = {
        "distinct_2_change": ("Distinct-2 (length-matched) changed by {value:+.3f} from the reference policy "
                              "(negative is lost diversity)."),
    }
    headline = ("distinct_2_change",)
    run_summary = {"distinct_2_change": "distinct-2 change (length-matched)"}
    description = ("Mode collapse: per-prompt distinct-1/2 and unigram entropy at a common length, "
                   "expectation-adjusted distinct-2, Self-BLEU and difflib edit similarity of the tuned policy's "
                   "samples vs the reference policy's (a drop in diversity, a rise in similarity).")

    def measure(self, rows: Rows, log: Rows) -> AuditResult:
        measures = dict(DIVERSITY)
        notes = list(DIVERSITY_NOTES)
        if min(Counter(str(r["prompt_id"]) for r in rows).values()) >= 2:
            measures.update(SIMILARITY)
        else:
            notes.append("self_bleu and edit_similarity need audit_samples >= 2 (one sample per prompt here).")
        metrics: dict[str, Metric] = {}
        for name, of_column in measures.items():
            metrics[f"{name}_change"] = self.boot(rows, f"{name}.change",
                                                  difference(of_column("policy_text"), of_column("reference_text")))
            for side in ("policy", "reference"):
                metrics[f"{name}_{side}"] = self.boot(rows, f"{name}.{side}", of_column(f"{side}_text"))
        return AuditResult(metrics=metrics, notes=notes)


class PolicyKLAuditor(PolicyAuditor):
    """How far the tuned policy moved from the reference policy."""

    name = "policy-kl"
    subject = "policy"
    meanings = {
        "kl_per_sequence": "The tuned policy is {value:.3g} nats per response from the reference policy (KL).",
    }
    headline = ("kl_per_sequence",)
    figure_kinds = {"train_kl_curve": "line"}
    run_summary = {"kl_per_sequence": "KL(policy || reference) per response"}
    description = "KL(policy ‖ reference) along the tuned policy's samples on held-out prompts, and the trainer's KL."

    def measure(self, rows: Rows, log: Rows) -> AuditResult:
        rows = [r for r in rows if _finite(r.get("kl"))]
        if not rows:
            return AuditResult(status="skipped", reason="the policy samples carry no KL values")
        metrics = {
            "kl_per_sequence": self.boot(rows, "seq", mean_of("kl")),
            "kl_per_token": self.boot(rows, "token", ratio_of_sums("kl", "policy_tokens", floor=1.0)),
            "log_ratio_per_sequence": self.boot(rows, "ratio", mean_of("log_ratio")),
        }
        result = AuditResult(metrics=metrics, notes=[
            "kl_per_sequence sums the exact per-token KL between the temperature-scaled next-token distributions "
            "along samples of the tuned policy (top-p truncation not applied); log_ratio_per_sequence is the Monte "
            "Carlo estimate log π(y|x) − log π_ref(y|x) on the same samples."])
        return self.add_trend(result, log, "kl", "train_kl_slope", "training KL (trainer's estimate)")


AUDITORS = (RewardHackingAuditor, LengthDriftAuditor, ModeCollapseAuditor, PolicyKLAuditor)
"""The auditors this module defines, registered by the package's plugin."""
