"""Admin result pages: experiments with their jobs, a leaderboard, a cell."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flask import render_template, request
from mlflow.exceptions import MlflowException

from services.gateway.api.results import stored_leaderboard
from services.gateway.checks import EXPERIMENT_NAME, is_leaderboard_view
from services.gateway.deps import deps
from shared import tracking
from shared.contracts import PRIMARY
from shared.errors import ExperimentNotFound, LeaderboardNotFound, RunNotFound
from shared.rubric import Rubric
from shared.stores.suites import split_ref


def checked_experiment(name: str) -> str:
    """The name, if an experiment can have it; ExperimentNotFound (a 404) otherwise."""
    # A page for a name no experiment can have is a page that does not exist.
    if not EXPERIMENT_NAME.match(name):
        raise ExperimentNotFound(f"no experiment {name!r}")
    return name


def mlflow_link(experiment_id: str, run_id: str | None = None) -> str:
    """The MLflow UI page of an experiment or a run."""
    base = f"{deps().settings.mlflow_link_base()}/#/experiments/{experiment_id}"
    return f"{base}/runs/{run_id}" if run_id else base


def experiments() -> str:
    """Every tip-bench experiment with its jobs."""
    store = deps().jobs
    jobs = [store.get(job_id) for job_id in store.recent(200)]
    by_experiment: dict[str, list[Any]] = {}
    for job in jobs:
        by_experiment.setdefault(job.experiment, []).append(job)
    rows = []
    for exp in tracking.list_experiments(deps().mlflow):
        name = exp.name.removeprefix(tracking.EXPERIMENT_PREFIX)
        rows.append(
            {
                "name": name,
                "link": mlflow_link(str(exp.experiment_id)),
                "created_at": (exp.creation_time or 0) / 1000,
                "jobs": by_experiment.get(name, []),
            }
        )
    return render_template("admin/experiments.html", experiments=rows)


def _matrix(runs: list[Any], tips: dict[str, list[str]]) -> dict[str, Any]:
    """Rows: scenarios; columns: (model, prompt); cells: the run, its composite and its
    tips (`tips`: run id -> the tips parsed from its answer)."""
    columns = sorted(
        {(r.data.params.get("model", "?"), r.data.params.get("prompt_version", "?")) for r in runs}
    )
    rows = list(dict.fromkeys(r.data.params.get("scenario_id", "?") for r in runs))
    cells: dict[tuple[str, str, str], Any] = {}
    for run in runs:
        p = run.data.params
        key = (p.get("scenario_id", "?"), p.get("model", "?"), p.get("prompt_version", "?"))
        cells[key] = {
            "run_id": run.info.run_id,
            "composite": run.data.metrics.get("composite"),
            "n_tips": run.data.metrics.get("n_tips_parsed"),
            "tips": tips.get(run.info.run_id, []),
        }
    return {"columns": columns, "rows": rows, "cells": cells}


@dataclass(frozen=True)
class CompositeAxis:
    """The chart's composite axis: the rubric's range, from `left` to `width` pixels."""

    low: float
    high: float
    left: float = 220
    width: float = 640
    margin: float = 20

    def x(self, value: float) -> float:
        """Where a composite value sits, in pixels."""
        span = (self.high - self.low) or 1.0
        return self.left + (value - self.low) * (self.width - self.left - self.margin) / span

    def ticks(self, most: int = 10) -> list[float]:
        """Round values across the range: steps of 1, 2 or 5 times a power of ten."""
        span = (self.high - self.low) or 1.0
        power = 10.0 ** math.floor(math.log10(span / most))
        step = next(m * power for m in (1, 2, 5, 10) if span / (m * power) <= most)
        first = math.ceil(self.low / step)
        return [n * step for n in range(first, math.floor(self.high / step) + 1)]


def leaderboard(experiment: str) -> str:
    """The leaderboard with CIs, a chart, breakdowns, agreement and the results matrix."""
    name = checked_experiment(experiment)
    view = request.args.get("judge", PRIMARY)
    if not is_leaderboard_view(view):
        raise LeaderboardNotFound(f"no leaderboard {view!r} for {name!r}")
    board = stored_leaderboard(name, view)
    found = tracking.find_experiment(deps().mlflow, name)
    if found is None:
        raise ExperimentNotFound(f"no experiment {name!r}")
    query = f"tags.{tracking.TAG_KIND} = 'cell' and attributes.status = '{tracking.RUN_FINISHED}'"
    runs = list(tracking.search_runs(deps().mlflow, str(found.experiment_id), query))
    return render_template(
        "admin/leaderboard.html",
        experiment=name,
        board=board,
        view=view,
        # the judges' candidate pool already holds each run's tips: one read, no artifacts
        matrix=_matrix(runs, {k: c.tips for k, c in deps().packets.candidates(name).items()}),
        run_names={r.info.run_id: r.info.run_name for r in runs},
        link=mlflow_link(str(found.experiment_id)),
        axis=CompositeAxis(board.composite_min, board.composite_max) if board else None,
        suite=split_ref(board.suite) if board else None,
    )


def cell(experiment: str, run_id: str) -> str:
    """One cell: its tips, the rendered prompt, every judge's scores and rationales."""
    checked_experiment(experiment)
    found = tracking.find_experiment(deps().mlflow, experiment)
    try:
        run = deps().mlflow.get_run(run_id)
    except MlflowException:
        raise RunNotFound(f"no run {run_id!r}") from None
    if found is None or run.info.experiment_id != str(found.experiment_id):
        # a run of another experiment (or no cell at all) is not a page of this one
        raise RunNotFound(f"no run {run_id!r} in experiment {experiment!r}")
    judges: dict[str, dict[str, Any]] = {}
    value: Any
    for key, value in run.data.metrics.items():
        if key.startswith("judge/"):
            _, judge, item = key.split("/", 2)
            judges.setdefault(judge, {})[item] = value
    for key, value in run.data.tags.items():
        if key.startswith("judge/") and key.endswith("/rationale"):
            judges.setdefault(key.split("/")[1], {})["rationale"] = value
    record = tracking.read_cell_parts(
        deps().mlflow,
        run,
        tracking.RUBRIC_ARTIFACT,
        tracking.CANDIDATES_ARTIFACT,
        tracking.PROMPT_ARTIFACT,
    )
    stored = record.get(tracking.RUBRIC_ARTIFACT)
    rubric = Rubric.from_dict(stored) if stored else deps().packets.rubric(experiment)
    return render_template(
        "admin/cell.html",
        experiment=experiment,
        run=run,
        judges=judges,
        score_names=[*rubric.score_names, "composite"],
        candidates=record.get(tracking.CANDIDATES_ARTIFACT),
        prompt=record.get(tracking.PROMPT_ARTIFACT),
        link=mlflow_link(run.info.experiment_id, run_id),
    )
