"""Workers woken by the enqueue itself (shared/wakeup.py), on a real Redis with real
dramatiq workers whose timeout is 10 s (an idle consumer's wait is then its longest, 4 s):
a message is picked up long before a fetch at the end of a wait would find it, and a busy
consumer takes the next message as soon as one is done."""

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
from shared.wakeup import IDLE_TIMEOUTS, push_wake
from tests.conftest import wait_until

# Far beyond every pickup below: a worker that only fetched at the end of each wait
# (MAX_WAIT_S, 4 s) would mostly wait for it.
POLL_TIMEOUT_MS = 10_000


def a_broker(core_settings: Settings) -> Iterator[RedisBroker]:
    settings = core_settings.model_copy(
        update={"namespace": f"{core_settings.namespace}-wake-{uuid.uuid4().hex[:8]}"}
    )
    broker = make_broker(settings)
    yield broker
    broker.close()
    broker.client.connection_pool.disconnect()


@pytest.fixture(scope="module")
def broker(core_settings: Settings) -> Iterator[RedisBroker]:
    """The module's broker, whose worker (see `woken`) serves every queue declared on it."""
    yield from a_broker(core_settings)


@pytest.fixture
def idle_broker(core_settings: Settings) -> Iterator[RedisBroker]:
    """A broker no worker serves."""
    yield from a_broker(core_settings)


class Woken:
    """Two actors of the module's broker and what they saw, served by one worker."""

    def __init__(self, broker: RedisBroker) -> None:
        self.ran: list[float] = []
        self.spans: list[tuple[float, float]] = []
        lock = threading.Lock()

        @dramatiq.actor(broker=broker, queue_name="wake")
        def note() -> None:
            self.ran.append(time.monotonic())

        @dramatiq.actor(broker=broker, queue_name="wake-busy")
        def slow() -> None:
            begun = time.monotonic()
            time.sleep(0.3)
            with lock:
                self.spans.append((begun, time.monotonic()))

        self.note, self.slow = note, slow


@pytest.fixture(scope="module")
def woken(broker: RedisBroker) -> Iterator[Woken]:
    """One worker for the module: a single thread with one message in hand at a time, its
    consumers blocked, waiting."""
    actors = Woken(broker)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=POLL_TIMEOUT_MS)
    worker.queue_prefetch = 1
    worker.start()
    time.sleep(0.5)
    yield actors
    worker.stop()


def test_an_idle_worker_takes_a_message_when_it_is_enqueued(woken: Woken) -> None:
    latencies = []
    for count in range(1, 5):
        sent = time.monotonic()
        woken.note.send()
        wait_until(lambda c=count: len(woken.ran) == c, timeout_s=30, what=f"message {count}")
        latencies.append(woken.ran[-1] - sent)
        time.sleep(0.3)  # idle again between messages
    # A worker that only fetched at the end of each 4 s wait would pick each up after
    # 0-4 s; all four within 0.5 s by chance would happen once in 4,096 runs.
    assert max(latencies) < 0.5, latencies


def test_a_full_consumer_fetches_the_next_message_when_one_is_acknowledged(
    woken: Woken,
) -> None:
    for _ in range(3):
        woken.slow.send()
    wait_until(lambda: len(woken.spans) == 3, timeout_s=60, what="three messages")
    # With one message in hand at a time, each next one starts when the previous ends,
    # not at the consumer's next 10 s poll.
    spans = woken.spans
    gaps = [later[0] - earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)]
    assert max(gaps) < 2.0, gaps


def test_wake_up_lists_stay_bounded(idle_broker: RedisBroker) -> None:
    broker = idle_broker

    @dramatiq.actor(broker=broker, queue_name="wake-burst")
    def burst() -> None:
        """Never run: no worker here."""

    for _ in range(300):
        burst.send()
    client: redis.Redis[bytes] = broker.client
    key = broker.wake_key("wake-burst")  # type: ignore[attr-defined]
    assert client.llen(key) == 256
    assert client.llen(f"{broker.namespace}:wake-burst") == 300  # every message queued


