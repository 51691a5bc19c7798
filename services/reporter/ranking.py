"""The leaderboard's ranking: per-row intervals, paired comparisons, balanced aggregates.

A table maps each row (a (model, prompt) pair, or any hashable key) to its scores per
scenario, several when a scenario was repeated. Repeats are averaged within their
scenario first, so every scenario weighs the same. The methods and their sources are in
docs/statistics.md; the array-level work is in `shared/stats.py`.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np

from shared import stats

K = TypeVar("K", bound=Hashable)
G = TypeVar("G", bound=Hashable)
F = TypeVar("F", bound=Hashable)

MIN_SCENARIOS = 3  # below this a row gets no interval and no rank
RANKING_SEED = stats.BOOTSTRAP_SEED


@dataclass(frozen=True)
class Difference:
    """A paired mean difference (row minus the best) and its simultaneous interval.

    The interval comes from the same max-T calibration as the ranks, so it lies wholly
    below 0 exactly when the row is not tied with the best; it is (-inf, inf) when the
    design cannot separate any two rows.
    """

    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class RowStats(Generic[K]):
    """What the leaderboard shows for one row (see docs/statistics.md)."""

    n_scenarios: int  # scenarios with at least one score
    n_values: int  # scores in all (repeats included)
    mean: float | None  # mean of the per-scenario means
    ci_low: float | None  # Student-t interval with Hall's skewness correction
    ci_high: float | None
    insufficient_data: str | None  # why the row has no interval and no rank
    rank: int | None  # 1 + the rows significantly better than this one
    rank_ci: tuple[int, int] | None  # (rank, ranked rows - rows it beats): all hold jointly
    bootstrap_rank_ci: tuple[int, int] | None  # percentile interval of the rank by mean
    tied_with_best: bool | None  # no row is significantly better
    is_best: bool  # the ranked row with the highest mean
    beaten_by: tuple[K, ...]  # the rows significantly better than this one
    diff_to_best: Difference | None  # this row minus the best, on their shared scenarios
    n_shared_with_best: int | None
    p_adjusted: float | None  # max-T adjusted p of "the best beats this row"
    within_sd: float | None  # pooled spread of repeats within a scenario
    between_sd: float | None  # spread of the per-scenario means


@dataclass(frozen=True)
class _Scenarios:
    """A row's scores reduced to one mean per scenario."""

    means: dict[str, float]
    n_values: int
    within_sd: float | None
    between_sd: float | None


def _reduce(key: Hashable, per_scenario: Mapping[str, Sequence[float]]) -> _Scenarios:
    # plain Python: most scenarios hold one to three scores, too few for numpy to pay off
    means: dict[str, float] = {}
    squares, degrees, n_values = 0.0, 0, 0
    for scenario, scores in per_scenario.items():
        if not scores:
            continue
        if not all(math.isfinite(v) for v in scores):
            raise ValueError(f"row {key!r} has a non-finite score in scenario {scenario!r}")
        mean = sum(scores) / len(scores)
        means[scenario] = mean
        if len(scores) > 1:
            squares += sum((v - mean) ** 2 for v in scores)
            degrees += len(scores) - 1
        n_values += len(scores)
    return _Scenarios(
        means=means,
        n_values=n_values,
        within_sd=math.sqrt(squares / degrees) if degrees else None,
        between_sd=statistics.stdev(means.values()) if len(means) >= 2 else None,
    )


def scenario_mean(per_scenario: Mapping[str, Sequence[float]]) -> float | None:
    """The mean of the per-scenario means: every scenario weighs the same, however repeated."""
    means = [float(np.mean(v)) for v in per_scenario.values() if len(v)]
    return float(np.mean(means)) if means else None


def _ordered(keys: Iterable[K]) -> list[K]:
    """A fixed order for keys of any type, so seeded results do not depend on insertion."""
    return sorted(keys, key=repr)


def _simultaneous(mean: float, std_error: float, threshold: float) -> Difference:
    """mean +- threshold standard errors; unbounded when no threshold can be reached."""
    if math.isinf(threshold):
        return Difference(mean, -math.inf, math.inf)
    return Difference(mean, mean - threshold * std_error, mean + threshold * std_error)


