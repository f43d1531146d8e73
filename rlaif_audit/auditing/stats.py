"""Vectorised pair-clustered bootstrap, Wilson and Wald intervals, interval marks and p-values (point estimators and
model fits are in auditing/estimators.py)."""

from __future__ import annotations

import math
import zlib
from typing import Any, Callable

import numpy as np
import pandas as pd

from rlaif_audit.auditing.auditor import Metric

Z95 = 1.959963984540054
StatFn = Callable[[np.ndarray], np.ndarray]
"""A statistic of column sums: takes an array ``(..., k)`` of sums, returns ``(...)``."""

EXACT_CELL_LIMIT = 4096
"""At most this many distinct per-pair rows: resample exactly as a multinomial over the distinct rows."""
DENSE_LIMIT = 20_000_000
"""Up to ``n_pairs * n_bootstrap`` this large: resample pairs exactly by index, in chunks."""
CHUNK_ENTRIES = 1 << 18
"""Resampled indices held in memory at once by the index resampler."""
MIN_N = 30
"""Fewer units than this behind an interval: the interval is marked ``n<30`` and no bias flag is raised on it."""
DEGENERATE = "degenerate"
"""The mark of a zero-width interval (every resample agreed): it is no 95% CI."""
NO_VALID_INTERVAL = "no valid interval"
"""The mark of a metric reported without an interval because no valid one is known (plug-in ECE and MCE)."""


def one_blas_thread() -> Any:
    """A context that runs BLAS single-threaded: the bootstrap's many small products stall on busy cores."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def family_rng(seed: int, family: str) -> np.random.Generator:
    """A generator for one statistic family, reproducible from the audit seed and the family's name."""
    return np.random.default_rng([int(seed), zlib.crc32(family.encode())])


def row_codes(values: np.ndarray, limit: int = EXACT_CELL_LIMIT) -> tuple[np.ndarray, int] | None:
    """An integer code per row (equal rows share a code) and the code count; None past ``limit`` codes.

    Rows are grouped by a random projection, then every row is checked against its
    group's first row, so the codes are exact; a (measure-zero) projection clash
    falls back to column-by-column factorisation.
    """
    values = np.asarray(values, dtype=float)
    values = values if values.ndim == 2 else values.reshape(-1, 1)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), 0
    if not np.isfinite(values).all():
        raise ValueError("per-pair values must be finite")
    weights = np.random.default_rng(12345).uniform(1.0, 2.0, values.shape[1])
    codes, first = pd.factorize((values * weights).sum(axis=1))  # row by row: equal rows, equal sums
    if len(first) > limit:
        return None
    representative = np.zeros(len(first), dtype=np.int64)
    representative[codes[::-1]] = np.arange(len(codes))[::-1]
    if np.array_equal(values, values[representative[codes]]):
        return codes.astype(np.int64), len(first)
    return _column_codes(values, limit)


def _column_codes(values: np.ndarray, limit: int) -> tuple[np.ndarray, int] | None:
    codes = np.zeros(len(values), dtype=np.int64)
    n_codes = 1
    for column in values.T:
        column_codes, uniques = pd.factorize(column)
        if len(uniques) > limit:
            return None
        codes, first = pd.factorize(codes * max(len(uniques), 1) + column_codes)
        n_codes = len(first)
    return (codes, n_codes) if n_codes <= limit else None


def cell_sums(values: np.ndarray, codes: np.ndarray, n_cells: int) -> np.ndarray:
    """Column sums of each cell ``(n_cells, k)``."""
    return np.stack([np.bincount(codes, weights=col, minlength=n_cells) for col in values.T], axis=1)


