"""A worker's clients: built from its Redis and MLflow clients on the first message a
process handles, once, never when its actor module is imported."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TypeVar

import redis
from mlflow.tracking import MlflowClient

from shared import tracking
from shared.settings import Settings

D = TypeVar("D")


def worker_deps(
    settings: Settings,
    build: Callable[[redis.Redis[bytes], MlflowClient], D],
    *,
    traces: bool = False,
) -> Callable[[], D]:
    """`deps()`: what `build` makes of the worker's Redis client and MLflow client, made on
    the first call and kept. `traces`: the worker writes traces or assessments, so MLflow's
    process-wide tracking URI is pointed at the server too (`tracking.use_tracking_server`).
    """

    @cache
    def deps() -> D:
        client = redis.Redis.from_url(settings.redis_url)
        mlflow = (
            tracking.use_tracking_server(settings) if traces else tracking.make_client(settings)
        )
        return build(client, mlflow)

    return deps
