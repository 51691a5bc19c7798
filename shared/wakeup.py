"""Blocking wake-up for dramatiq's Redis consumers: idle workers wait on Redis, not a timer.

dramatiq's Redis consumer polls: with nothing to fetch it sleeps (backing off up to the
worker timeout) and asks again. A short timeout makes pickup fast and idle expensive (the
collector polled every 20 ms: a fifth of a core at rest); a long one makes it cheap and
slow. Here every enqueue also pushes a token on a wake-up list of its queue, and an idle
consumer blocks on that list (BLPOP): a message is picked up as soon as it is enqueued. A
consumer busy up to its prefetch limit waits, in memory, for one of its messages to be
acknowledged.

How long an idle consumer waits: one worker timeout while it has messages in hand (a
delay queue's consumer must re-enqueue each when its time comes; the worker's heartbeat
goes with every fetch), IDLE_TIMEOUTS of them when it has none. Each wait ends in a fetch,
which also finds the messages that arrive without an enqueue (a dead worker's, put back by
dramatiq's maintenance) and refreshes the worker's heartbeat. A stopping worker wakes its
consumers (`WakingConsumer.wake`), which then wait one timeout at a time, as dramatiq's
own shutdown expects.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.errors import ConnectionClosed

# An idle consumer with no message in hand waits up to this many worker timeouts (4 s with
# dramatiq's 1 s): an idle worker fetches every 4 s, a live worker's heartbeat stays far
# inside the broker's 20 s heartbeat timeout, and a dead worker's message is put back at
# most 4 s after that timeout passes.
IDLE_TIMEOUTS = 4
# No wait is longer: redis-py's client gives up on a reply after 5 s (its default socket
# timeout), and a BLPOP's reply comes when its wait ends.
MAX_WAIT_S = 4.0
# A shutdown token's lifetime, should its consumer be gone before it pops it.
STOP_TOKEN_TTL_S = 60

# Tokens kept per queue: enough to wake every consumer; a burst beyond it is found by the
# consumers' own fetches (each fetch takes up to its prefetch).
WAKE_CAP = 256


def push_wake(client: redis.Redis[bytes], key: str) -> None:
    """Leave one token on a queue's wake-up list (bounded)."""
    with client.pipeline(transaction=False) as pipe:
        pipe.lpush(key, b"1")
        pipe.ltrim(key, 0, WAKE_CAP - 1)
        pipe.execute()


class WakingConsumer(_RedisConsumer):
    """A RedisBroker consumer that blocks on its queue's wake-up list when idle."""

    def __init__(self, broker: Any, queue_name: str, prefetch: int, timeout: int, wake_key: str):
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        self._wake_key = wake_key
        self._stop_key = f"{wake_key}:stop:{uuid.uuid4().hex}"  # this consumer's own
        self._freed = threading.Event()

    def ack(self, message: MessageProxy) -> None:
        super().ack(message)  # type: ignore[no-untyped-call]
        self._freed.set()

    def nack(self, message: MessageProxy) -> None:
        super().nack(message)  # type: ignore[no-untyped-call]
        self._freed.set()

    def wake(self) -> None:
        """End this consumer's wait now (its worker is stopping)."""
        with self.broker.client.pipeline(transaction=False) as pipe:
            pipe.lpush(self._stop_key, b"1")
            pipe.expire(self._stop_key, STOP_TOKEN_TTL_S)
            pipe.execute()

    def close(self) -> None:
        try:
            self.broker.client.delete(self._stop_key)
        except redis.RedisError:
            pass  # expires on its own
        super().close()

    def wait_s(self) -> float:
        """How long the next wait for a wake-up may last (see the module's docstring)."""
        timeout_s = max(float(self.timeout) / 1000, 0.001)
        if self.outstanding_message_count or getattr(self.broker, "stopping", False):
            return min(timeout_s, MAX_WAIT_S)
        return min(IDLE_TIMEOUTS * timeout_s, MAX_WAIT_S)

    def __next__(self) -> MessageProxy | None:
        if self.message_cache:
            return super().__next__()  # type: ignore[no-untyped-call,no-any-return]
        if self.outstanding_message_count >= self.prefetch:
            # Full: nothing may be fetched until a message in hand is done.
            self._freed.wait(self.timeout / 1000)
            self._freed.clear()
            return None
        fetched = self._fetch()
        if fetched is not None:
            return fetched
        try:
            woken = self.broker.client.blpop(
                [self._wake_key, self._stop_key], timeout=self.wait_s()
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # (a reply later than the client's socket timeout: restarted as a lost connection)
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
        if woken is None:
            # Timed out: the next call fetches first; fetching here too would make two
            # fetches back to back, twice an idle worker's cost.
            return None
        return self._fetch()

    def _fetch(self) -> MessageProxy | None:
        """One fetch up to the prefetch limit; the first message fetched, if any."""
        try:
            self.message_cache = self.broker.do_fetch(
                self.queue_name, self.prefetch - self.outstanding_message_count
            )
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
        if not self.message_cache:
            return None
        return super().__next__()  # type: ignore[no-untyped-call,no-any-return]
