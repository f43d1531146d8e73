"""Cross-generation bias propagation: each generation's evaluator on the same probe pairs, compared over generations.

Inputs are the probe pairs (metadata ``suite``, ``expected``, ``probe_kind``; ``own`` on self-preference probes) and,
per generation g = 0..G, that generation's evaluator judgments of them in both orders, plus an optional pinned
reference evaluator's. Every statistic is a function of per-probe column sums, so one pair-clustered bootstrap over
probes (auditing/stats.py) gives the per-generation intervals, the paired differences and the trend at once: the
resampled probes are the same in every generation. Definitions and sources: docs/audit.md, "Cross-generation
propagation".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from rlaif_audit.auditing.auditor import Metric
from rlaif_audit.auditing.probe_set import (
    DEFAULT_STABLE_MARGIN, NO_SIDE, GenerationJudgments,
    ProbeSet)
from rlaif_audit.auditing.stats import Columns, SumBootstrap, family_rng, percentile_interval, wilson_interval
from rlaif_audit.auditing.estimators import cohen_kappa_from_confusion
from rlaif_audit.records.preference import CHOICE_A, CHOICE_B, choice_codes, content_choice, pair_p_a

if TYPE_CHECKING:
    pass

CONFIDENT = 0.9
"""A judgment is confidently wrong when it gives the wrong response P ≥ 0.9."""
POWER = 0.8
"""The power at which the minimum detectable effect is stated."""
ALPHA = 0.05
"""The false discovery rate of the Benjamini–Hochberg family (biases × generations)."""


@dataclass(frozen=True)
class Measure:
    """One per-generation measure: its name, whether up is worse (+1) or better (−1), and whether it gets a verdict."""

    name: str
    worse: int
    verdict: bool = True
    bounds: tuple[float, float] | None = (0.0, 1.0)


MEASURES = (
    Measure("known_answer_accuracy", -1),
    Measure("padded_wins_rate", +1),
    Measure("position_consistency", -1),
    Measure("first_slot_rate", 0, verdict=False),
    Measure("confidently_wrong_rate", +1),
    Measure("self_preference_excess", +1, bounds=(-1.0, 1.0)),
    Measure("anchor_agreement", -1),
    Measure("anchor_kappa", -1, bounds=(-1.0, 1.0)),
)
MEASURE_BY_NAME = {measure.name: measure for measure in MEASURES}


# ------------------------------------------------------------------------------------------------ per-probe values


def probe_columns(probes: ProbeSet, judged: GenerationJudgments, tie_band: float = 0.0) -> dict[str, np.ndarray]:
    """Per-probe numerators and denominators of every measure for one evaluator (0/1 indicators, NaN-free)."""
    p_a = pair_p_a(judged.p_first_ab, judged.p_first_ba, judged.prob_ab, judged.prob_ba)
    choice = np.where(np.isfinite(p_a), choice_codes(np.nan_to_num(p_a, nan=0.5), tie_band), NO_SIDE)
    judged_ok = np.isfinite(p_a)
    known, padding, anchors, own = probes.known_answer(), probes.padding(), probes.anchors(), probes.self_preference()
    has_expected = (probes.expected >= 0) & judged_ok
    p_wrong = np.where(probes.expected == CHOICE_A, 1 - np.nan_to_num(p_a, nan=0.5), np.nan_to_num(p_a, nan=0.5))
    slot_ab = choice_codes(judged.p_first_ab, tie_band)
    slot_ba = choice_codes(judged.p_first_ba, tie_band)
    both = (slot_ab >= 0) & (slot_ba >= 0)
    decisive = (slot_ab == CHOICE_A).astype(float) + (slot_ab == CHOICE_B) + (slot_ba == CHOICE_A) + (slot_ba == CHOICE_B)
    consistent = both & (content_choice(slot_ab, "ab") == content_choice(slot_ba, "ba"))  # tie/tie too (Shi et al.)
    correct = choice == probes.expected
    columns = {
        "known_n": known & judged_ok, "known_correct": known & judged_ok & correct,
        "padding_n": padding & judged_ok, "padding_win": padding & judged_ok & (choice == 1 - probes.expected),
        "position_n": both, "position_consistent": consistent,
        "slot_decisive": decisive, "slot_first": (slot_ab == CHOICE_A).astype(float) + (slot_ba == CHOICE_A),
        "expected_n": has_expected, "confident_wrong": has_expected & (p_wrong >= CONFIDENT),
        "wrong": has_expected & ~correct,
        "own_n": own & judged_ok, "own_win": own & judged_ok & (choice == probes.own),
        "anchor_n": anchors & judged_ok & (choice != 2), "anchor_agree": anchors & judged_ok & correct,
    }
    for human in (CHOICE_A, CHOICE_B):
        for judge in (CHOICE_A, CHOICE_B):
            columns[f"anchor_{human}{judge}"] = anchors & (probes.expected == human) & (choice == judge)
    return {name: np.asarray(values, dtype=float) for name, values in columns.items()}


def measure_stat(name: str, columns: Columns, g: str, reference: str | None) -> Any:
    """The statistic (of column sums) of measure ``name`` for evaluator block ``g``."""
    def rate(num: str, den: str, block: str = g) -> Any:
        return lambda s: columns.sums(s, f"{block}:{num}") / columns.sums(s, f"{block}:{den}")

    if name == "self_preference_excess":
        own = rate("own_win", "own_n")
        if reference is None:
            return lambda s: own(s) - 0.5
        ref = rate("own_win", "own_n", reference)
        return lambda s: own(s) - ref(s)
    if name == "anchor_kappa":
        keys = [f"{g}:anchor_{h}{j}" for h in (CHOICE_A, CHOICE_B) for j in (CHOICE_A, CHOICE_B)]
        return lambda s: cohen_kappa_from_confusion(np.stack([columns.sums(s, k) for k in keys], axis=-1), 2)
    return {"known_answer_accuracy": rate("known_correct", "known_n"),
            "padded_wins_rate": rate("padding_win", "padding_n"),
            "position_consistency": rate("position_consistent", "position_n"),
            "first_slot_rate": rate("slot_first", "slot_decisive"),
            "confidently_wrong_rate": rate("confident_wrong", "expected_n"),
            "anchor_agreement": rate("anchor_agree", "anchor_n")}[name]


MEASURE_DENOMINATOR = {"known_answer_accuracy": "known_n", "padded_wins_rate": "padding_n",
                       "position_consistency": "position_n", "first_slot_rate": "position_n",
                       "confidently_wrong_rate": "expected_n", "self_preference_excess": "own_n",
                       "anchor_agreement": "anchor_n", "anchor_kappa": "anchor_n"}


# ------------------------------------------------------------------------------------------------ results


@dataclass
class Difference:
    """A paired difference of one measure between two generations (later − earlier)."""

    measure: str
    later: int
    earlier: int
    metric: Metric
    p_value: float
    test: str
    se: float = math.nan
    p_adjusted: float | None = None

    def row(self) -> dict[str, Any]:
        low, high = self.metric.ci or (None, None)
        return {"measure": self.measure, "generation": self.later, "baseline": self.earlier,
                "difference": self.metric.value, "ci_low": low, "ci_high": high, "n": self.metric.n,
                "se": self.se, "p_value": self.p_value, "p_adjusted": self.p_adjusted, "test": self.test}


@dataclass
class Trend:
    """The OLS slope of a measure over generations with its cluster-bootstrap CI, p-value, MDE and verdict."""

    measure: str
    metric: Metric
    se: float
    p_value: float
    mde: float
    p_adjusted: float | None = None
    verdict: str = "inconclusive"
    mde_overall: float = math.nan
    """The minimum detectable last-generation − gen-0 difference (two-sided α = 0.05, power 0.8)."""

    def row(self) -> dict[str, Any]:
        low, high = self.metric.ci or (None, None)
        return {"measure": self.measure, "slope": self.metric.value, "ci_low": low, "ci_high": high,
                "se": self.se, "p_value": self.p_value, "p_adjusted": self.p_adjusted,
                "min_detectable_slope": self.mde, "min_detectable_change": self.mde_overall,
                "verdict": self.verdict}


@dataclass
class InheritedStep:
    """P(E_{g+1} wrong | E_g wrong) against P(E_{g+1} wrong | E_g right) on the probes with an expected answer."""

    earlier: int
    table: np.ndarray
    p_wrong_after_wrong: Metric
    p_wrong_after_right: Metric
    odds_ratio: Metric

    def row(self) -> dict[str, Any]:
        def cells(metric: Metric) -> tuple[Any, Any, Any]:
            low, high = metric.ci or (None, None)
            return metric.value, low, high
        ww, wl, wh = cells(self.p_wrong_after_wrong)
        rw, rl, rh = cells(self.p_wrong_after_right)
        odds, ol, oh = cells(self.odds_ratio)
        return {"step": f"{self.earlier}->{self.earlier + 1}", "wrong_wrong": int(self.table[0, 0]),
                "wrong_right": int(self.table[0, 1]), "right_wrong": int(self.table[1, 0]),
                "right_right": int(self.table[1, 1]), "p_wrong_after_wrong": ww, "ci_low_after_wrong": wl,
                "ci_high_after_wrong": wh, "p_wrong_after_right": rw, "ci_low_after_right": rl,
                "ci_high_after_right": rh, "odds_ratio": odds, "or_ci_low": ol, "or_ci_high": oh}


@dataclass
class PropagationResult:
    """Everything the propagation auditor reports."""

    n_generations: int
    n_probes: int
    per_generation: dict[str, list[Metric]] = field(default_factory=dict)
    reference: dict[str, Metric] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    trends: dict[str, Trend] = field(default_factory=dict)
    inherited: list[InheritedStep] = field(default_factory=list)
    inherited_pooled: Metric | None = None
    inherited_pooled_bootstrap: Metric | None = None
    inherited_p_value: float | None = None
    method: str = ""

    def verdicts(self) -> dict[str, str]:
        return {name: trend.verdict for name, trend in self.trends.items()}


# ------------------------------------------------------------------------------------------------ analysis


def stacked_columns(probes: ProbeSet, generations: Sequence[GenerationJudgments],
                    reference: GenerationJudgments | None, tie_band: float) -> Columns:
    """One Columns matrix: every generation's (and the reference's) per-probe values, plus inherited-error cells."""
    blocks: dict[str, np.ndarray] = {}
    per_gen = [probe_columns(probes, judged, tie_band) for judged in generations]
    for g, columns in enumerate(per_gen):
        blocks.update({f"{g}:{name}": values for name, values in columns.items()})
    if reference is not None:
        blocks.update({f"ref:{name}": v for name, v in probe_columns(probes, reference, tie_band).items()})
    for g in range(len(per_gen) - 1):
        before, after = per_gen[g], per_gen[g + 1]
        both = before["expected_n"] * after["expected_n"]
        for row, was_wrong in (("w", before["wrong"]), ("r", 1 - before["wrong"])):
            for col, is_wrong in (("w", after["wrong"]), ("r", 1 - after["wrong"])):
                blocks[f"step{g}:{row}{col}"] = both * was_wrong * is_wrong
    return Columns(blocks)


def measured(columns: Columns, g: int, name: str) -> int:
    """How many probes the measure ``name`` of generation ``g`` rests on."""
    return int(columns.sums(columns.values.sum(axis=0), f"{g}:{MEASURE_DENOMINATOR[name]}"))


def bootstrap_p(value: float, replicates: np.ndarray) -> tuple[float, float]:
    """Bootstrap standard error and the two-sided normal p-value of ``value`` against 0."""
    from scipy.stats import norm

    finite = replicates[np.isfinite(replicates)]
    se = float(np.std(finite, ddof=1)) if len(finite) > 2 else math.nan
    if not math.isfinite(value) or not math.isfinite(se):
        return se, math.nan
    if se == 0:
        return se, 1.0 if value == 0 else 0.0
    return se, float(2 * norm.sf(abs(value) / se))


def mcnemar_exact(correct_later: np.ndarray, correct_earlier: np.ndarray, valid: np.ndarray) -> float:
    """McNemar's exact (binomial) p-value for paired correct/incorrect outcomes (statsmodels)."""
    from statsmodels.stats.contingency_tables import mcnemar

    later, earlier = correct_later[valid].astype(bool), correct_earlier[valid].astype(bool)
    table = [[np.sum(earlier & later), np.sum(earlier & ~later)], [np.sum(~earlier & later), np.sum(~earlier & ~later)]]
    if table[0][1] + table[1][0] == 0:
        return 1.0
    return float(mcnemar(table, exact=True).pvalue)


