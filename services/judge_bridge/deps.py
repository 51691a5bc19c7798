"""The clients the judge bridge's core works with."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import ollama
import redis
from dramatiq.brokers.redis import RedisBroker
from mlflow.tracking import MlflowClient

from services.judge_bridge.embedded import EmbeddedJudge
from shared.queues import QueueInspector
from shared.settings import Settings
from shared.stores.packets import PacketStore
from shared.stores.pairs import PairStore
from shared.stores.scores import ScoreStore
from shared.stores.suites import SuiteStore


@dataclass(frozen=True)
class JudgeDeps:
    """The judge bridge's clients."""

    settings: Settings
    redis: redis.Redis[bytes]
    broker: RedisBroker
    ollama: ollama.Client
    openai: httpx.Client
    embedded: EmbeddedJudge
    mlflow: MlflowClient
    packets: PacketStore
    pairs: PairStore
    scores: ScoreStore
    queues: QueueInspector
    suites: SuiteStore
