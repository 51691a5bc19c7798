"""Workers woken by the enqueue itself (shared/wakeup.py), on a real Redis with real
dramatiq workers whose poll timeout is 10 s: a message is picked up long before a poll
would find it, and a busy consumer takes the next message as soon as one is done."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from shared.broker import make_broker
from shared.settings import Settings
from tests.conftest import wait_until

# Far beyond every pickup below: a worker that only polled would mostly wait for it.
POLL_TIMEOUT_MS = 10_000


@pytest.fixture
def broker(core_settings: Settings) -> Iterator[RedisBroker]:
    settings = core_settings.model_copy(
        update={"namespace": f"{core_settings.namespace}-wake-{uuid.uuid4().hex[:8]}"}
    )
    broker = make_broker(settings)
    yield broker
    broker.close()
    broker.client.connection_pool.disconnect()


def started_worker(broker: RedisBroker) -> dramatiq.Worker:
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=POLL_TIMEOUT_MS)
    worker.start()
    time.sleep(0.5)  # its consumers are now blocked, waiting
    return worker


def test_an_idle_worker_takes_a_message_when_it_is_enqueued(broker: RedisBroker) -> None:
    ran: list[float] = []

    @dramatiq.actor(broker=broker, queue_name="wake")
    def note() -> None:
        ran.append(time.monotonic())

    worker = started_worker(broker)
    try:
        latencies = []
        for count in range(1, 5):
            sent = time.monotonic()
            note.send()
            wait_until(lambda c=count: len(ran) == c, timeout_s=30, what=f"message {count}")
            latencies.append(ran[-1] - sent)
            time.sleep(0.3)  # idle again between messages
    finally:
        worker.stop()
    # A worker that polled every 10 s would pick each up after 0-10 s; all four within
    # 2 s by chance would happen once in 600 runs.
    assert max(latencies) < 2.0, latencies


def test_a_full_consumer_fetches_the_next_message_when_one_is_acknowledged(
    broker: RedisBroker,
) -> None:
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    @dramatiq.actor(broker=broker, queue_name="wake-busy")
    def slow() -> None:
        begun = time.monotonic()
        time.sleep(0.3)
        with lock:
            spans.append((begun, time.monotonic()))

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=POLL_TIMEOUT_MS)
    worker.queue_prefetch = 1
    worker.start()
    time.sleep(0.5)
    try:
        for _ in range(3):
            slow.send()
        wait_until(lambda: len(spans) == 3, timeout_s=60, what="three messages")
    finally:
        worker.stop()
    # With one message in hand at a time, each next one starts when the previous ends,
    # not at the consumer's next 10 s poll.
    gaps = [later[0] - earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)]
    assert max(gaps) < 2.0, gaps


def test_wake_up_lists_stay_bounded(broker: RedisBroker) -> None:
    @dramatiq.actor(broker=broker, queue_name="wake-burst")
    def burst() -> None:
        """Never run: no worker here."""

    for _ in range(300):
        burst.send()
    client: redis.Redis[bytes] = broker.client
    key = broker.wake_key("wake-burst")  # type: ignore[attr-defined]
    assert client.llen(key) == 256
    assert client.llen(f"{broker.namespace}:wake-burst") == 300  # every message queued