def analyse(probes: ProbeSet, generations: Sequence[GenerationJudgments], *,
            reference: GenerationJudgments | None = None, n_bootstrap: int = 2000, seed: int = 0,
            tie_band: float = 0.0, stable_margin: float = DEFAULT_STABLE_MARGIN) -> PropagationResult:
    """Per-generation measures with CIs, paired differences, trends with verdicts and the inherited-error odds ratio."""
    if len(generations) < 1:
        raise ValueError("propagation needs at least one generation's judgments")
    columns = stacked_columns(probes, generations, reference, tie_band)
    boot = SumBootstrap(columns.values, n_bootstrap=n_bootstrap, rng=family_rng(seed, "propagation"))
    ref_block = "ref" if reference is not None else None
    result = PropagationResult(len(generations), probes.n, method=boot.describe("percentile"))
    stats: dict[str, list[Any]] = {}
    for measure in MEASURES:
        if measured(columns, 0, measure.name) == 0:
            continue
        stats[measure.name] = [measure_stat(measure.name, columns, str(g), ref_block) for g in range(len(generations))]
        result.per_generation[measure.name] = [boot.metric(stat, measured(columns, g, measure.name),
                                                           bounds=measure.bounds)
                                               for g, stat in enumerate(stats[measure.name])]
        if reference is not None and measure.name != "self_preference_excess":
            result.reference[measure.name] = boot.metric(measure_stat(measure.name, columns, "ref", None),
                                                         measured(columns, 0, measure.name), bounds=measure.bounds)
    result.differences = paired_differences(boot, columns, stats, probes, len(generations))
    result.trends = {name: trend(boot, name, fns, stable_margin) for name, fns in stats.items()
                     if MEASURE_BY_NAME[name].verdict and len(fns) >= 2}
    inherited_error(result, boot, columns, len(generations))
    adjust_and_decide(result, stable_margin)
    return result


