"""Blocking wake-up for dramatiq's Redis consumers: idle workers wait on Redis, not a timer.

dramatiq's Redis consumer polls: with nothing to fetch it sleeps (backing off up to the
worker timeout) and asks again. A short timeout makes pickup fast and idle expensive (the
collector polled every 20 ms: a fifth of a core at rest); a long one makes it cheap and
slow. Here every enqueue also pushes a token on a wake-up list of its queue, and an idle
consumer blocks on that list (BLPOP) for up to the worker timeout: a message is picked up
as soon as it is enqueued, and an idle worker costs one fetch per timeout. A consumer busy
up to its prefetch limit waits, in memory, for one of its messages to be acknowledged.

Messages that arrive without an enqueue (a dead worker's, put back by dramatiq's
maintenance) are found by the fetch that ends each timeout, as before.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.errors import ConnectionClosed

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
        self._freed = threading.Event()

    def ack(self, message: MessageProxy) -> None:
        super().ack(message)  # type: ignore[no-untyped-call]
        self._freed.set()

    def nack(self, message: MessageProxy) -> None:
        super().nack(message)  # type: ignore[no-untyped-call]
        self._freed.set()

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
            self.broker.client.blpop([self._wake_key], timeout=max(self.timeout / 1000, 0.001))
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
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
