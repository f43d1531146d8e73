"""Policy-side auditors of an RLAIF run: reward hacking, length drift, mode collapse, KL, reward model, stages.

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
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import combinations
from typing import Any, Callable, Sequence

import numpy as np

from rlaif_audit.auditing.auditor import POLICY_OPTION, AuditContext, Auditor, AuditResult, Metric
from rlaif_audit.auditing.stats import StatFn, SumBootstrap, cell_sums, family_rng, ratio
from rlaif_audit.records.preference import CHOICE_SCORES, choice_codes

NO_POLICY = "no policy samples: policy-side audits run in the audit stage of `rlaif-audit run`"
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

    The rows' per-prompt column sums go through the vectorised ``stats.SumBootstrap``, whose units are the
    prompts here, so no Python loop runs per resample (mode collapse on 60 prompts × 4 samples of 120 words,
    B = 500: 1.4 s, against 37 s for the per-resample loop this replaced).
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


def trend(log: Rows, key: str) -> Metric | None:
    """Least-squares slope of a logged value per optimiser step, with its t-based 95% CI (n = log rows)."""
    from scipy import stats

    points = [(r["step"], r[key]) for r in log if _finite(r.get(key))]
    if len(points) < 3 or len({x for x, _ in points}) < 2:
        return None
    fit = stats.linregress(*zip(*points))
    half = stats.t.ppf(0.975, len(points) - 2) * fit.stderr
    return Metric(fit.slope, (fit.slope - half, fit.slope + half), len(points), "OLS slope per step; t 95% CI")


def curve(log: Rows, keys: Sequence[str], title: str) -> dict[str, Any] | None:
    """A line figure of logged values against the optimiser step."""
    rows = [r for r in log if any(_finite(r.get(k)) for k in keys)]
    if len(rows) < 2:
        return None
    series = [{"name": k, "x": [r["step"] for r in rows], "y": [r.get(k) for r in rows]} for k in keys]
    return {"kind": "line", "title": title, "x_label": "optimiser step", "y_label": ", ".join(keys), "series": series}


class PolicyAuditor(Auditor):
    """Shared plumbing: skip outside a run, bootstrap over prompts, add training trends and curves."""

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


@lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """Lower-cased whitespace tokens (tokenizer-free, so policies with different tokenizers compare)."""
    return tuple(text.lower().split())


@lru_cache(maxsize=65536)
def edit_similarity(first: str, second: str) -> float:
    """Word-level difflib ratio of two texts (cached: a side's own metric and the change reuse the same pairs)."""
    return SequenceMatcher(None, words(first), words(second), autojunk=False).ratio()


def texts_by_prompt(rows: Rows, prompts: np.ndarray, n_prompts: int, column: str) -> list[list[str]]:
    """The texts of a column, grouped by prompt code."""
    grouped: list[list[str]] = [[] for _ in range(n_prompts)]
    for row, prompt in zip(rows, prompts):
        grouped[prompt].append(row[column])
    return grouped


def gram_table(grouped: Sequence[Sequence[str]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Word n-gram counts per prompt ``(n_prompts, columns)`` and how many n-grams each column stands for.

    N-grams with the same count in every prompt share a column (their sums move together under any
    resample), which keeps the bootstrap's sums table about as wide as the number of prompts.
    """
    per_gram: dict[tuple[str, ...], Counter[int]] = {}
    for prompt, texts in enumerate(grouped):
        for ws in map(words, texts):
            for i in range(len(ws) - n + 1):
                per_gram.setdefault(ws[i : i + n], Counter())[prompt] += 1
    patterns = Counter(tuple(sorted(counts.items())) for counts in per_gram.values())
    table = np.zeros((len(grouped), len(patterns)))
    for column, pattern in enumerate(patterns):
        for prompt, count in pattern:
            table[prompt, column] = count
    return table, np.array(list(patterns.values()), dtype=float)


def distinct_share(sums: np.ndarray, grams: np.ndarray) -> np.ndarray:
    """Distinct-n (Li et al. 2016) of pooled n-gram counts: n-grams seen at least once / all n-grams."""
    return (grams * (sums > 0)).sum(axis=-1) / (grams * sums).sum(axis=-1)


def entropy_bits(sums: np.ndarray, grams: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of pooled counts c with total T: log₂ T − Σ c·log₂ c / T."""
    total = (grams * sums).sum(axis=-1)
    c_log_c = np.where(sums > 0, sums * np.log2(np.where(sums > 0, sums, 1.0)), 0.0)
    return np.log2(total) - (grams * c_log_c).sum(axis=-1) / total


def pooled(of_counts: Callable[[np.ndarray, np.ndarray], np.ndarray], n: int, column: str) -> Measure:
    """A statistic of the word n-gram counts pooled over all samples of a column."""
    def measure(rows: Rows, prompts: np.ndarray, n_prompts: int) -> tuple[np.ndarray, StatFn]:
        table, grams = gram_table(texts_by_prompt(rows, prompts, n_prompts, column), n)
        return table, lambda sums: of_counts(sums, grams)

    return measure


def similarity(column: str) -> Measure:
    """Mean word-level edit similarity (difflib ratio) between samples of the same prompt."""
    def measure(rows: Rows, prompts: np.ndarray, n_prompts: int) -> tuple[np.ndarray, StatFn]:
        grouped = texts_by_prompt(rows, prompts, n_prompts, column)
        table = [(sum(edit_similarity(x, y) for x, y in combinations(texts, 2)), len(texts) * (len(texts) - 1) / 2)
                 for texts in grouped]
        return np.array(table, dtype=float).reshape(n_prompts, 2), ratio(0, 1)

    return measure


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n (Li et al. 2016): unique n-grams / all n-grams, pooled over the texts."""
    return estimate(pooled(distinct_share, n, "text"), [{"prompt_id": 0, "text": text} for text in texts])


def unigram_entropy(texts: Sequence[str]) -> float:
    """Shannon entropy (bits) of the pooled unigram distribution of the texts."""
    return estimate(pooled(entropy_bits, 1, "text"), [{"prompt_id": 0, "text": text} for text in texts])


def pairwise_similarity(rows: Rows, column: str) -> float:
    """Mean word-level edit similarity (difflib ratio) between samples of the same prompt."""
    return estimate(similarity(column), rows)


DIVERSITY: dict[str, Callable[[str], Measure]] = {
    "distinct_2": lambda column: pooled(distinct_share, 2, column),
    "distinct_1": lambda column: pooled(distinct_share, 1, column),
    "unigram_entropy": lambda column: pooled(entropy_bits, 1, column),
}
"""The pooled diversity measures of a text column."""


class ModeCollapseAuditor(PolicyAuditor):
    """Has the tuned policy lost diversity relative to the reference policy?"""

    name = "mode-collapse"
    description = ("Mode collapse: distinct-1/2, unigram entropy and same-prompt pairwise edit similarity of the "
                   "tuned policy's samples vs the reference policy's (a drop in diversity, a rise in similarity).")

    def measure(self, rows: Rows, log: Rows) -> AuditResult:
        measures = dict(DIVERSITY)
        notes = ["Words are lower-cased whitespace tokens; distinct-n and entropy pool all samples of a side."]
        if min(Counter(str(r["prompt_id"]) for r in rows).values()) >= 2:
            measures["pairwise_similarity"] = similarity
        else:
            notes.append("pairwise_similarity needs audit_samples >= 2 (one sample per prompt here).")
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


class RewardModelAuditor(Auditor):
    """How well the trained reward model reproduces held-out AI labels (and human labels when given)."""

    name = "reward-model"
    description = ("Reward model accuracy: share of held-out AI-labeled pairs (and of human-labeled pairs, when "
                   "human_data is set) whose preferred response the reward model scores higher.")

    def audit(self, ctx: AuditContext) -> AuditResult:
        data = policy_data(ctx) or {}
        metrics = data.get("reward_model") or {}
        if not metrics.get("accuracy_vs_ai"):
            reason = "reward = direct (d-RLAIF): no reward model" if data.get("reward") == "direct" else NO_POLICY
            return AuditResult(status="skipped", reason=reason)
        result = AuditResult()
        for name in ("accuracy_vs_ai", "accuracy_vs_humans"):
            if metrics.get(name):
                found = metrics[name]
                result.metrics[name] = Metric(found["value"], tuple(found["ci"]) if found.get("ci") else None,
                                              found["n"], found.get("method", ""))
        if not metrics.get("accuracy_vs_humans"):
            result.notes.append("No human-labeled set configured (human_data): accuracy vs humans not measured.")
        return result


class RunStagesAuditor(Auditor):
    """Where the run's time and memory went."""

    name = "run-stages"
    description = "Wall time and peak memory of each completed stage of this RLAIF run (all stages: manifest.json)."

    def audit(self, ctx: AuditContext) -> AuditResult:
        stages = (policy_data(ctx) or {}).get("stages") or []
        if not stages:
            return AuditResult(status="skipped", reason=NO_POLICY)
        return AuditResult(
            tables={"stages": list(stages)},
            notes=["Peak memory is the largest resident set sampled every 0.1 s during the stage (CUDA: "
                   "torch.cuda.max_memory_allocated); the audit stage's own figures are in manifest.json."])


AUDITORS = (RewardHackingAuditor, LengthDriftAuditor, ModeCollapseAuditor, PolicyKLAuditor, RewardModelAuditor,
            RunStagesAuditor)
"""The auditors this module defines, registered by the package's plugin."""
