"""Rebuild scheduling: once per burst of events, one replica at a time per experiment.

An event marks its experiment: if no rebuild is pending, it schedules one after a short
delay (a Redis key with expiry says "pending"); events during that delay ride along.
A rebuild takes the experiment's lock (a Redis key with expiry, so a killed replica's
lock lapses), clears "pending" and reads the runs: an event arriving from then on
schedules exactly one more rebuild, so the last leaderboard always reflects every run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from services.reporter.experiment_keys import ExperimentKeys

REBUILD_DELAY_MS = 750
PENDING_TTL_MS = 60_000  # a scheduled rebuild that never ran stops blocking new ones
LOCK_TTL_MS = 30_000  # longer than a 10,000-run rebuild; lapses if a replica dies

# Deletes the lock only if it is still ours: an expired lock may belong to another now.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RebuildGate(ExperimentKeys):
    """The pending flag and the per-experiment lock, in Redis."""

    SCRIPT = _RELEASE

    def mark_pending(self, experiment: str) -> bool:
        """True if this call scheduled the rebuild (none was pending)."""
        key = self._key("rebuild-pending", experiment)
        return bool(self._redis.set(key, "1", nx=True, px=PENDING_TTL_MS))

    @contextmanager
    def locked(self, experiment: str) -> Iterator[bool]:
        """Hold the experiment's rebuild lock; yields False if another replica holds it."""
        key, token = self._key("rebuild-lock", experiment), uuid.uuid4().hex
        if not self._redis.set(key, token, nx=True, px=LOCK_TTL_MS):
            yield False
            return
        try:
            self._redis.delete(self._key("rebuild-pending", experiment))
            self._redis.incr(self._key("rebuilds", experiment))
            yield True
        finally:
            self._script(keys=[key], args=[token])

    def rebuilds(self, experiment: str) -> int:
        """How many rebuilds of the experiment have started (for operators and benchmarks)."""
        return int(self._redis.get(self._key("rebuilds", experiment)) or 0)