def paired_differences(boot: SumBootstrap, columns: Columns, stats: dict[str, list[Any]], probes: ProbeSet,
                       n_generations: int) -> list[Difference]:
    """Later − earlier for consecutive generations and for every generation against gen-0, same probes resampled."""
    out: list[Difference] = []
    pairs = sorted({(g, g - 1) for g in range(1, n_generations)} | {(g, 0) for g in range(2, n_generations)})
    for name, fns in stats.items():
        for later, earlier in pairs:
            def diff(s: np.ndarray, a: Any = fns[later], b: Any = fns[earlier]) -> np.ndarray:
                return a(s) - b(s)
            n = min(measured(columns, later, name), measured(columns, earlier, name))
            metric = boot.metric(diff, n)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = float(diff(boot.total))
                se, p_value = bootstrap_p(value, np.asarray(diff(boot.replicates), dtype=float))
            test = "bootstrap (normal, bootstrap SE)"
            if name == "known_answer_accuracy":
                valid = (columns.sums(columns.values, f"{later}:known_n") > 0) & \
                        (columns.sums(columns.values, f"{earlier}:known_n") > 0)
                p_value = mcnemar_exact(columns.sums(columns.values, f"{later}:known_correct"),
                                        columns.sums(columns.values, f"{earlier}:known_correct"), valid)
                test = "McNemar exact"
            out.append(Difference(name, later, earlier, metric, p_value, test, se))
    return out


