"""What is in the queues, read from dramatiq's Redis layout; dead-letter admin actions.

Under `<namespace>:dramatiq`, dramatiq's Redis broker keeps for a queue `q`: `q` (ids,
oldest first) and `q.msgs` (payloads), `q.DQ` / `q.DQ.msgs` (delayed), `q.XQ` (dead
letters, a sorted set by time) and `q.XQ.msgs`, `__acks__.<worker>.q` (in progress, a
set per worker, `q.DQ` included) and `__heartbeats__` (worker -> last heartbeat, ms).
Per-actor counters (processed, failed, retried, total duration) are kept by the workers'
ActorStats middleware in `<namespace>:actor-stats`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from shared.settings import Settings

QUEUES = ("collect", "record", "judge", "report")


@dataclass(frozen=True)
class QueueStats:
    """One queue's counts."""

    name: str
    ready: int
    delayed: int
    in_progress: int
    dead: int
    oldest_age_s: float | None


@dataclass(frozen=True)
class QueuedMessage:
    """A message, with what it is about."""

    message_id: str
    actor: str
    enqueued_at: float
    job_id: str | None
    cell_key: str | None
    experiment: str | None
    retries: int
    error: str | None


def _describe(message_id: str, raw: bytes | None) -> QueuedMessage | None:
    if raw is None:
        return None
    data = json.loads(raw)
    args = data.get("args") or [{}]
    payload = args[0] if isinstance(args[0], dict) else {}
    if "args" in payload:  # an *_exhausted callback carries the original message
        payload = (payload.get("args") or [{}])[0]
    cell = payload.get("cell") if isinstance(payload.get("cell"), dict) else payload
    options = data.get("options") or {}
    traceback = options.get("traceback")
    return QueuedMessage(
        message_id=message_id,
        actor=str(data.get("actor_name", "?")),
        enqueued_at=float(data.get("message_timestamp", 0)) / 1000,
        job_id=cell.get("job_id") if isinstance(cell, dict) else None,
        cell_key=cell.get("cell_key") if isinstance(cell, dict) else None,
        experiment=payload.get("experiment") if isinstance(payload, dict) else None,
        retries=int(options.get("retries", 0)),
        error=traceback.strip().splitlines()[-1] if isinstance(traceback, str) else None,
    )


class QueueInspector:
    """Reads the stack's queues; requeues or purges dead letters."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    def _key(self, name: str) -> str:
        return self._settings.key("dramatiq", name)

    def _in_progress(self, queue: str) -> int:
        total = 0
        for key in self._redis.scan_iter(match=self._key("__acks__.*"), count=500):
            name = key.decode()
            if name.endswith((f".{queue}", f".{queue}.DQ")):
                total += int(self._redis.scard(key))
        return total

    def stats(self, queue: str) -> QueueStats:
        """Ready, delayed, in progress, dead-lettered, and the oldest ready one's age."""
        with self._redis.pipeline() as pipe:
            pipe.llen(self._key(queue))
            pipe.llen(self._key(f"{queue}.DQ"))
            pipe.zcard(self._key(f"{queue}.XQ"))
            pipe.lrange(self._key(queue), 0, 0)
            ready, delayed, dead, first = pipe.execute()
        oldest = None
        if first:
            found = _describe(
                first[0].decode(), self._redis.hget(self._key(f"{queue}.msgs"), first[0])
            )
            if found is not None:
                oldest = round(max(0.0, time.time() - found.enqueued_at), 1)
        return QueueStats(queue, int(ready), int(delayed), self._in_progress(queue), int(dead),
                          oldest)  # fmt: skip

    def workers(self) -> list[dict[str, Any]]:
        """Every worker with its last heartbeat (seconds ago), most recent first."""
        beats = self._redis.zrevrange(self._key("__heartbeats__"), 0, -1, withscores=True)
        now = time.time()
        return [{"worker_id": w.decode(), "seen_s_ago": round(now - score / 1000, 1)}
                for w, score in beats]  # fmt: skip

    def messages(self, queue: str, kind: str = "ready", limit: int = 50) -> list[QueuedMessage]:
        """Messages waiting (`ready`, oldest first), `delayed`, or `dead` (newest first)."""
        if kind == "dead":
            ids = self._redis.zrevrange(self._key(f"{queue}.XQ"), 0, limit - 1)
            table = f"{queue}.XQ.msgs"
        else:
            name = queue if kind == "ready" else f"{queue}.DQ"
            ids = self._redis.lrange(self._key(name), 0, limit - 1)
            table = f"{name}.msgs"
        raws = self._redis.hmget(self._key(table), ids) if ids else []
        found = [_describe(i.decode(), raw) for i, raw in zip(ids, raws, strict=True)]
        return [m for m in found if m is not None]

    def requeue_dead(self, broker: RedisBroker, queue: str, message_id: str) -> bool:
        """Put one dead letter back on its queue with fresh retries; False if it is gone."""
        key, table = self._key(f"{queue}.XQ"), self._key(f"{queue}.XQ.msgs")
        raw = self._redis.hget(table, message_id)
        if raw is None or not self._redis.zrem(key, message_id):
            return False
        self._redis.hdel(table, message_id)
        data = json.loads(raw)
        options = {k: v for k, v in (data.get("options") or {}).items()
                   if k not in ("retries", "traceback", "eta")}  # fmt: skip
        again: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue,
            actor_name=data["actor_name"],
            args=tuple(data.get("args") or ()),
            kwargs=data.get("kwargs") or {},
            options=options,
        )
        broker.enqueue(again)
        return True

    def requeue_all_dead(self, broker: RedisBroker, queue: str) -> int:
        """Requeue every dead letter of the queue; returns how many."""
        ids = [i.decode() for i in self._redis.zrange(self._key(f"{queue}.XQ"), 0, -1)]
        return sum(self.requeue_dead(broker, queue, i) for i in ids)

    def purge_dead(self, queue: str) -> int:
        """Delete every dead letter of the queue; returns how many."""
        count = int(self._redis.zcard(self._key(f"{queue}.XQ")))
        self._redis.delete(self._key(f"{queue}.XQ"), self._key(f"{queue}.XQ.msgs"))
        return count

    def actor_stats(self) -> dict[str, dict[str, float]]:
        """Per actor: processed, failed, retried, mean duration (ms)."""
        raw = self._redis.hgetall(self._settings.key("actor-stats"))
        stats: dict[str, dict[str, float]] = {}
        for field, value in raw.items():
            actor, _, what = field.decode().rpartition(":")
            stats.setdefault(actor, {"processed": 0, "failed": 0, "retried": 0, "ms": 0})[what] = (
                float(value)
            )
        for entry in stats.values():
            done = entry["processed"] + entry["failed"]
            entry["mean_ms"] = round(entry.pop("ms") / done, 1) if done else 0.0
        return dict(sorted(stats.items()))
