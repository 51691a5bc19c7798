"""How far the judges agree: quadratic-weighted Cohen's kappa per pair, Krippendorff's alpha.

Both on the rubric's 1..5 items and on the composite (an ordinal scale: every value the
rubric can give, e.g. 2..17 for tip-v1).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from shared import stats
from shared.contracts import Agreement, Disagreement, JudgePair
from shared.contracts import Estimate as AgreementEstimate
from shared.rubric import ITEM_MAX, ITEM_MIN, Rubric

DISAGREEMENT = 2  # points apart on a 1..5 item


def scales(rubric: Rubric) -> dict[str, Sequence[float]]:
    """The categories of each scale agreement is computed on: the items, then the composite."""
    found: dict[str, Sequence[float]] = {
        item: range(ITEM_MIN, ITEM_MAX + 1) for item in rubric.item_ids
    }
    return found | {"composite": rubric.composite_levels}


AGREEMENT_BOOTSTRAP_ROUNDS = 2000
AGREEMENT_SEED = stats.BOOTSTRAP_SEED


def weighted_kappa(
    a: Sequence[float], b: Sequence[float], categories: Sequence[float]
) -> float | None:
    """Cohen's kappa with quadratic weights; None when it is undefined (no spread at all)."""
    k, n = len(categories), len(a)
    if n == 0 or k < 2:
        return None
    index = {c: i for i, c in enumerate(categories)}
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[index[x]][index[y]] += 1
    rows = [sum(observed[i]) for i in range(k)]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    weight = [[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)]
    seen = sum(weight[i][j] * observed[i][j] for i in range(k) for j in range(k))
    chance = sum(weight[i][j] * rows[i] * cols[j] / n for i in range(k) for j in range(k))
    if chance == 0:
        return None
    return 1 - seen / chance


def krippendorff_alpha_ordinal(units: Sequence[Sequence[float]]) -> float | None:
    """Krippendorff's alpha with the ordinal metric; each unit lists the values it got."""
    pairable = [u for u in units if len(u) >= 2]
    values = sorted({v for u in pairable for v in u})
    if len(values) < 2:
        return None
    coincidence: dict[tuple[float, float], float] = defaultdict(float)
    for unit in pairable:
        for i, c in enumerate(unit):
            for j, k in enumerate(unit):
                if i != j:
                    coincidence[(c, k)] += 1 / (len(unit) - 1)
    totals = {c: sum(coincidence[(c, k)] for k in values) for c in values}
    n = sum(totals.values())

    def delta(c: float, k: float) -> float:
        low, high = min(c, k), max(c, k)
        between = sum(totals[g] for g in values if low <= g <= high)
        return (between - (totals[c] + totals[k]) / 2) ** 2

    seen = sum(coincidence[(c, k)] * delta(c, k) for c in values for k in values)
    chance = sum(totals[c] * totals[k] * delta(c, k) for c in values for k in values)
    return None if chance == 0 else 1 - (n - 1) * seen / chance


def judge_scores(metrics: dict[str, float], rubric: Rubric) -> dict[str, dict[str, float]]:
    """A run's scores per judge, from its `judge/<id>/<item>` metrics, with the composite
    computed from them; a judge whose scores are incomplete or off the rubric is left out."""
    found: dict[str, dict[str, float]] = defaultdict(dict)
    for name, value in metrics.items():
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "judge" and parts[2] in rubric.score_names:
            found[parts[1]][parts[2]] = value
    complete = {}
    for judge, values in found.items():
        if len(values) == len(rubric.score_names) and all(
            value == int(value)
            and (ITEM_MIN <= value <= ITEM_MAX if name in rubric.item_ids else value in (0, 1))
            for name, value in values.items()
        ):
            complete[judge] = values | {"composite": rubric.composite(values)}
    return complete


