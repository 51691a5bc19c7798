"""Aggregate an experiment's cell runs into a leaderboard of (model, prompt) pairs."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from statistics import fmean

from mlflow.entities import Run, RunStatus
from mlflow.tracking import MlflowClient

from shared import tracking
from shared.leaderboards import Leaderboard, LeaderboardRow

FINISHED = RunStatus.to_string(RunStatus.FINISHED)


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 4) if values else None


def aggregate(experiment: str, runs: Iterable[Run]) -> Leaderboard:
    """Rank (model, prompt) pairs by mean composite; unscored pairs come last."""
    groups: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for run in runs:
        if run.info.status != FINISHED:
            continue
        key = (run.data.params["model"], run.data.params["prompt_version"])
        groups[key].append(dict(run.data.metrics))
    rows: list[LeaderboardRow] = []
    for (model, prompt), metrics in groups.items():
        scored = [m for m in metrics if "composite" in m]
        rows.append(
            LeaderboardRow(
                rank=None,
                model=model,
                prompt_version=prompt,
                n=len(metrics),
                n_scored=len(scored),
                mean_composite=_mean([m["composite"] for m in scored]),
                mean_relevance=_mean([m["relevance"] for m in scored]),
                mean_actionability=_mean([m["actionability"] for m in scored]),
                mean_tone=_mean([m["tone"] for m in scored]),
                format_ok_rate=round(fmean(m.get("auto_format_ok", 0.0) for m in metrics), 4),
                overlong_rate=round(fmean(m.get("auto_overlong", 0.0) for m in metrics), 4),
                mean_latency_s=_mean([m["latency_s"] for m in metrics if "latency_s" in m]),
                mean_tokens_per_s=_mean(
                    [m["tokens_per_s"] for m in metrics if "tokens_per_s" in m]
                ),
            )
        )
    rows.sort(
        key=lambda r: (
            r.mean_composite is None,
            -(r.mean_composite or 0.0),
            r.model,
            r.prompt_version,
        )
    )
    return Leaderboard(
        experiment=experiment,
        built_at=time.time(),
        n_runs=sum(r.n for r in rows),
        rows=rank_with_ties(rows),
    )


def rank_with_ties(rows: list[LeaderboardRow]) -> list[LeaderboardRow]:
    """Competition ranking of sorted rows: equal mean composites share a rank (1, 1, 3)."""
    ranked: list[LeaderboardRow] = []
    for position, row in enumerate(rows, start=1):
        if row.mean_composite is None:
            ranked.append(row)
            continue
        previous = ranked[-1] if ranked else None
        tied = previous is not None and previous.mean_composite == row.mean_composite
        rank = previous.rank if tied and previous is not None else position
        ranked.append(row.model_copy(update={"rank": rank}))
    return ranked


def rebuild(client: MlflowClient, experiment: str) -> Leaderboard | None:
    """Read every cell run of the experiment (paginated) and aggregate; None if no experiment."""
    found = tracking.find_experiment(client, experiment)
    if found is None:
        return None
    runs = tracking.search_runs(
        client, str(found.experiment_id), f"tags.{tracking.TAG_KIND} = 'cell'"
    )
    return aggregate(experiment, runs)
