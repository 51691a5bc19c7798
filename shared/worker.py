"""A worker's clients: built from its Redis and MLflow clients on the first message a
process handles, once, never when its actor module is imported."""

from __future__ import annotations

import threading
from collections.abc import Callable
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

    Built once even when a worker's threads take their first messages at the same moment:
    the collector's model session, for one, must be the only one of its process.
    """
    built: list[D] = []
    lock = threading.Lock()

    def deps() -> D:
        if built:
            return built[0]
        with lock:
            if not built:
                client = redis.Redis.from_url(settings.redis_url)
                mlflow = (
                    tracking.use_tracking_server(settings)
                    if traces
                    else tracking.make_client(settings)
                )
                built.append(build(client, mlflow))
        return built[0]

    return deps
