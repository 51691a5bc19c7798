"""Readiness: whether Redis and MLflow answer, asked at most once per READY_CACHE_S.

/readyz is public: without the cache, every call built an HTTP client and asked MLflow
(~130 ms of CPU), and 20 callers in parallel slowed every other request to seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import redis

READY_TIMEOUT_S = 2.0
READY_CACHE_S = 1.5


class ReadinessProbe:
    """Redis and MLflow checked once per READY_CACHE_S through clients kept open."""

    def __init__(
        self,
        redis_url: str,
        mlflow_uri: str,
        *,
        cache_s: float = READY_CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=READY_TIMEOUT_S, socket_connect_timeout=READY_TIMEOUT_S
        )
        self._http = httpx.Client(timeout=READY_TIMEOUT_S)
        self._health_url = f"{mlflow_uri.rstrip('/')}/health"
        self._cache_s, self._clock = cache_s, clock
        self._lock = threading.Lock()
        self._failed: dict[str, str] | None = None
        self._checked_at = 0.0

    def problems(self) -> dict[str, str]:
        """What cannot be reached right now ({"redis"|"mlflow": why}); empty when ready."""
        if self._failed is not None and self._clock() - self._checked_at < self._cache_s:
            return dict(self._failed)
        # One caller checks; the others answer with the last result instead of queueing
        # behind a check that may take READY_TIMEOUT_S (only the very first caller waits).
        if not self._lock.acquire(blocking=self._failed is None):
            return dict(self._failed or {})
        try:
            if self._failed is None or self._clock() - self._checked_at >= self._cache_s:
                self._failed = self._check()
                self._checked_at = self._clock()
            return dict(self._failed)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Close the probe's connections."""
        self._http.close()
        self._redis.close()

    def _check(self) -> dict[str, str]:
        failed: dict[str, str] = {}
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            failed["redis"] = str(exc) or type(exc).__name__
        try:
            answer = self._http.get(self._health_url)
            if answer.status_code != 200:
                failed["mlflow"] = f"/health answered {answer.status_code}"
        except httpx.HTTPError as exc:
            failed["mlflow"] = str(exc) or type(exc).__name__
        return failed
