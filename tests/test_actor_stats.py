"""Per-actor statistics (shared.broker.ActorStats), on a real Redis with a real dramatiq
worker: counted per outcome, written by the middleware's own thread, and a stopping
worker's last counts written before it ends."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
import redis

from shared.broker import ActorStats, make_broker
from shared.queues import QueueInspector
from shared.settings import Settings
from tests.conftest import wait_until


@pytest.fixture
def own(core_settings: Settings) -> Iterator[Settings]:
    settings = core_settings.model_copy(
        update={"namespace": f"{core_settings.namespace}-stats-{uuid.uuid4().hex[:8]}"}
    )
    yield settings
    with redis.Redis.from_url(settings.redis_url) as client:
        for key in client.scan_iter(match=f"{settings.namespace}:*"):
            client.delete(key)


def stats_of(settings: Settings) -> dict[str, dict[str, float]]:
    with redis.Redis.from_url(settings.redis_url) as client:
        return QueueInspector(client, settings).actor_stats()


def test_an_actors_messages_are_counted_by_outcome_with_their_time(own: Settings) -> None:
    broker = make_broker(own)
    broker.add_middleware(ActorStats(own))

    @dramatiq.actor(broker=broker, queue_name="stats", max_retries=0)
    def work(fail: bool) -> None:
        time.sleep(0.02)
        if fail:
            raise ValueError("refused")

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        for fail in (False, False, True):
            work.send(fail)
        wait_until(
            lambda: (
                stats_of(own).get("work", {}).get("failed") == 1
                and stats_of(own)["work"]["processed"] == 2
            ),
            timeout_s=30,
            what="three messages counted",
        )
    finally:
        worker.stop()
        broker.close()
    counted = stats_of(own)["work"]
    assert counted["retried"] == 0
    assert counted["mean_ms"] >= 20  # each took at least its 20 ms sleep


def test_a_stopping_worker_writes_its_last_counts_before_it_ends(own: Settings) -> None:
    stats = ActorStats(own)
    for _ in range(2000):  # far more than one round trip's worth
        stats._count("burst", {"processed": 1, "ms": 1.0})
    stats.after_worker_shutdown(make_broker(own), None)
    # read at once: nothing is left to the writer's own pace
    assert stats_of(own)["burst"]["processed"] == 2000
    stats._count("burst", {"processed": 1})  # a later count starts a new writer
    wait_until(
        lambda: stats_of(own)["burst"]["processed"] == 2001,
        timeout_s=10,
        what="the count after the stop",
    )