def slope_weights(n_generations: int) -> np.ndarray:
    """OLS slope weights over g = 0..G: slope = Σ w_g·y_g with w_g = (g − ḡ)/Σ(g − ḡ)²."""
    steps = np.arange(n_generations, dtype=float)
    centred = steps - steps.mean()
    return centred / np.sum(centred**2)


def trend(boot: SumBootstrap, name: str, fns: list[Any], stable_margin: float) -> Trend:
    """The slope of a measure over generations: value, percentile CI over resampled probes, p-value and MDE."""
    weights = slope_weights(len(fns))
    def slope(s: np.ndarray) -> np.ndarray:
        return sum(w * fn(s) for w, fn in zip(weights, fns))
    with np.errstate(invalid="ignore", divide="ignore"):
        value = float(slope(boot.total))
        replicates = np.asarray(slope(boot.replicates), dtype=float)
    se, p_value = bootstrap_p(value, replicates)
    ci = percentile_interval(replicates) if math.isfinite(value) else None
    metric = Metric(value if math.isfinite(value) else None, ci, boot.n,
                    "OLS slope per generation, " + boot.describe("percentile"))
    return Trend(name, metric, se, p_value, detectable(se))


def detectable(se: float) -> float:
    """The minimum detectable effect of a normal test with this standard error: (z_{1−α/2} + z_power)·se."""
    from scipy.stats import norm

    return float((norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER)) * se) if math.isfinite(se) else math.nan