def agreement(runs: dict[str, dict[str, dict[str, float]]], rubric: Rubric) -> Agreement:
    """Agreement of the judges over runs (run id -> judge -> item -> score), with intervals."""
    judges = sorted({judge for per in runs.values() for judge in per})
    items = scales(rubric)
    pairs = []
    for first, second in combinations(judges, 2):
        shared = [per for per in runs.values() if first in per and second in per]
        per_item = {
            item: pair_agreement(
                [p[first][item] for p in shared], [p[second][item] for p in shared], scale
            )
            for item, scale in items.items()
        }
        pairs.append(
            JudgePair(
                judge_a=first,
                judge_b=second,
                n_shared=len(shared),
                kappa={item: _estimate(found.kappa) for item, found in per_item.items()},
                exact={item: _round(found.exact) for item, found in per_item.items()},
                adjacent={item: _round(found.adjacent) for item, found in per_item.items()},
            )
        )
    alpha = {
        item: _estimate(
            alpha_interval([[s[item] for s in per.values()] for per in runs.values()], scale)
        )
        for item, scale in items.items()
    }
    disagreements = [
        Disagreement(
            run_id=run_id, item=item, scores={j: int(s[item]) for j, s in sorted(per.items())}
        )
        for run_id, per in sorted(runs.items())
        for item in rubric.item_ids
        if len(per) >= 2
        and max(s[item] for s in per.values()) - min(s[item] for s in per.values()) >= DISAGREEMENT
    ]
    return Agreement(judges=judges, pairs=pairs, alpha=alpha, disagreements=disagreements)