def test_a_dead_workers_message_comes_back_at_an_idle_workers_next_fetch(
    idle_broker: RedisBroker,
) -> None:
    broker = idle_broker
    ran: list[str] = []

    @dramatiq.actor(broker=broker, queue_name="orphan")
    def orphan(tag: str) -> None:
        ran.append(tag)

    # Given a message a worker fetched and then died with (SIGKILL: no ack, no heartbeat
    # since, past the heartbeat timeout), as dramatiq's Redis layout records it
    orphan.send("lost")
    client: redis.Redis[bytes] = broker.client
    ns = broker.namespace
    (message_id,) = client.lrange(f"{ns}:orphan", 0, -1)
    client.lpop(f"{ns}:orphan")
    client.sadd(f"{ns}:__acks__.dead-worker.orphan", message_id)
    client.zadd(f"{ns}:__heartbeats__", {"dead-worker": 1})
    # When an idle worker runs (woken by nothing: no enqueue follows)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=1000)
    worker.start()
    try:
        # Then its fetches put the message back and it runs: with dramatiq's chance per
        # command (2% here) it would wait about 50 fetches, a second each
        wait_until(lambda: ran == ["lost"], timeout_s=15, what="the dead worker's message")
    finally:
        worker.stop()
    assert client.scard(f"{ns}:__acks__.dead-worker.orphan") == 0


def test_an_idle_consumer_fetches_once_per_wait(idle_broker: RedisBroker) -> None:
    broker = idle_broker
    fetched: list[str] = []
    fetch = broker.do_fetch  # type: ignore[attr-defined]

    def counted(queue_name: str, prefetch: int) -> list[bytes]:
        fetched.append(queue_name)
        return fetch(queue_name, prefetch)  # type: ignore[no-any-return]

    broker.do_fetch = counted  # type: ignore[attr-defined]
    broker.declare_queue("idle")
    consumer = broker.consume("idle", prefetch=1, timeout=100)
    try:
        # Three turns of an idle consumer: each fetches, then waits out its timeout on
        # the wake-up list (nothing is enqueued)
        turns = [next(consumer) for _ in range(3)]
        assert turns == [None, None, None]
        # one fetch a turn: none again right after a wait that timed out
        assert fetched == ["idle"] * 3
        # A wait that a token ends (here a token alone) is followed by a fetch
        push_wake(broker.client, broker.wake_key("idle"))  # type: ignore[attr-defined]
        assert next(consumer) is None
        assert fetched == ["idle"] * 5
    finally:
        consumer.close()


def test_an_idle_consumer_waits_longer_with_nothing_in_hand(idle_broker: RedisBroker) -> None:
    broker = idle_broker

    @dramatiq.actor(broker=broker, queue_name="in-hand")
    def in_hand() -> None:
        """Never run: the consumer is read by hand."""

    consumer = broker.consume("in-hand", prefetch=2, timeout=100)
    try:
        assert consumer.wait_s() == IDLE_TIMEOUTS * 0.1  # type: ignore[attr-defined]
        in_hand.send()
        assert next(consumer) is not None
        # a message in hand (a delay queue's must be re-enqueued on time): one timeout
        assert consumer.wait_s() == 0.1  # type: ignore[attr-defined]
    finally:
        consumer.close()


def test_a_stopping_worker_wakes_its_idle_consumers(idle_broker: RedisBroker) -> None:
    broker = idle_broker
    broker.declare_queue("stopping")
    # Given an idle consumer waiting for a wake-up (up to 4 s: nothing in hand)
    consumer = broker.consume("stopping", prefetch=1, timeout=1000)
    turned: list[object] = []
    waiting = threading.Thread(target=lambda: turned.append(next(consumer)))
    waiting.start()
    time.sleep(0.3)
    try:
        # When a worker of its broker begins to stop (dramatiq's before_worker_shutdown)
        broker.emit_before("worker_shutdown", None)
        # Then its wait ends at once, long before its 4 s, and its next waits last one
        # worker timeout, so that it sees the stop within a second
        waiting.join(timeout=2)
        assert not waiting.is_alive() and turned == [None]
        assert consumer.wait_s() == 1.0  # type: ignore[attr-defined]
        # and once the worker has stopped, a later one's consumers wait as usual again
        broker.emit_after("worker_shutdown", None)
        assert consumer.wait_s() == IDLE_TIMEOUTS * 1.0  # type: ignore[attr-defined]
    finally:
        waiting.join()
        consumer.close()