def cell_moments(values: np.ndarray, codes: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Row count and mean row of each cell."""
    counts = np.bincount(codes, minlength=n_cells).astype(float)
    return counts, cell_sums(values, codes, n_cells) / np.maximum(counts, 1)[:, None]


def expand(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """The block-sparse ``(rows, n_groups·k)`` matrix: row i's values in the block of its group."""
    n, k = values.shape
    out = np.zeros((n, n_groups * k))
    out[np.arange(n)[:, None], groups[:, None] * k + np.arange(k)] = values
    return out


def index_resample_sums(values: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Exact bootstrap sums: pairs drawn by index with replacement, a chunk of resamples per matrix product."""
    n, k = values.shape
    per_chunk = max(1, CHUNK_ENTRIES // n)
    out = np.empty((n_bootstrap, k))
    for start in range(0, n_bootstrap, per_chunk):
        size = min(per_chunk, n_bootstrap - start)
        index = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        counts = np.bincount(index.ravel(), minlength=size * n).reshape(size, n).astype(float)
        out[start : start + size] = counts @ values
    return out


def within_cell_noise(values: np.ndarray, codes: np.ndarray, counts: np.ndarray, means: np.ndarray,
                      draws: np.ndarray, rng: np.random.Generator) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per cell whose rows differ: (columns, normal noise ``(B, len(columns))`` of the resampled cell sum)."""
    squares = np.stack([np.bincount(codes, weights=col**2, minlength=len(counts)) for col in values.T], axis=1)
    mean_square = squares / np.maximum(counts, 1)[:, None]
    varies = mean_square - means**2 > 1e-12 * np.maximum(1.0, mean_square)
    noise: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if not varies.any():
        return noise
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts.astype(np.int64))])
    for cell in np.flatnonzero(varies.any(axis=1)):
        columns = np.flatnonzero(varies[cell])
        block = values[np.ix_(order[bounds[cell] : bounds[cell + 1]], columns)] - means[cell, columns]
        eigval, eigvec = np.linalg.eigh(block.T @ block / len(block))
        keep = eigval > 1e-12 * max(eigval.max(), 1e-300)
        factor = eigvec[:, keep] * np.sqrt(eigval[keep])
        draw = rng.standard_normal((draws.shape[0], int(keep.sum()))) @ factor.T
        noise[int(cell)] = (columns, np.sqrt(draws[:, cell])[:, None] * draw)
    return noise


