"""Aggregate an experiment's cell runs into a leaderboard of (model, prompt) pairs."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from statistics import fmean

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from services.reporter import ranking
from services.reporter.agreement import agreement, judge_scores, view_of
from services.reporter.breakdowns import item_means, marginals, scenario_values, winners
from shared import stats, tracking
from shared.contracts import PANEL, PRIMARY, Leaderboard, LeaderboardRow
from shared.rubric import ITEM_MAX, ITEM_MIN, Rubric
from shared.stores.suites import SuiteStore
from shared.suite import Suite
from shared.suite_files import DEFAULT_SUITE

Row = tuple[str, str]  # (model, prompt version)
RUN_ID_BATCH = 100  # run ids per search: keeps the filter string short
CELL_RUNS = f"tags.{tracking.TAG_KIND} = 'cell'"  # the filter of an experiment's cell runs


@dataclass(frozen=True)
class Cell:
    """What the leaderboard needs of one finished cell run."""

    run_id: str
    row: Row
    scenario: str
    facets: dict[str, str]
    suite: str  # `name@version`, or "" for runs recorded before suites
    metrics: dict[str, float]

    @property
    def composite(self) -> float | None:
        return self.metrics.get("composite")


LEGACY_FACETS = ("persona", "time_slot")  # tip-v1 runs recorded before facets were params


def cells_of(runs: Iterable[Run]) -> list[Cell]:
    """The finished cell runs, reduced to what the leaderboard reads."""
    found = []
    for run in runs:
        if run.info.status != tracking.RUN_FINISHED:
            continue
        params = run.data.params
        facets = {
            k.removeprefix(tracking.FACET_PARAM): v
            for k, v in params.items()
            if k.startswith(tracking.FACET_PARAM)
        } or {k: params[k] for k in LEGACY_FACETS if k in params}
        suite = f"{params['suite']}@{params['suite_version']}" if "suite" in params else ""
        found.append(
            Cell(
                run_id=run.info.run_id,
                row=(params["model"], params["prompt_version"]),
                scenario=params["scenario_id"],
                facets=facets,
                suite=suite,
                metrics=dict(run.data.metrics),
            )
        )
    return found


def with_composite(metrics: dict[str, float], rubric: Rubric) -> dict[str, float]:
    """The metrics with the composite tipbench computes from the item scores.

    Whatever MLflow holds as `composite` is dropped; a run whose item scores are missing
    or outside the rubric's ranges (a metric written by hand, by anyone who can reach
    MLflow) counts as unscored.
    """
    kept = {k: v for k, v in metrics.items() if k != "composite"}
    values = {name: metrics.get(name) for name in rubric.score_names}
    if all(value is not None for value in values.values()) and rubric_ranges_hold(values, rubric):
        kept["composite"] = rubric.composite({k: float(v or 0) for k, v in values.items()})
    else:
        for name in rubric.score_names:
            kept.pop(name, None)
    return kept


def rubric_ranges_hold(values: dict[str, float | None], rubric: Rubric) -> bool:
    """True if every item lies in 1..5 and every flag in 0..1 (means of judges included)."""
    items = set(rubric.item_ids)
    return all(
        value is not None and (ITEM_MIN <= value <= ITEM_MAX if name in items else 0 <= value <= 1)
        for name, value in values.items()
    )


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 4) if values else None


def _values(cells: list[Cell], name: str) -> list[float]:
    return [c.metrics[name] for c in cells if name in c.metrics]


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4) + 0.0  # + 0.0: no -0.0


def views(
    experiment: str,
    cells: list[Cell],
    version: int,
    suite: Suite,
    min_scenarios: int = ranking.MIN_SCENARIOS,
) -> list[Leaderboard]:
    """The primary leaderboard, then one per judge and one on the panel mean (if 2+ judges).

    Every view's composite is computed here from its item scores (see with_composite).
    """
    names = suite.rubric.score_names

    def scored(view: str) -> list[Cell]:
        return [
            replace(c, metrics=with_composite(view_of(c.metrics, view, names), suite.rubric))
            for c in cells
        ]

    primary = aggregate(
        experiment,
        [replace(c, metrics=with_composite(c.metrics, suite.rubric)) for c in cells],
        version,
        suite,
        min_scenarios=min_scenarios,
    )
    judges = primary.agreement.judges
    others = [*judges, PANEL] if len(judges) > 1 else judges
    # Agreement is between the judges, whatever the view: a view's cells keep only its own
    # scores, so its board takes the primary's agreement.
    return [primary] + [
        aggregate(
            experiment, scored(v), version, suite, view=v, min_scenarios=min_scenarios
        ).model_copy(update={"agreement": primary.agreement})
        for v in others
    ]


def aggregate(
    experiment: str,
    cells: list[Cell],
    version: int,
    suite: Suite,
    view: str = PRIMARY,
    min_scenarios: int = ranking.MIN_SCENARIOS,
) -> Leaderboard:
    """Rank (model, prompt) pairs from their paired comparisons; unscored pairs come last."""
    rubric = suite.rubric
    by_row: dict[Row, list[Cell]] = defaultdict(list)
    for cell in cells:
        by_row[cell.row].append(cell)
    values = scenario_values(cells)
    found = ranking.rank_rows(values, min_scenarios=min_scenarios)
    rows = []
    for row, group in by_row.items():
        scored = [c for c in group if c.composite is not None]
        result = found.get(row)
        rows.append(row_of(row, group, scored, result, rubric, values.get(row, {})))
    rows.sort(
        key=lambda r: (
            r.awaiting_judge,
            r.rank is None,
            r.rank or 0,
            -(r.mean_composite or 0.0),
            r.model,
            r.prompt_version,
        )
    )
    ranked = [r for r in rows if r.n_scenarios >= min_scenarios]
    n_shared = max((r.n_scenarios for r in ranked), default=0)
    return Leaderboard(
        experiment=experiment,
        view=view,
        version=version,
        built_at=time.time(),
        n_runs=len(cells),
        run_ids=sorted(c.run_id for c in cells),
        suite=f"{suite.suite}@{suite.content_version()}",
        rubric_id=rubric.id,
        score_names=list(rubric.score_names),
        composite_min=rubric.composite_range[0],
        composite_max=rubric.composite_range[1],
        min_scenarios=min_scenarios,
        power_note=power_note(n_shared, len(ranked), len(values), min_scenarios),
        rows=rows,
        by_model=marginals(values, 0, min_scenarios, rubric.composite_range),
        by_prompt=marginals(values, 1, min_scenarios, rubric.composite_range),
        by_facet={
            facet: winners(cells, facet, min_scenarios) for facet in facet_names(cells, suite)
        },
        agreement=agreement({c.run_id: judge_scores(c.metrics, rubric) for c in cells}, rubric),
    )


def row_of(
    row: Row,
    group: list[Cell],
    scored: list[Cell],
    result: ranking.RowStats[Row] | None,
    rubric: Rubric,
    per_scenario: dict[str, list[float]],
) -> LeaderboardRow:
    """One row of the board from its runs, its scores per scenario and its statistics."""
    diff = result.diff_to_best if result else None
    bounds = rubric.composite_range
    spread = (bounds[0] - bounds[1], bounds[1] - bounds[0])
    return LeaderboardRow(
        rank=result.rank if result else None,
        rank_ci=list(result.rank_ci) if result and result.rank_ci else None,
        bootstrap_rank_ci=list(result.bootstrap_rank_ci)
        if result and result.bootstrap_rank_ci
        else None,
        tied_with_best=result.tied_with_best if result else None,
        insufficient_data=result.insufficient_data if result else None,
        model=row[0],
        prompt_version=row[1],
        n=len(group),
        n_scored=len(scored),
        n_scenarios=result.n_scenarios if result else 0,
        awaiting_judge=not scored,
        mean_composite=_r(result.mean if result else None),
        ci_low=_r(stats.clip(result.ci_low, bounds) if result else None),
        ci_high=_r(stats.clip(result.ci_high, bounds) if result else None),
        diff_to_best=_r(diff.mean) if diff else None,
        diff_low=_finite(stats.clip(diff.low, spread)) if diff else None,
        diff_high=_finite(stats.clip(diff.high, spread)) if diff else None,
        n_shared_with_best=result.n_shared_with_best if result else None,
        p_adjusted=result.p_adjusted if result else None,
        p_shown=stats.format_p(result.p_adjusted if result else None),
        within_sd=_r(result.within_sd if result else None),
        between_sd=_r(result.between_sd if result else None),
        item_means=item_means(scored, rubric.score_names),
        scenario_means={s: fmean(v) for s, v in per_scenario.items() if v},
        format_ok_rate=round(fmean(c.metrics.get("auto_format_ok", 0.0) for c in group), 4),
        overlong_rate=round(fmean(c.metrics.get("auto_overlong", 0.0) for c in group), 4),
        mean_latency_s=_mean(_values(group, "latency_s")),
        mean_load_s=_mean(_values(group, "load_s")),
        mean_tokens_per_s=_mean(_values(group, "tokens_per_s")),
    )


def power_note(n_scenarios: int, n_ranked: int, n_scored: int, min_scenarios: int) -> str | None:
    """What the design cannot show, said out loud (None when it can separate rows)."""
    if n_ranked >= 2:
        return stats.power_note(n_scenarios, n_ranked)
    if n_scored >= 2:
        return (
            f"Rows need {min_scenarios} scored scenarios to be compared; fewer than two have"
            " them, so no row is ranked above another."
        )
    return None


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4) + 0.0


def facet_names(cells: list[Cell], suite: Suite) -> list[str]:
    """The suite's facets, then any other facet a run carries (runs older than suites)."""
    seen = {name for cell in cells for name in cell.facets}
    return [*suite.facet_names(), *sorted(seen - set(suite.facet_names()))]


def suite_of_cells(cells: list[Cell], suites: SuiteStore) -> Suite:
    """The experiment's suite version (one per experiment), tip-v1 for runs older than suites."""
    for cell in cells:
        if cell.suite:
            return suites.resolve(cell.suite)
    return suites.get(DEFAULT_SUITE)


def read_cells(
    client: MlflowClient, experiment_id: str, run_ids: list[str] | None = None
) -> list[Cell]:
    """The experiment's finished cell runs (only `run_ids`, if given), read page by page."""
    if run_ids is None:
        return cells_of(tracking.search_runs(client, experiment_id, CELL_RUNS))
    found: list[Cell] = []
    for start in range(0, len(run_ids), RUN_ID_BATCH):
        batch = ", ".join(tracking.quote(i) for i in run_ids[start : start + RUN_ID_BATCH])
        found += cells_of(
            tracking.search_runs(
                client, experiment_id, f"{CELL_RUNS} and attributes.run_id IN ({batch})"
            )
        )
    return found
