"""The gateway's clients, built once per worker process by create_app."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from dramatiq.brokers.redis import RedisBroker
from flask import current_app
from mlflow.tracking import MlflowClient

from services.gateway.auth import FailedAuthLimit, TokenCheck
from services.gateway.readiness import ReadinessProbe
from shared import tracking
from shared.broker import make_broker
from shared.settings import Settings
from shared.stores.jobs import JobStore
from shared.stores.leaderboards import LeaderboardStore
from shared.stores.packets import PacketStore
from shared.stores.pairs import PairStore
from shared.stores.scores import ScoreStore
from shared.stores.suites import SuiteStore


@dataclass(frozen=True)
class GatewayDeps:
    """Everything a route needs."""

    settings: Settings
    redis: redis.Redis[bytes]
    broker: RedisBroker
    mlflow: MlflowClient
    jobs: JobStore
    packets: PacketStore
    pairs: PairStore
    leaderboards: LeaderboardStore
    scores: ScoreStore
    suites: SuiteStore
    tokens: TokenCheck
    auth_failures: FailedAuthLimit
    readiness: ReadinessProbe


def build_deps(settings: Settings) -> GatewayDeps:
    """Open the gateway's clients (lazily connecting; nothing is contacted here)."""
    client = redis.Redis.from_url(settings.redis_url)
    mlflow = tracking.make_client(settings)
    return GatewayDeps(
        settings=settings,
        redis=client,
        broker=make_broker(settings),
        mlflow=mlflow,
        jobs=JobStore(client, settings),
        packets=PacketStore(client, settings),
        pairs=PairStore(client, settings),
        leaderboards=LeaderboardStore(client, settings),
        scores=ScoreStore(client, settings),
        suites=SuiteStore(client, mlflow, settings),
        tokens=TokenCheck(settings.admin_tokens()),
        auth_failures=FailedAuthLimit(client, settings),
        readiness=ReadinessProbe(settings.redis_url, settings.mlflow_uri),
    )


def deps() -> GatewayDeps:
    """The current app's clients."""
    found: GatewayDeps = current_app.extensions["tipbench"]
    return found