def _estimate(found: Estimate) -> AgreementEstimate:
    return AgreementEstimate(
        value=_round(found.value),
        ci_low=_round(found.ci_low),
        ci_high=_round(found.ci_high),
        n=found.n,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def view_of(cell_metrics: dict[str, float], view: str, names: Sequence[str]) -> dict[str, float]:
    """A run's metrics with the rubric scores (`names`) of one view: a judge's own, or the
    panel mean. Scores of other judges are dropped; a run the view's judge did not score
    has none. The composite is left to be computed from the scores (with_composite)."""
    dropped = {*names, "composite"}
    kept = {
        k: v for k, v in cell_metrics.items() if k not in dropped and not k.startswith("judge/")
    }
    judges = {k.split("/")[1] for k in cell_metrics if k.startswith("judge/") and k.count("/") == 2}
    chosen = sorted(judges) if view == "panel" else [view] if view in judges else []
    for name in names:
        values = [
            cell_metrics[f"judge/{j}/{name}"] for j in chosen if f"judge/{j}/{name}" in cell_metrics
        ]
        if values:
            kept[name] = sum(values) / len(values)
    return kept


# ---------------------------------------------------------------------------------------
# Agreement with its uncertainty: BCa bootstrap intervals over runs (docs/statistics.md).


@dataclass(frozen=True)
class Estimate:
    """An agreement statistic, its bootstrap interval over runs, and how many runs."""

    value: float | None  # None when undefined (no spread at all)
    ci_low: float | None
    ci_high: float | None
    n: int


@dataclass(frozen=True)
class PairAgreement:
    """How far two judges agree on the runs both scored."""

    kappa: Estimate  # quadratic-weighted Cohen's kappa
    exact: float | None  # share of runs given the same category
    adjacent: float | None  # share of runs at most one category apart
    n: int


def agreement_rates(
    a: Sequence[float], b: Sequence[float], categories: Sequence[float]
) -> tuple[float | None, float | None]:
    """Exact and adjacent (at most one category apart) agreement of two judges' scores."""
    if not a:
        return None, None
    index = {c: i for i, c in enumerate(categories)}
    gaps = np.abs(np.array([index[x] for x in a]) - np.array([index[y] for y in b]))
    return float(np.mean(gaps == 0)), float(np.mean(gaps <= 1))


def _kappa_of_tables(tables: np.ndarray) -> np.ndarray:
    """Quadratic-weighted kappa of (..., k, k) tables of counts; NaN where undefined."""
    k = tables.shape[-1]
    steps = np.arange(k)
    weight = (steps[:, None] - steps[None, :]) ** 2 / (k - 1) ** 2
    n = tables.sum(axis=(-2, -1))
    rows, cols = tables.sum(axis=-1), tables.sum(axis=-2)
    seen = np.sum(weight * tables, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        chance = np.einsum("ij,...i,...j->...", weight, rows, cols) / n
        return np.where(chance > 0, 1 - seen / chance, np.nan)


def kappa_interval(
    a: Sequence[float],
    b: Sequence[float],
    categories: Sequence[float],
    *,
    level: float = stats.CI_LEVEL,
    rounds: int = AGREEMENT_BOOTSTRAP_ROUNDS,
    seed: int = AGREEMENT_SEED,
) -> Estimate:
    """Quadratic-weighted kappa with a BCa interval, resampling the runs both judges scored."""
    value, n, k = weighted_kappa(a, b, categories), len(a), len(categories)
    if value is None or n < 2:
        return Estimate(value, None, None, n)
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((k, k))
    np.add.at(table, ([index[x] for x in a], [index[y] for y in b]), 1)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, table.ravel() / n, size=rounds).reshape(rounds, k, k)
    cells = np.argwhere(table > 0)
    left_out = np.repeat(table[None], len(cells), axis=0)
    left_out[np.arange(len(cells)), cells[:, 0], cells[:, 1]] -= 1
    interval = stats.bca_interval(
        value,
        _kappa_of_tables(draws),
        _kappa_of_tables(left_out),
        level=level,
        jackknife_weights=table[cells[:, 0], cells[:, 1]],
    )
    low, high = interval or (None, None)
    return Estimate(value, low, high, n)


def _alpha_of_coincidences(coincidences: np.ndarray) -> np.ndarray:
    """Krippendorff's ordinal alpha of (..., v, v) coincidence matrices; NaN where undefined."""
    totals = coincidences.sum(axis=-1)
    n = totals.sum(axis=-1)
    v = totals.shape[-1]
    c, k = np.meshgrid(np.arange(v), np.arange(v), indexing="ij")
    low, high = np.minimum(c, k), np.maximum(c, k)
    cumulative = np.cumsum(totals, axis=-1)
    between = cumulative[..., high] - cumulative[..., low] + totals[..., low]
    delta = (between - (totals[..., c] + totals[..., k]) / 2) ** 2
    seen = np.sum(coincidences * delta, axis=(-2, -1))
    chance = np.sum(totals[..., :, None] * totals[..., None, :] * delta, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(chance > 0, 1 - (n - 1) * seen / chance, np.nan)


def alpha_interval(
    units: Sequence[Sequence[float]],
    categories: Sequence[float],
    *,
    level: float = stats.CI_LEVEL,
    rounds: int = AGREEMENT_BOOTSTRAP_ROUNDS,
    seed: int = AGREEMENT_SEED,
) -> Estimate:
    """Krippendorff's ordinal alpha with a BCa interval, resampling runs scored twice or more."""
    pairable = [u for u in units if len(u) >= 2]
    value, n = krippendorff_alpha_ordinal(pairable), len(pairable)
    if value is None or n < 2:
        return Estimate(value, None, None, n)
    index = {c: i for i, c in enumerate(categories)}
    kinds = Counter(tuple(sorted(u)) for u in pairable)  # alike runs add alike coincidences
    per_kind = np.zeros((len(kinds), len(categories), len(categories)))
    for i, unit in enumerate(kinds):
        counts = np.bincount([index[x] for x in unit], minlength=len(categories)).astype(float)
        per_kind[i] = (np.outer(counts, counts) - np.diag(counts)) / (len(unit) - 1)
    weights = np.array(list(kinds.values()), dtype=float)
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(n, weights / n, size=rounds)
    replicates = np.einsum("rk,kij->rij", drawn.astype(float), per_kind)
    total = np.einsum("k,kij->ij", weights, per_kind)
    interval = stats.bca_interval(
        value,
        _alpha_of_coincidences(replicates),
        _alpha_of_coincidences(total[None] - per_kind),
        level=level,
        jackknife_weights=weights,
    )
    low, high = interval or (None, None)
    return Estimate(value, low, high, n)


def pair_agreement(
    a: Sequence[float], b: Sequence[float], categories: Sequence[float]
) -> PairAgreement:
    """Kappa with its interval, and exact and adjacent agreement, of two judges' scores."""
    exact, adjacent = agreement_rates(a, b, categories)
    kappa = kappa_interval(a, b, categories)
    return PairAgreement(kappa=kappa, exact=exact, adjacent=adjacent, n=len(a))
