"""Reporter entrypoint: `dramatiq services.reporter.actors -Q report` (run any number)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import dramatiq
import redis
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, ConfigDict

from services.reporter.leaderboard import rebuild
from shared import tracking
from shared.broker import make_broker
from shared.leaderboards import LeaderboardStore
from shared.messaging import REPORT_QUEUE
from shared.settings import Settings

settings = Settings()  # read from the environment
broker = make_broker(settings)
dramatiq.set_broker(broker)


class ExperimentEvent(BaseModel):
    """The part of CellFinished, JobFinished and ScoresIngested the reporter needs."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    experiment: str


@dataclass(frozen=True)
class ReporterDeps:
    """The reporter's clients."""

    mlflow: MlflowClient
    leaderboards: LeaderboardStore


@cache
def deps() -> ReporterDeps:
    """Clients built on the first message (not at import)."""
    return ReporterDeps(
        mlflow=tracking.make_client(settings),
        leaderboards=LeaderboardStore(redis.Redis.from_url(settings.redis_url), settings),
    )


@dramatiq.actor(
    actor_name="rebuild_leaderboard", queue_name=REPORT_QUEUE, max_retries=5, min_backoff=1_000
)
def rebuild_leaderboard(payload: dict[str, Any]) -> None:
    """Rebuild and store the leaderboard of the event's experiment."""
    experiment = ExperimentEvent.model_validate(payload).experiment
    board = rebuild(deps().mlflow, experiment)
    if board is not None:
        deps().leaderboards.save(board)
