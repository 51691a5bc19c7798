"""The leaderboard's statistics, as plain functions over per-scenario means.

A row is a (model, prompt) pair; its data are its mean composite per scenario. All
resampling is over scenarios and *paired*: one resample of the scenarios is applied to
every row at once, so rows are compared on the same contexts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping
from itertools import product
from statistics import fmean
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
ScenarioMeans = Mapping[str, float]  # scenario id -> mean composite of a row there

BOOTSTRAP_ROUNDS = 2000
BOOTSTRAP_SEED = 20260101
CI_LEVEL = 0.95
EXACT_FLIPS_UP_TO = 16  # scenarios; beyond that the sign-flip test is sampled
SAMPLED_FLIPS = 20_000


def mean_over(values: ScenarioMeans) -> float:
    """The row's mean composite, each scenario weighing the same."""
    return fmean(values.values())


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of sorted values, q in [0, 1]."""
    position = q * (len(sorted_values) - 1)
    low, high = math.floor(position), math.ceil(position)
    fraction = position - low
    return sorted_values[low] * (1 - fraction) + sorted_values[high] * fraction


def paired_bootstrap_ci(
    rows: Mapping[K, ScenarioMeans],
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = BOOTSTRAP_SEED,
    level: float = CI_LEVEL,
) -> dict[K, tuple[float, float]]:
    """A percentile confidence interval of each row's mean, resampling scenarios (paired)."""
    scenarios = sorted({s for means in rows.values() for s in means})
    rng = random.Random(seed)
    draws: dict[K, list[float]] = {key: [] for key in rows}
    for _ in range(rounds):
        sample = [rng.choice(scenarios) for _ in scenarios]
        for key, means in rows.items():
            picked = [means[s] for s in sample if s in means]
            if picked:
                draws[key].append(fmean(picked))
    tail = (1 - level) / 2
    intervals: dict[K, tuple[float, float]] = {}
    for key, values in draws.items():
        values = sorted(values) or [mean_over(rows[key])]
        intervals[key] = (_percentile(values, tail), _percentile(values, 1 - tail))
    return intervals


def tie_ranks(intervals: Mapping[K, tuple[float, float]]) -> dict[K, int]:
    """Chatbot Arena ranks: 1 + the number of rows whose CI lies wholly above this row's."""
    return {
        key: 1 + sum(1 for other in intervals.values() if other[0] > high)
        for key, (_, high) in intervals.items()
    }


def sign_flip_p_value(
    a: ScenarioMeans, b: ScenarioMeans, *, seed: int = BOOTSTRAP_SEED
) -> tuple[float | None, int]:
    """Two-sided paired test of mean(a - b) = 0 on the shared scenarios, and their count.

    Under the null each difference's sign is arbitrary: the p-value is the share of sign
    assignments whose mean difference is at least as far from 0 as the observed one
    (exact up to EXACT_FLIPS_UP_TO scenarios). None when no scenario is shared.
    """
    shared = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in shared]
    if not diffs:
        return None, 0
    observed = abs(sum(diffs)) - 1e-9  # tolerance: equal sums count as "as extreme"
    if len(diffs) <= EXACT_FLIPS_UP_TO:
        signs = product((1, -1), repeat=len(diffs))
        total = 2 ** len(diffs)
        extreme = sum(
            1
            for sign in signs
            if abs(sum(s * d for s, d in zip(sign, diffs, strict=True))) >= observed
        )
    else:
        rng = random.Random(seed)
        total = SAMPLED_FLIPS
        extreme = sum(
            1
            for _ in range(total)
            if abs(sum(d if rng.random() < 0.5 else -d for d in diffs)) >= observed
        )
    return extreme / total, len(diffs)


def holm(p_values: Mapping[K, float]) -> dict[K, float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    ordered = sorted(p_values.items(), key=lambda item: item[1])
    m = len(ordered)
    adjusted: dict[K, float] = {}
    running = 0.0
    for i, (key, p) in enumerate(ordered):
        running = max(running, min(1.0, (m - i) * p))
        adjusted[key] = running
    return adjusted