def inherited_error(result: PropagationResult, boot: SumBootstrap, columns: Columns, n_generations: int) -> None:
    """Per-step conditional error rates and odds ratios; the Mantel–Haenszel pooled OR (statsmodels) and its bootstrap."""
    from statsmodels.stats.contingency_tables import StratifiedTable, Table2x2

    totals = columns.values.sum(axis=0)
    tables = []
    for g in range(n_generations - 1):
        table = np.array([[columns.sums(totals, f"step{g}:{r}{c}") for c in "wr"] for r in "wr"], dtype=float)
        tables.append(table)
        fitted = Table2x2(table, shift_zeros=True)
        odds = (Metric(float(fitted.oddsratio), tuple(map(float, fitted.oddsratio_confint())), int(table.sum()),
                       "Woolf log odds-ratio 95% CI (statsmodels Table2x2; 0.5 added to every cell when one is 0)")
                if table.sum() > 0 else Metric(None, None, 0))
        result.inherited.append(InheritedStep(
            g, table, conditional_rate(table[0]), conditional_rate(table[1]), odds))
    usable = [t for t in tables if t.sum(axis=1).min() > 0 and t.sum(axis=0).min() > 0]
    if not usable:
        return
    stratified = StratifiedTable(np.stack(usable, axis=-1) + (0.5 if any((t == 0).any() for t in usable) else 0.0))
    result.inherited_pooled = Metric(float(stratified.oddsratio_pooled),
                                     tuple(map(float, stratified.oddsratio_pooled_confint())),
                                     int(sum(t.sum() for t in usable)),
                                     "Mantel–Haenszel pooled odds ratio over consecutive steps, Robins–Breslow–"
                                     "Greenland 95% CI (statsmodels StratifiedTable; strata treated as independent)")
    result.inherited_p_value = float(stratified.test_null_odds().pvalue)
    steps = [g for g, t in enumerate(tables) if t.sum(axis=1).min() > 0 and t.sum(axis=0).min() > 0]

    def pooled(s: np.ndarray) -> np.ndarray:
        numerator: Any = 0.0
        denominator: Any = 0.0
        for g in steps:
            ww, wr, rw, rr = (columns.sums(s, f"step{g}:{key}") for key in ("ww", "wr", "rw", "rr"))
            n = ww + wr + rw + rr
            numerator = numerator + ww * rr / n
            denominator = denominator + wr * rw / n
        return numerator / denominator
    result.inherited_pooled_bootstrap = boot.metric(pooled, result.inherited_pooled.n)
    result.inherited_pooled_bootstrap.method = ("Mantel–Haenszel pooled odds ratio, probe-clustered bootstrap "
                                                "95% CI (the same probes in every step)")


def conditional_rate(row: np.ndarray) -> Metric:
    """P(wrong next | this row's state) with its Wilson interval."""
    n = int(row.sum())
    return Metric(float(row[0] / n) if n else None, wilson_interval(float(row[0]), n), n, "Wilson score 95% CI")


def adjust_and_decide(result: PropagationResult, stable_margin: float) -> None:
    """BH across biases × generations (the trends and every paired difference of a verdict measure); then verdicts."""
    tested_differences = [d for d in result.differences if MEASURE_BY_NAME[d.measure].verdict]
    trends = list(result.trends.values())
    from rlaif_audit.auditing.flags import bh_adjust

    adjusted = bh_adjust([t.p_value for t in trends] + [d.p_value for d in tested_differences])
    for item, p_adjusted in zip(trends + tested_differences, adjusted):
        item.p_adjusted = p_adjusted
    last = result.n_generations - 1
    for item in trends:
        overall = next(d for d in tested_differences if d.measure == item.measure and d.later == last and d.earlier == 0)
        item.mde_overall = detectable(overall.se)
        item.verdict = verdict(item, overall, MEASURE_BY_NAME[item.measure].worse, stable_margin)


def verdict(item: Trend, overall: Difference, worse: int, stable_margin: float) -> str:
    """The verdict on one bias from its trend and its last-generation-minus-gen-0 difference (both BH-adjusted).

    amplifying: a test is significant in the direction that worsens the bias and none in the other; fading: the
    reverse; stable: nothing significant and the minimum detectable last − gen-0 change is within
    ``stable_margin``; inconclusive otherwise (including significant changes in both directions).
    """
    signs = set()
    for value, p_adjusted in ((item.metric.value, item.p_adjusted), (overall.metric.value, overall.p_adjusted)):
        if value is not None and p_adjusted is not None and math.isfinite(p_adjusted) and p_adjusted < ALPHA:
            signs.add(1 if value * worse > 0 else -1)
    if signs == {1}:
        return "amplifying"
    if signs == {-1}:
        return "fading"
    if not signs and item.metric.value is not None and math.isfinite(item.mde_overall) \
            and item.mde_overall <= stable_margin:
        return "stable"
    return "inconclusive"
