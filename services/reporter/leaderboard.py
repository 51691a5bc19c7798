"""Aggregate an experiment's cell runs into a leaderboard of (model, prompt) pairs."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from statistics import fmean

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from services.reporter import stats
from services.reporter.agreement import agreement, judge_scores, view_of
from shared import tracking
from shared.leaderboards import PANEL, PRIMARY, GroupWinner, Leaderboard, LeaderboardRow, Marginal
from shared.rubric import ITEM_MAX, ITEM_MIN, Rubric
from shared.stores.suites import SuiteStore
from shared.suite import Suite
from shared.suite_files import DEFAULT_SUITE

Row = tuple[str, str]  # (model, prompt version)
RUN_ID_BATCH = 100  # run ids per search: keeps the filter string short


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
    return None if value is None else round(value, 4)


def scenario_means(cells: Iterable[Cell], key: object = "row") -> dict[object, dict[str, float]]:
    """Per group (row, model or prompt): the mean composite of its scored runs per scenario."""
    collected: dict[object, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        if cell.composite is None:
            continue
        group = {"row": cell.row, "model": cell.row[0], "prompt": cell.row[1]}[str(key)]
        collected[group][cell.scenario].append(cell.composite)
    return {g: {s: fmean(v) for s, v in per.items()} for g, per in collected.items()}


def marginals(cells: list[Cell], key: str) -> list[Marginal]:
    """Mean composite with a paired-bootstrap CI per model or per prompt."""
    means = scenario_means(cells, key)
    intervals = stats.paired_bootstrap_ci(means)
    found = [
        Marginal(
            name=str(name),
            mean_composite=round(stats.mean_over(per), 4),
            ci_low=round(intervals[name][0], 4),
            ci_high=round(intervals[name][1], 4),
            n_scenarios=len(per),
        )
        for name, per in means.items()
    ]
    return sorted(found, key=lambda m: (-m.mean_composite, m.name))


def winners(cells: list[Cell], facet: str) -> list[GroupWinner]:
    """For each value of a facet: every row's mean composite there, and the best row."""
    per_group: dict[str, dict[Row, list[float]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        if cell.composite is not None and facet in cell.facets:
            per_group[cell.facets[facet]][cell.row].append(cell.composite)
    found = []
    for group, rows in sorted(per_group.items()):
        means = {row: fmean(values) for row, values in rows.items()}
        best = max(sorted(means), key=lambda row: means[row])
        found.append(
            GroupWinner(
                group=group,
                model=best[0],
                prompt_version=best[1],
                mean_composite=round(means[best], 4),
                scores={f"{m} | {p}": round(v, 4) for (m, p), v in sorted(means.items())},
            )
        )
    return found


def views(experiment: str, cells: list[Cell], version: int, suite: Suite) -> list[Leaderboard]:
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
    )
    judges = primary.agreement.judges
    others = [*judges, PANEL] if len(judges) > 1 else judges
    return [primary] + [aggregate(experiment, scored(v), version, suite, view=v) for v in others]


def item_means(cells: list[Cell], names: tuple[str, ...]) -> dict[str, float | None]:
    """Each item's mean over scenarios (runs averaged within a scenario first)."""
    found: dict[str, float | None] = {}
    for name in names:
        per_scenario: dict[str, list[float]] = defaultdict(list)
        for cell in cells:
            if name in cell.metrics:
                per_scenario[cell.scenario].append(cell.metrics[name])
        found[name] = _mean([fmean(v) for v in per_scenario.values()])
    return found


def aggregate(
    experiment: str, cells: list[Cell], version: int, suite: Suite, view: str = PRIMARY
) -> Leaderboard:
    """Rank (model, prompt) pairs with CIs and tie ranks; unscored pairs come last."""
    rubric = suite.rubric
    by_row: dict[Row, list[Cell]] = defaultdict(list)
    for cell in cells:
        by_row[cell.row].append(cell)
    means = {row: per for row, per in scenario_means(cells).items() if isinstance(row, tuple)}
    intervals = stats.paired_bootstrap_ci(means)
    ranks = stats.tie_ranks(intervals)
    averages = {row: stats.mean_over(per) for row, per in means.items()}
    leader = min(averages, key=lambda row: (-averages[row], row)) if averages else None
    p_values: dict[Row, float] = {}
    for row in means:
        if row != leader and leader is not None:
            p, _ = stats.sign_flip_p_value(means[leader], means[row])
            if p is not None:
                p_values[row] = p
    adjusted = stats.holm(p_values)

    rows = []
    for row, group in by_row.items():
        scored = [c for c in group if c.composite is not None]
        interval = intervals.get(row)
        rows.append(
            LeaderboardRow(
                rank=ranks.get(row),
                model=row[0],
                prompt_version=row[1],
                n=len(group),
                n_scored=len(scored),
                n_scenarios=len(means.get(row, {})),
                awaiting_judge=not scored,
                mean_composite=_r(averages.get(row)),
                ci_low=_r(interval[0]) if interval else None,
                ci_high=_r(interval[1]) if interval else None,
                p_vs_leader=_r(p_values.get(row)),
                p_holm=_r(adjusted.get(row)),
                item_means=item_means(scored, rubric.score_names),
                format_ok_rate=round(fmean(c.metrics.get("auto_format_ok", 0.0) for c in group), 4),
                overlong_rate=round(fmean(c.metrics.get("auto_overlong", 0.0) for c in group), 4),
                mean_latency_s=_mean(_values(group, "latency_s")),
                mean_load_s=_mean(_values(group, "load_s")),
                mean_tokens_per_s=_mean(_values(group, "tokens_per_s")),
            )
        )
    rows.sort(
        key=lambda r: (
            r.awaiting_judge,
            r.rank or 0,
            -(r.mean_composite or 0.0),
            r.model,
            r.prompt_version,
        )
    )
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
        rows=rows,
        by_model=marginals(cells, "model"),
        by_prompt=marginals(cells, "prompt"),
        by_facet={facet: winners(cells, facet) for facet in facet_names(cells, suite)},
        agreement=agreement({c.run_id: judge_scores(c.metrics, rubric) for c in cells}, rubric),
    )


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
    kind = f"tags.{tracking.TAG_KIND} = 'cell'"
    if run_ids is None:
        return cells_of(tracking.search_runs(client, experiment_id, kind))
    found: list[Cell] = []
    for start in range(0, len(run_ids), RUN_ID_BATCH):
        batch = ", ".join(tracking.quote(i) for i in run_ids[start : start + RUN_ID_BATCH])
        found += cells_of(
            tracking.search_runs(
                client, experiment_id, f"{kind} and attributes.run_id IN ({batch})"
            )
        )
    return found