def rank_rows(
    rows: Mapping[K, Mapping[str, Sequence[float]]],
    *,
    min_scenarios: int = MIN_SCENARIOS,
    level: float = stats.CI_LEVEL,
    seed: int = RANKING_SEED,
    permutations: int = stats.PERMUTATIONS,
    bootstrap_rounds: int = stats.RANK_BOOTSTRAP_ROUNDS,
) -> dict[K, RowStats[K]]:
    """Intervals, paired max-T ranks and rank intervals of every row (seeded, deterministic).

    Rows with fewer than `min_scenarios` scored scenarios get neither interval nor rank.
    Every other pair of rows is compared on the scenarios both have (if at least
    `min_scenarios`); "row i beats row j" is claimed when the max-T adjusted p <= 1 - level.
    A rank is 1 + the rows that beat it; `rank_ci` runs from there to the last place left
    once the rows it beats are below it, for all rows jointly at `level`.
    """
    if min_scenarios < 2:
        raise ValueError("a paired comparison needs min_scenarios >= 2")
    alpha = 1 - level
    keys = _ordered(rows)
    reduced = {key: _reduce(key, rows[key]) for key in keys}
    ranked = [key for key in keys if len(reduced[key].means) >= min_scenarios]
    found: dict[K, RowStats[K]] = {}
    for key in keys:
        row = reduced[key]
        n = len(row.means)
        found[key] = RowStats(
            n_scenarios=n,
            n_values=row.n_values,
            mean=float(np.mean(list(row.means.values()))) if n else None,
            ci_low=None,
            ci_high=None,
            insufficient_data=None
            if n >= min_scenarios
            else f"{n} scored scenario{'' if n == 1 else 's'}; an interval and a rank need "
            f"at least {min_scenarios}",
            rank=None,
            rank_ci=None,
            bootstrap_rank_ci=None,
            tied_with_best=None,
            is_best=False,
            beaten_by=(),
            diff_to_best=None,
            n_shared_with_best=None,
            p_adjusted=None,
            within_sd=row.within_sd,
            between_sd=row.between_sd,
        )
    if not ranked:
        return found

    scenarios = sorted({s for key in ranked for s in reduced[key].means})
    values = np.array(
        [[reduced[key].means.get(s, math.nan) for s in scenarios] for key in ranked], dtype=float
    )
    means = np.nanmean(values, axis=1)
    best = int(np.argmax(means))  # the first of tied means, in key order
    if len(ranked) > 1:
        test = stats.max_t_permutation(
            values, min_shared=min_scenarios, permutations=permutations, seed=seed
        )
        p = test.p_values(test.t)
        beats = (p <= alpha) & (test.t > 0) & np.isfinite(test.mean_diff)  # [i, j]: i beats j
        threshold = test.threshold(alpha)
        by_bootstrap = stats.bootstrap_rank_intervals(
            values, level=level, rounds=bootstrap_rounds, seed=seed
        )
    for j, key in enumerate(ranked):
        low, high = stats.skew_corrected_t_interval(list(reduced[key].means.values()), level)
        if len(ranked) == 1:
            found[key] = replace(
                found[key],
                ci_low=low,
                ci_high=high,
                rank=1,
                rank_ci=(1, 1),
                bootstrap_rank_ci=(1, 1),
                tied_with_best=True,
                is_best=True,
                n_shared_with_best=found[key].n_scenarios,
            )
            continue
        beaten_by = tuple(ranked[i] for i in np.flatnonzero(beats[:, j]))
        comparable = j != best and bool(np.isfinite(test.mean_diff[j, best]))
        found[key] = replace(
            found[key],
            ci_low=low,
            ci_high=high,
            rank=1 + len(beaten_by),
            rank_ci=(1 + len(beaten_by), len(ranked) - int(beats[j].sum())),
            bootstrap_rank_ci=(int(by_bootstrap[j, 0]), int(by_bootstrap[j, 1])),
            tied_with_best=not beaten_by,
            is_best=j == best,
            beaten_by=beaten_by,
            diff_to_best=_simultaneous(
                float(test.mean_diff[j, best]), float(test.std_error[j, best]), threshold
            )
            if comparable
            else None,
            n_shared_with_best=int(test.n_shared[j, best]),
            p_adjusted=float(p[best, j]) if comparable else None,
        )
    return found


@dataclass(frozen=True)
class Marginals(Generic[G]):
    """Groups of rows (per model, per prompt) compared on the scenarios all rows share."""

    groups: dict[G, RowStats[G]]  # a group's row means averaged, as one row of a table
    rows_per_group: dict[G, int]
    scenarios: tuple[str, ...]  # the common scenario set
    left_out: tuple[Hashable, ...]  # rows with too few scenarios to take part


