"""The leaderboard's statistics, as plain functions over per-scenario means.

A row is a (model, prompt) pair; its data are its mean composite per scenario. Rows are
compared *paired*, on the scenarios they share.

The array-level methods behind `services/reporter/ranking.py` (see docs/statistics.md):
Student-t intervals with Hall's skewness correction, a max-T permutation test over all
pairs of rows, bootstrap rank intervals, BCa intervals, and what a design can detect.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations as orderings
from itertools import product
from statistics import NormalDist
from typing import TypeVar

import numpy as np
import numpy.typing as npt

K = TypeVar("K", bound=Hashable)
ScenarioMeans = Mapping[str, float]  # scenario id -> mean composite of a row there

BOOTSTRAP_SEED = 20260101
CI_LEVEL = 0.95
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PERMUTATIONS = 1000  # sampled when the design has more; p >= 1/1001
EXACT_PERMUTATIONS_UP_TO = 5000  # enumerate the whole permutation group when this small
RANK_BOOTSTRAP_ROUNDS = 2000
_CELLS_PER_BATCH = 2_000_000  # permuted values held at once: bounds the memory to ~50 MB
# Relative tolerances: a permuted t this close to the observed one counts as "as extreme",
# and differences whose spread is this small next to their size count as constant (t = inf).
_TIE = 1e-9
_TIE_SINGLE = 1e-5  # the same in single precision


def _t_cdf_two_sided(x: float, df: int) -> float:
    """P(|T| <= x) for Student's t with integer df (Abramowitz & Stegun 26.7.3-4, exact)."""
    theta = math.atan(x / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2 == 1:
        if df == 1:
            return 2 * theta / math.pi
        steps = np.arange(1, (df - 1) // 2)
        factors = np.concatenate(([math.cos(theta)], cos2 * 2 * steps / (2 * steps + 1)))
        return 2 / math.pi * (theta + math.sin(theta) * float(np.cumprod(factors).sum()))
    steps = np.arange(1, df // 2)
    factors = np.concatenate(([1.0], cos2 * (2 * steps - 1) / (2 * steps)))
    return math.sin(theta) * float(np.cumprod(factors).sum())


@lru_cache(maxsize=4096)
def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with df degrees of freedom (df a positive integer)."""
    if not 0 < p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df >= 1, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    z = NormalDist().inv_cdf(p)
    if df > 1000:  # Cornish-Fisher expansion (A&S 26.7.5): error below 1e-10 here
        v = float(df)
        return (
            z
            + (z**3 + z) / (4 * v)
            + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
        )
    target = 2 * p - 1  # P(|T| <= q)
    low, high = 0.0, max(1.0, z)
    while _t_cdf_two_sided(high, df) < target:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if _t_cdf_two_sided(middle, df) < target:
            low = middle
        else:
            high = middle
        if high - low <= 1e-13 * high:
            break
    return (low + high) / 2


def t_interval(
    values: Sequence[float] | FloatArray, level: float = CI_LEVEL
) -> tuple[float, float]:
    """The Student-t confidence interval of the mean (needs 2+ values)."""
    x = np.asarray(values, dtype=float)
    n, mean = x.size, float(np.mean(x))
    half = t_quantile(1 - (1 - level) / 2, n - 1) * float(np.std(x, ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def skew_corrected_t_interval(
    values: Sequence[float] | FloatArray, level: float = CI_LEVEL
) -> tuple[float, float]:
    """The t interval of the mean after Hall's (1992) skewness-removing transformation.

    Symmetric data give the plain t interval; skewed data move it towards the long tail,
    which the plain interval misses most often at 5 to 24 values (docs/statistics.md).
    """
    x = np.asarray(values, dtype=float)
    n = x.size
    if n < 2:
        raise ValueError("an interval needs at least 2 values")
    mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
    if sd == 0:
        return mean, mean
    centred = x - mean
    second, third = float(np.mean(centred**2)), float(np.mean(centred**3))
    skewness = third / (second * math.sqrt(second))
    q = t_quantile(1 - (1 - level) / 2, n - 1) / math.sqrt(n)

    def inverse(y: float) -> float:
        # g(w) = w + skew w^2/3 + skew^2 w^3/27 + skew/(6n) is monotone; this is its inverse
        if abs(skewness) < 1e-12:
            return y
        return 3 / skewness * (float(np.cbrt(1 + skewness * (y - skewness / (6 * n)))) - 1)

    return mean - sd * inverse(q), mean - sd * inverse(-q)


def bca_interval(
    estimate: float,
    replicates: FloatArray,
    jackknife: FloatArray,
    *,
    level: float = CI_LEVEL,
    jackknife_weights: FloatArray | None = None,
) -> tuple[float, float] | None:
    """Efron's bias-corrected and accelerated bootstrap interval; None without replicates.

    `jackknife` holds the leave-one-out estimates (weighted when several units are alike).
    Undefined (NaN) replicates are left out.
    """
    draws = np.sort(replicates[np.isfinite(replicates)])
    if draws.size == 0:
        return None
    normal = NormalDist()
    below = float(np.sum(draws < estimate) + 0.5 * np.sum(draws == estimate)) / draws.size
    below = min(max(below, 0.5 / draws.size), 1 - 0.5 / draws.size)
    bias = normal.inv_cdf(below)
    weights = np.ones_like(jackknife) if jackknife_weights is None else jackknife_weights
    keep = np.isfinite(jackknife)
    weights, leave_one_out = weights[keep], jackknife[keep]
    acceleration = 0.0
    if weights.sum() > 0:
        spread = np.average(leave_one_out, weights=weights) - leave_one_out
        denominator = 6 * float(np.sum(weights * spread**2)) ** 1.5
        if denominator > 0:
            acceleration = float(np.sum(weights * spread**3)) / denominator
    bounds = []
    for tail in ((1 - level) / 2, 1 - (1 - level) / 2):
        z = bias + normal.inv_cdf(tail)
        bounds.append(normal.cdf(bias + z / (1 - acceleration * z)))
    low, high = np.quantile(draws, bounds)
    return float(low), float(high)


def clip(value: float | None, bounds: tuple[float, float]) -> float | None:
    """A bound of an interval kept within what the rubric allows: the mean of composites
    lies in the rubric's range, so cutting an interval there loses no coverage."""
    if value is None or not math.isfinite(value):
        return value
    return min(max(value, bounds[0]), bounds[1])


def monte_carlo_p(as_extreme: int, draws: int) -> float:
    """A Monte-Carlo p-value that counts the observed data as one draw: never 0."""
    return (as_extreme + 1) / (draws + 1)


def format_p(p: float | None, *, floor: float = 1e-4) -> str:
    """A p-value for display: `0.31`, `0.0078`, `<1e-4`; an empty string when there is none."""
    if p is None:
        return ""
    if p < floor:
        return f"<{floor:.0e}".replace("e-0", "e-")
    return f"{p:.2f}" if p >= 0.01 else f"{p:.2g}"


def smallest_p(n_scenarios: int, n_rows: int, permutations: int = PERMUTATIONS) -> float:
    """The smallest adjusted p that `max_t_permutation` can give two rows sharing n scenarios.

    Among the (k!)^n within-scenario permutations of k rows, those that hand the compared
    pair's values to any ordered pair of rows reproduce its statistic: k(k-1)((k-2)!)^n of
    them, so p >= (k(k-1))^(1-n) -- 2/2^n for two rows. A sampled test also counts the data
    once among its draws: p >= 1/(permutations + 1), and its p lies within sampling error
    of the exact one.
    """
    if n_rows < 2 or n_scenarios < 2:
        return 1.0
    exact = float(n_rows * (n_rows - 1)) ** (1 - n_scenarios)
    if n_scenarios * math.lgamma(n_rows + 1) <= math.log(EXACT_PERMUTATIONS_UP_TO) + 1e-9:
        return exact  # the test enumerates every permutation
    return max(exact, 1 / (permutations + 1))


def power_note(
    n_scenarios: int,
    n_rows: int,
    *,
    level: float = CI_LEVEL,
    permutations: int = PERMUTATIONS,
) -> str | None:
    """A sentence when the design cannot show any difference at 1 - level; else None."""
    alpha = 1 - level
    if n_rows < 2:
        return "With one row there is nothing to compare."
    p = smallest_p(n_scenarios, n_rows, permutations)
    if p <= alpha:
        return None
    return (
        f"With {n_scenarios} scenario{'s' if n_scenarios != 1 else ''} and {n_rows} rows no "
        f"difference can be significant at {alpha:.0%}; the smallest possible p is {p:.3g}."
    )


@dataclass(frozen=True)
class PairwiseTest:
    """Every ordered pair of rows compared on their shared scenarios, with a max-T null.

    `[i, j]` entries describe row i minus row j. `null_max` holds, sorted, the largest
    paired t-statistic over all comparable pairs in each within-scenario permutation of
    the rows (the identity included when `exact`).
    """

    mean_diff: FloatArray
    std_error: FloatArray
    t: FloatArray  # -inf where the pair is not comparable
    n_shared: IntArray
    null_max: FloatArray
    exact: bool  # every permutation enumerated: p = count / total
    tolerance: float  # relative: a null statistic this close to an observed one ties with it

    def p_values(self, t: FloatArray) -> FloatArray:
        """Adjusted p of each statistic: the share of permutations whose largest t reaches it."""
        tolerance = self.tolerance * np.maximum(1.0, np.abs(np.where(np.isfinite(t), t, 0.0)))
        as_extreme = self.null_max.size - np.searchsorted(self.null_max, t - tolerance)
        if self.exact:
            return np.asarray(as_extreme / self.null_max.size, dtype=float)
        return np.asarray((as_extreme + 1) / (self.null_max.size + 1), dtype=float)

    def threshold(self, alpha: float) -> float:
        """The largest null statistic that is not significant: t > threshold <=> p <= alpha."""
        return float(np.max(self.null_max[self.p_values(self.null_max) > alpha]))


def _pair_sums(
    permuted: FloatArray, present: FloatArray, complete: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sum of differences, sum of squared differences and n of every ordered pair.

    `permuted` is (batch, scenarios, rows) with 0 where a row has no value; `present` is
    the (scenarios, rows) 0/1 mask, the same in every permutation. `[b, i, j]` is row i
    minus row j over the scenarios both have.
    """
    cross = np.swapaxes(permuted, 1, 2) @ permuted
    if complete:
        sums = permuted.sum(axis=1)
        squares = np.einsum("bsk,bsk->bk", permuted, permuted)
        sum_d = sums[:, :, None] - sums[:, None, :]
        sum_d2 = squares[:, :, None] + squares[:, None, :] - 2 * cross
        return sum_d, sum_d2, np.full(sum_d.shape[1:], float(permuted.shape[1]))
    n_rows = permuted.shape[2]
    # [i, j]: row i's values (then their squares) summed where row j has a value
    both = np.swapaxes(np.concatenate((permuted, permuted**2), axis=2), 1, 2) @ present
    crossed, squared = both[:, :n_rows], both[:, n_rows:]
    sum_d = crossed - np.swapaxes(crossed, 1, 2)
    sum_d2 = squared + np.swapaxes(squared, 1, 2) - 2 * cross
    return sum_d, sum_d2, present.T @ present


def _pair_t(sum_d: FloatArray, sum_d2: FloatArray, n: FloatArray, *, zero: float) -> FloatArray:
    """Paired t = mean / (sd / sqrt(n)); +-inf for a constant nonzero difference, 0 for none."""
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = n * sum_d2 - sum_d**2  # n (n - 1) times the variance of the differences
        spread = np.where(spread <= zero * n * sum_d2, 0.0, spread)
        t = sum_d * np.sqrt((n - 1) / spread)
        t = np.where(spread > 0, t, np.sign(sum_d) * np.inf)
    return np.asarray(np.where((n < 2) | (sum_d == 0), np.where(n < 2, -np.inf, 0.0), t))


def _column_orderings(present: npt.NDArray[np.bool_]) -> list[list[IntArray]]:
    """Per scenario: every way to reorder its present rows (as source row per position)."""
    columns = []
    for mask in present:
        rows = np.flatnonzero(mask)
        found = []
        for order in orderings(range(rows.size)):
            source = np.arange(mask.size)
            source[rows] = rows[list(order)]
            found.append(source)
        columns.append(found)
    return columns


def _group_size(present: npt.NDArray[np.bool_], limit: int) -> int:
    """How many within-scenario permutations there are, counting only up to past `limit`."""
    size = 1
    for count in present.sum(axis=1):
        size *= math.factorial(int(count))
        if size > limit:
            return size
    return size


def _permuted_batches(
    values: FloatArray,
    present: npt.NDArray[np.bool_],
    permutations: int,
    seed: int,
) -> Iterator[FloatArray]:
    """Batches of (batch, scenarios, rows) arrays, rows shuffled within each scenario.

    Only present rows trade values; a missing row's slot keeps its 0.
    """
    rng = np.random.default_rng(seed)
    n_scenarios, n_rows = values.shape
    batch = max(1, _CELLS_PER_BATCH // (n_scenarios * n_rows + n_rows * n_rows))
    complete = bool(present.all())
    slots = np.argsort(np.where(present, 0, 1), axis=1, kind="stable")  # present rows first
    for start in range(0, permutations, batch):
        size = min(batch, permutations - start)
        keys = rng.random((size, n_scenarios, n_rows), dtype=np.float32)
        if not complete:  # missing rows sort last, in any order: they all hold 0
            keys = np.where(present, keys, np.float32(2))
        sources = np.argsort(keys, axis=2)
        shuffled = np.take_along_axis(np.broadcast_to(values, sources.shape), sources, axis=2)
        if complete:
            yield shuffled
            continue
        out = np.zeros_like(shuffled)
        np.put_along_axis(out, np.broadcast_to(slots, sources.shape), shuffled, axis=2)
        yield out


def max_t_permutation(
    values: FloatArray,
    *,
    min_shared: int,
    permutations: int = PERMUTATIONS,
    seed: int = BOOTSTRAP_SEED,
) -> PairwiseTest:
    """Paired t of every pair of rows and the permutation null of the largest of them.

    `values` is (rows, scenarios), NaN where a row has no value. Pairs sharing fewer than
    `min_shared` scenarios are not compared. Under the null that the rows are
    interchangeable within each scenario, shuffling them there and taking the largest t
    over all pairs calibrates every claim "row i beats row j" at once (Westfall & Young's
    single-step max-T). Small designs are enumerated exactly; larger ones are sampled.
    """
    present = ~np.isnan(values.T)  # (scenarios, rows)
    # centring each scenario changes no difference and keeps the sums of squares small
    centre = np.nanmean(values, axis=0)[:, None]
    filled = np.where(present, values.T - centre, 0.0)
    mask = present.astype(float)
    complete = bool(present.all())
    comparable = (present.T.astype(int) @ present.astype(int)) >= max(min_shared, 2)
    np.fill_diagonal(comparable, False)

    sum_d, sum_d2, n = _pair_sums(filled[None], mask, complete)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sum_d[0] / n
        std_error = np.sqrt(np.maximum(sum_d2[0] - sum_d[0] * mean, 0.0) / (n - 1) / n)
    if _group_size(present, EXACT_PERMUTATIONS_UP_TO) <= EXACT_PERMUTATIONS_UP_TO:
        sources = np.array(list(product(*_column_orderings(present))), dtype=np.int64)
        sources = sources.reshape(-1, *filled.shape)
        work, tolerance, exact = filled, _TIE, True
        batches: Iterator[FloatArray] = iter(
            [np.take_along_axis(np.broadcast_to(work, sources.shape), sources, axis=2)]
        )
    else:
        # single precision halves the matrix products of large designs; ties are judged
        # at its precision
        work, tolerance, exact = filled.astype(np.float32), _TIE_SINGLE, False
        batches = _permuted_batches(work, present, permutations, seed)
    work_mask = mask.astype(work.dtype)

    def pair_t(batch: FloatArray) -> FloatArray:
        t = _pair_t(*_pair_sums(batch, work_mask, complete), zero=tolerance)
        return np.asarray(np.where(comparable, t, -np.inf), dtype=float)

    null_max = np.sort(np.concatenate([pair_t(batch).max(axis=(1, 2)) for batch in batches]))
    t = pair_t(work[None])[0]
    return PairwiseTest(
        mean_diff=np.where(comparable, mean, np.nan),
        std_error=np.where(comparable, np.where(np.isinf(t), 0.0, std_error), np.nan),
        t=t,
        n_shared=n.astype(np.int64),
        null_max=null_max,
        exact=exact,
        tolerance=tolerance,
    )


def bootstrap_rank_intervals(
    values: FloatArray,
    *,
    level: float = CI_LEVEL,
    rounds: int = RANK_BOOTSTRAP_ROUNDS,
    seed: int = BOOTSTRAP_SEED,
) -> IntArray:
    """Each row's percentile interval of its rank (1 = best) when scenarios are resampled.

    `values` is (rows, scenarios), NaN where missing; one resample serves every row. A
    rank counts the rows with a strictly higher mean, so ties share the better rank.
    """
    n_rows, n_scenarios = values.shape
    rng = np.random.default_rng(seed)
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    counts = rng.multinomial(n_scenarios, np.full(n_scenarios, 1 / n_scenarios), size=rounds)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = (counts @ filled.T) / (counts @ present.T.astype(float))
    ranks = np.empty_like(means)
    for row in range(n_rows):
        ranks[:, row] = 1 + np.sum(means > means[:, row : row + 1], axis=1)
    ranks[np.isnan(means)] = np.nan
    tail = (1 - level) / 2
    intervals = np.empty((n_rows, 2), dtype=np.int64)
    for row in range(n_rows):
        drawn = ranks[:, row][~np.isnan(ranks[:, row])]
        intervals[row] = np.quantile(drawn, [tail, 1 - tail], method="inverted_cdf")
    return intervals
