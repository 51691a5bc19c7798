"""The leaderboard's breakdowns: the values ranked, marginals per model and prompt, facet
winners, per-item means — every one weighing scenarios equally (docs/statistics.md)."""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean
from typing import TYPE_CHECKING

from services.reporter import ranking
from shared.contracts import GroupWinner, Marginal

if TYPE_CHECKING:
    from services.reporter.leaderboard import Cell, Row


def scenario_values(cells: list[Cell]) -> dict[Row, dict[str, list[float]]]:
    """Per row: its scored composites per scenario (one per repeat)."""
    found: dict[Row, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        if cell.composite is not None:
            found[cell.row][cell.scenario].append(cell.composite)
    return {row: dict(per) for row, per in found.items()}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4) + 0.0  # + 0.0: no -0.0


def marginals(
    values: dict[Row, dict[str, list[float]]],
    part: int,
    min_scenarios: int,
    bounds: tuple[float, float],
) -> list[Marginal]:
    """Per model (part 0) or prompt (part 1): the mean of its rows' means over the scenarios
    every row shares, with intervals and ranks as for rows."""
    if not values:
        return []
    result = ranking.balanced_marginals(values, lambda row: row[part], min_scenarios=min_scenarios)
    found = [
        Marginal(
            name=str(name),
            rows=result.rows_per_group.get(name, 0),
            n_scenarios=len(result.scenarios),
            mean_composite=_r(group.mean),
            ci_low=_r(None if group.ci_low is None else max(group.ci_low, bounds[0])),
            ci_high=_r(None if group.ci_high is None else min(group.ci_high, bounds[1])),
            rank=group.rank,
            tied_with_best=group.tied_with_best,
            insufficient_data=group.insufficient_data,
        )
        for name, group in result.groups.items()
    ]
    return sorted(found, key=lambda m: (m.rank is None, -(m.mean_composite or 0.0), m.name))


def winners(cells: list[Cell], facet: str, min_scenarios: int) -> list[GroupWinner]:
    """For each value of a facet: the row that wins there, if one is clearly separated."""
    facet_of = {c.scenario: c.facets[facet] for c in cells if facet in c.facets}
    values = scenario_values([c for c in cells if c.scenario in facet_of])
    if not values:
        return []
    found = ranking.facet_winners(values, facet_of.__getitem__, min_scenarios=min_scenarios)
    return [
        GroupWinner(
            group=str(group),
            model=won.winner[0] if won.winner else None,
            prompt_version=won.winner[1] if won.winner else None,
            leader=f"{won.leader[0]} | {won.leader[1]}" if won.leader else None,
            mean_composite=_r(won.means.get(won.leader)) if won.leader else None,
            tied=[f"{m} | {p}" for m, p in won.tied],
            n_scenarios=won.n_scenarios,
            note=won.note,
            scores={f"{m} | {p}": round(v, 4) for (m, p), v in sorted(won.means.items())},
        )
        for group, won in sorted(found.items())
    ]


def item_means(cells: list[Cell], names: tuple[str, ...]) -> dict[str, float | None]:
    """Each item's mean over scenarios (runs averaged within a scenario first)."""
    found: dict[str, float | None] = {}
    for name in names:
        per_scenario: dict[str, list[float]] = defaultdict(list)
        for cell in cells:
            if name in cell.metrics:
                per_scenario[cell.scenario].append(cell.metrics[name])
        means = [fmean(v) for v in per_scenario.values()]
        found[name] = round(fmean(means), 4) if means else None
    return found