def balanced_marginals(
    rows: Mapping[K, Mapping[str, Sequence[float]]],
    group_of: Callable[[K], G],
    *,
    min_scenarios: int = MIN_SCENARIOS,
) -> Marginals[G]:
    """Each group's mean of row means over the scenarios every row has, ranked like rows.

    Per common scenario a group's value is the mean of its rows' scenario means, so each
    row weighs the same in its group however many runs it has, and groups are compared
    paired, scenario by scenario.
    """
    keys = _ordered(rows)
    reduced = {key: _reduce(key, rows[key]) for key in keys}
    taking_part = [key for key in keys if len(reduced[key].means) >= min_scenarios]
    left_out = tuple(key for key in keys if key not in taking_part)
    shared = [set(reduced[key].means) for key in taking_part]
    common = sorted(set.intersection(*shared)) if shared else []
    members: dict[G, list[K]] = defaultdict(list)
    for key in taking_part:
        members[group_of(key)].append(key)
    table = {
        group: {s: [float(np.mean([reduced[k].means[s] for k in keys_]))] for s in common}
        for group, keys_ in members.items()
    }
    ranked = rank_rows(
        table,
        min_scenarios=min_scenarios,
    )
    if len(common) < min_scenarios:
        reason = (
            f"the rows share {len(common)} scenario{'' if len(common) == 1 else 's'}; a "
            f"balanced comparison needs at least {min_scenarios}"
        )
        ranked = {group: replace(r, insufficient_data=reason) for group, r in ranked.items()}
    return Marginals(
        groups=ranked,
        rows_per_group={group: len(keys_) for group, keys_ in members.items()},
        scenarios=tuple(common),
        left_out=left_out,
    )


@dataclass(frozen=True)
class FacetWinner(Generic[K]):
    """The best row for one facet (a persona, a time slot), or why there is none."""

    winner: K | None  # None when no row is separated from the rest
    leader: K | None  # the row with the highest mean here, separated or not
    tied: tuple[K, ...]  # the rows not separated from the best (the leader included)
    means: dict[K, float]  # every row's mean here, each scenario weighing the same
    n_scenarios: int
    note: str | None  # why there is no clear winner


def facet_winners(
    rows: Mapping[K, Mapping[str, Sequence[float]]],
    facet_of: Callable[[str], F],
    *,
    min_scenarios: int = MIN_SCENARIOS,
) -> dict[F, FacetWinner[K]]:
    """Per facet of the scenarios: the row that beats every other there, if one does."""
    facets: dict[F, set[str]] = defaultdict(set)
    for per in rows.values():
        for scenario, scores in per.items():
            if len(scores):
                facets[facet_of(scenario)].add(scenario)
    found: dict[F, FacetWinner[K]] = {}
    for facet in _ordered(facets):
        inside = facets[facet]
        table = {
            key: {s: v for s, v in per.items() if s in inside and len(v)}
            for key, per in rows.items()
        }
        table = {key: per for key, per in table.items() if per}
        ranked = rank_rows(
            table,
            min_scenarios=min_scenarios,
            bootstrap_rounds=1,  # bootstrap rank intervals are not shown here
        )
        means = {key: r.mean for key, r in ranked.items() if r.mean is not None}
        leader = max(_ordered(means), key=lambda key: means[key]) if means else None
        compared = [key for key, r in ranked.items() if r.rank is not None]
        tied = tuple(key for key in compared if ranked[key].tied_with_best)
        n = len(inside)
        winner: K | None = None
        note: str | None
        if len(table) == 1:
            note = "no comparison: only one row is scored here"
        elif n < min_scenarios:
            note = (
                f"no clear winner: {n} scenario{'' if n == 1 else 's'} here; comparing rows"
                f" needs at least {min_scenarios}"
            )
        elif len(compared) < 2:
            note = (
                f"no clear winner: fewer than two rows are scored on {min_scenarios} or more"
                " of the scenarios here"
            )
        elif len(tied) == 1 and len(compared) == len(table):
            winner, note = tied[0], None
        else:
            note = f"no clear winner: {len(tied)} rows are not separated from the best"
            if len(compared) < len(table):
                note += f"; {len(table) - len(compared)} rows have too few scenarios"
            power = stats.power_note(n, len(compared))
            if power:
                note += f". {power}"
        found[facet] = FacetWinner(
            winner=winner, leader=leader, tied=tied, means=means, n_scenarios=n, note=note
        )
    return found