def quantile_bins(column: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-count bin index (0 … n_bins − 1) of each value, by rank."""
    ranks = np.empty(len(column), dtype=np.int64)
    ranks[np.argsort(column, kind="stable")] = np.arange(len(column))
    return ranks * n_bins // len(column)


def auto_strata(values: np.ndarray, n_bins: int = 32) -> np.ndarray:
    """Cells for the normal-within-cell resampler: discrete columns as they are, others in quantile bins.

    Past ``EXACT_CELL_LIMIT`` cells, quantile bins of the row sums alone.
    """
    parts = []
    for column in values.T:
        column_codes, uniques = pd.factorize(column)
        parts.append(column_codes if len(uniques) <= 64 else quantile_bins(column, n_bins))
    coded = row_codes(np.stack(parts, axis=1))
    return coded[0] if coded is not None else quantile_bins(values.sum(axis=1), n_bins)


class SumBootstrap:
    """Bootstrap replicates of column sums of per-pair values; pairs are resampled with replacement.

    Every statistic an auditor reports is a function of column sums (a ratio of
    counts, a confusion or coincidence matrix, per-bin sums), so one matrix of
    replicate sums ``(n_bootstrap, k)`` serves all statistics of a family and no
    Python loop runs per resample. With ``groups`` (an integer per pair, e.g. a
    bin or a metadata level) the sums are taken per group: column ``g·k + j``
    holds the sum of column j over group g. Three resamplers:

    * ``exact-cells``: at most 4,096 distinct (group, row) values — multinomial
      counts over the distinct rows (exact, any n);
    * ``exact-index``: ``n·B ≤ 2e7`` — indices drawn with replacement, in chunks;
    * ``cells-normal``: larger continuous data — multinomial counts over cells of
      similar pairs (``strata`` within groups), normal sums within cells.

    ``discrete=False`` skips the distinct-row check when the caller knows the
    values are continuous.
    """

    def __init__(self, values: np.ndarray, *, n_bootstrap: int, rng: np.random.Generator,
                 groups: np.ndarray | None = None, n_groups: int | None = None, strata: np.ndarray | None = None,
                 dense_limit: int = DENSE_LIMIT, discrete: bool | None = None) -> None:
        values = np.asarray(values, dtype=float)
        self.values = values if values.ndim == 2 else values.reshape(-1, 1)
        self.n, self.k = self.values.shape
        self.groups = np.zeros(self.n, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
        self.n_groups = int(n_groups if n_groups is not None else (self.groups.max() + 1 if self.n else 1))
        self.n_bootstrap = n_bootstrap
        self.total = self._group_sums(self.values, self.groups)
        self.cells: tuple[np.ndarray, int] | None = None
        with one_blas_thread():
            self.replicates, self.kind = self._resample(rng, strata, dense_limit, discrete)

    def _group_sums(self, values: np.ndarray, groups: np.ndarray) -> np.ndarray:
        if self.n_groups == 1:
            return values.sum(axis=0)
        return cell_sums(values, groups, self.n_groups).ravel()

    def _resample(self, rng: np.random.Generator, strata: np.ndarray | None, dense_limit: int,
                  discrete: bool | None) -> tuple[np.ndarray, str]:
        if self.n == 0:
            return np.full((self.n_bootstrap, self.n_groups * self.k), np.nan), "none"
        keyed = np.column_stack([self.groups, self.values])
        self.cells = None if discrete is False else row_codes(keyed)
        if self.cells is not None:
            return self._cell_sums(*self.cells, rng, within=False), "exact-cells"
        if self.n * self.n_bootstrap <= dense_limit:
            expanded = self.values if self.n_groups == 1 else expand(self.values, self.groups, self.n_groups)
            return index_resample_sums(expanded, self.n_bootstrap, rng), "exact-index"
        base = strata if strata is not None else auto_strata(self.values)
        coded = row_codes(np.column_stack([self.groups, np.asarray(base)]), limit=self.n)
        assert coded is not None
        return self._cell_sums(*coded, rng, within=True), "cells-normal"

    def _cell_sums(self, codes: np.ndarray, n_cells: int, rng: np.random.Generator, within: bool) -> np.ndarray:
        counts, means = cell_moments(self.values, codes, n_cells)
        cell_group = np.zeros(n_cells, dtype=np.int64)
        cell_group[codes] = self.groups
        draws = rng.multinomial(self.n, counts / counts.sum(), size=self.n_bootstrap).astype(float)
        out = draws @ expand(means, cell_group, self.n_groups)
        if within:
            for cell, (columns, noise) in within_cell_noise(self.values, codes, counts, means, draws, rng).items():
                out[:, cell_group[cell] * self.k + columns] += noise
        return out

    def describe(self, ci_method: str) -> str:
        """The method note a Metric carries."""
        how = {"exact-cells": "exact, multinomial over distinct rows", "exact-index": "exact, index resampling",
               "cells-normal": "multinomial over cells of similar pairs, normal sums within cells",
               "none": "no data"}[self.kind]
        return f"pair-clustered bootstrap {ci_method} 95% CI, B={self.n_bootstrap} ({how})"

    def jackknife(self, stat: StatFn, chunk: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-pair-out values of ``stat`` and their weights (one per distinct row when exact)."""
        if self.cells is not None:
            codes, n_cells = self.cells
            counts, means = cell_moments(self.values, codes, n_cells)
            cell_group = np.zeros(n_cells, dtype=np.int64)
            cell_group[codes] = self.groups
            return stat(self.total - expand(means, cell_group, self.n_groups)), counts
        parts = [stat(self.total - expand(self.values[i : i + chunk], self.groups[i : i + chunk], self.n_groups))
                 for i in range(0, self.n, chunk)]
        return np.concatenate(parts), np.ones(self.n)

    def metric(self, stat: StatFn, n: int, ci_method: str = "percentile",
               bounds: tuple[float, float] | None = None) -> Metric:
        """``stat`` at the full sample with its bootstrap 95% CI (``percentile`` or ``bca``).

        ``bounds``: the statistic's range, for shares and rates. When every resample
        gives the same boundary value (e.g. 400 of 400 verdicts for the first slot),
        the bootstrap interval collapses to a point; the Wilson interval over the
        independent units (at most the number of pairs) replaces it.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            value = float(stat(self.total))
            replicates = np.asarray(stat(self.replicates), dtype=float)
            if not math.isfinite(value) or n == 0:
                return Metric(None, None, int(n), self.describe(ci_method))
            if ci_method == "bca":
                ci = bca_interval(value, replicates, *self.jackknife(stat))
            else:
                ci = percentile_interval(replicates)
        if bounds is not None and ci is not None and ci[0] == ci[1] and value in bounds:
            return marked(Metric(value, boundary_interval(value, bounds, min(int(n), self.n)), int(n),
                                 self.describe(ci_method) + "; Wilson at the boundary"))
        return marked(Metric(value, ci, int(n), self.describe(ci_method)))

    def p_value(self, stat: StatFn, null: float) -> float | None:
        """Two-sided bootstrap p-value of ``stat = null``: twice the smaller tail share of the replicates at ``null``.

        The percentile interval's inversion (the 95% percentile CI excludes ``null`` about when p < 0.05);
        replicates equal to ``null`` count half to each tail, and (k + 1)/(B + 1) keeps p above 0.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            replicates = np.asarray(stat(self.replicates), dtype=float)
        finite = replicates[np.isfinite(replicates)]
        if len(finite) < max(2, len(replicates) // 2):
            return None
        ties = 0.5 * np.sum(finite == null)
        tail = min(np.sum(finite < null) + ties, np.sum(finite > null) + ties)
        return float(min(1.0, 2 * (tail + 1) / (len(finite) + 1)))


def interval_note(metric: Metric) -> str:
    """The mark a metric's interval needs: its own note, ``degenerate`` (zero width), ``n<MIN_N``, or none.

    Marks combine (``degenerate; n<30``).
    """
    marks = [mark for mark in (metric.note or "").split("; ") if mark]
    if metric.ci is not None and metric.value is not None:
        low, high = metric.ci
        if low is not None and high is not None and low == high and DEGENERATE not in marks:
            marks.append(DEGENERATE)
        if metric.n < MIN_N and not any(m.startswith("n<") for m in marks):
            marks.append(f"n<{MIN_N}")
    return "; ".join(marks)


def marked(metric: Metric) -> Metric:
    """The metric with its interval marked (:func:`interval_note`)."""
    return Metric(metric.value, metric.ci, metric.n, metric.method, interval_note(metric))


def boundary_interval(value: float, bounds: tuple[float, float], units: int) -> tuple[float, float] | None:
    """Wilson interval of a share at the edge of its range, mapped onto ``bounds``."""
    low, high = bounds
    interval = wilson_interval((value - low) / (high - low) * units, units)
    if interval is None:
        return None
    return low + interval[0] * (high - low), low + interval[1] * (high - low)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of the finite replicates; None when fewer than half are finite."""
    finite = replicates[np.isfinite(replicates)]
    if len(finite) < max(2, len(replicates) // 2):
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bca_interval(value: float, replicates: np.ndarray, jack_values: np.ndarray, jack_weights: np.ndarray,
                 level: float = 0.95) -> tuple[float, float] | None:
    """Bias-corrected and accelerated interval (Efron 1987); falls back to percentile when degenerate.

    The bias correction counts replicates equal to the estimate as half below it
    (mid-rank), which keeps discrete statistics from being pushed to one side.
    """
    from scipy.special import ndtr, ndtri

    finite = replicates[np.isfinite(replicates)]
    keep = np.isfinite(jack_values)
    if len(finite) < max(2, len(replicates) // 2) or not keep.any():
        return None
    below = (np.sum(finite < value) + 0.5 * np.sum(finite == value)) / len(finite)
    z0 = ndtri(below)
    weights = jack_weights[keep]
    centred = np.average(jack_values[keep], weights=weights) - jack_values[keep]
    spread = np.sum(weights * centred**2)
    accel = np.sum(weights * centred**3) / (6 * spread**1.5) if spread > 0 else 0.0
    z_tail = ndtri(np.array([(1 - level) / 2, (1 + level) / 2]))
    alphas = ndtr(z0 + (z0 + z_tail) / (1 - accel * (z0 + z_tail)))
    if not np.all(np.isfinite(alphas)):
        return percentile_interval(replicates, level)
    low, high = np.percentile(finite, alphas * 100)
    return float(low), float(high)


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a binomial proportion; None when ``n`` is 0."""
    if n <= 0:
        return None
    share = successes / n
    denominator = 1 + z**2 / n
    centre = (share + z**2 / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z**2 / (4 * n**2)) / denominator
    low = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact 0, not rounding noise, at the edges
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high


def proportion_metric(successes: float, n: int) -> Metric:
    """A share of independent pairs with its Wilson 95% interval (marked below ``MIN_N`` pairs)."""
    value = successes / n if n else None
    return marked(Metric(value, wilson_interval(successes, n), int(n), "Wilson score 95% CI (pairs independent)"))


class Columns:
    """Named blocks of a per-pair value matrix: statistics address their sums by name, never by column position.

    ``Columns({"correct": correct, "confusion": confusion_9})`` stacks the blocks (1-D blocks are one column);
    ``values`` goes to :class:`SumBootstrap`; ``sums(s, "confusion")`` is that block of any array of column sums
    (the full sample's or the replicates'), a single column for a one-column block. With ``groups``, the
    bootstrap's sums hold one copy of every column per group; ``sums(s, name, group)`` reads that group's.
    """

    def __init__(self, blocks: dict[str, np.ndarray]) -> None:
        self.slices: dict[str, slice] = {}
        parts, start = [], 0
        for name, block in blocks.items():
            block = np.asarray(block, dtype=float)
            block = block.reshape(len(block), -1)
            self.slices[name] = slice(start, start + block.shape[1])
            parts.append(block)
            start += block.shape[1]
        self.values = np.hstack(parts)
        self.width = start

    def sums(self, sums: np.ndarray, name: str, group: int = 0) -> np.ndarray:
        """The named block of ``sums`` (of ``group``), ``(..., block width)``; a one-column block as ``(...)``."""
        where, offset = self.slices[name], group * self.width
        if where.stop - where.start == 1:
            return sums[..., offset + where.start]
        return sums[..., offset + where.start : offset + where.stop]

    def ratio(self, numerator: str, denominator: str, group: int = 0) -> StatFn:
        """The statistic ``sums[numerator] / sums[denominator]`` of two one-column blocks (of ``group``)."""
        return lambda sums: self.sums(sums, numerator, group) / self.sums(sums, denominator, group)


def ratio(numerator: int, denominator: int) -> StatFn:
    """The statistic ``sums[numerator] / sums[denominator]``."""
    return lambda sums: sums[..., numerator] / sums[..., denominator]


def wald_metric(value: float, se: float, n: int, method: str) -> Metric:
    """A Metric with the normal-theory 95% interval ``value ± 1.96·se``."""
    if not (math.isfinite(value) and math.isfinite(se)):
        return Metric(None, None, int(n), method)
    return marked(Metric(value, (value - Z95 * se, value + Z95 * se), int(n), method))


def weighted_squared_means(groups: np.ndarray, values: np.ndarray, n_groups: int) -> tuple[float, float]:
    """Unbiased estimate of Σ_g (n_g/N)·μ_g² (μ_g the mean of ``values`` in group g) and its variance.

    Per group ``d̄_g² − s_g²/n_g`` (s² with ddof 1) removes the upward bias ``Var(d̄_g)`` of the plug-in square;
    its variance ``4·μ_g²·σ_g²/n_g + 2·σ_g⁴/(n_g(n_g − 1))`` (normal theory: exact for the second term) is
    estimated with ``max(0, d̄_g² − s_g²/n_g)`` for μ_g². Groups of fewer than two values contribute 0
    (Kumar, Liang & Ma 2019, "Verified uncertainty calibration", debiased estimator).
    """
    count = np.bincount(groups, minlength=n_groups).astype(float)
    total = np.bincount(groups, weights=values, minlength=n_groups)
    squares = np.bincount(groups, weights=values**2, minlength=n_groups)
    used = count >= 2
    n, mean = count[used], total[used] / count[used]
    variance = np.maximum(squares[used] - n * mean**2, 0.0) / (n - 1)
    squared_mean = mean**2 - variance / n
    weight = n / len(values)
    estimate = float(np.sum(weight * squared_mean))
    spread = 4 * np.maximum(squared_mean, 0.0) * variance / n + 2 * variance**2 / (n * (n - 1))
    return estimate, float(np.sum(weight**2 * spread))


def wald_p_value(value: float, se: float, null: float) -> float | None:
    """Two-sided normal-theory p-value of ``value = null`` given its standard error."""
    from scipy.stats import norm

    if not (math.isfinite(value) and math.isfinite(se)) or se <= 0:
        return None
    return float(2 * norm.sf(abs(value - null) / se))


def excludes(metric: Metric, null: float) -> bool:
    """True when the metric's CI lies wholly on one side of ``null``."""
    return metric.ci is not None and (metric.ci[0] > null or metric.ci[1] < null)
