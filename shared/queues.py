"""What is in the queues, read from dramatiq's Redis layout; dead-letter admin actions.

This module is the only reader of that layout (dramatiq's, not a public API): a dramatiq
upgrade that changes it breaks this file alone, and tests/test_queue_adapter.py says so.
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
from typing import Any, Final

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from shared.broker import HEARTBEAT_TIMEOUT_MS, worker_name_key
from shared.contracts import CollectCell
from shared.messaging import (
    COLLECT_QUEUE,
    JUDGE_QUEUE,
    RECORD_QUEUE,
    REPORT_QUEUE,
    ROUTES,
    collect_queue,
)
from shared.settings import Settings

QUEUES: Final = (COLLECT_QUEUE, RECORD_QUEUE, JUDGE_QUEUE, REPORT_QUEUE)
# A queue's head: its first id and that id's payload, in one round trip (the collector asks
# between two generations).
_HEAD_SCRIPT: Final = """
local id = redis.call('LINDEX', KEYS[1], 0)
if not id then return false end
return {id, redis.call('HGET', KEYS[2], id)}
"""
# The actor that generates a cell, as the routing table names it.
GENERATE_ACTOR: Final = dict(ROUTES[CollectCell])[COLLECT_QUEUE]


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
    cell: str | None  # `model | prompt | scenario`: a cell by what it is, not by its key
    experiment: str | None
    retries: int
    error: str | None


def _cell_name(cell: dict[str, Any]) -> str | None:
    parts = [cell.get(field) for field in ("model", "prompt_version", "scenario_id")]
    if not all(isinstance(part, str) for part in parts):
        return None
    repeat = cell.get("repeat")
    return " | ".join(map(str, parts)) + (f" (repeat {repeat})" if repeat else "")


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
        cell=_cell_name(cell) if isinstance(cell, dict) else None,
        experiment=payload.get("experiment") if isinstance(payload, dict) else None,
        retries=int(options.get("retries", 0)),
        error=traceback.strip().splitlines()[-1] if isinstance(traceback, str) else None,
    )


class QueueInspector:
    """Reads the stack's queues; requeues or purges dead letters."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings
        self._head_script = client.register_script(_HEAD_SCRIPT)

    def _key(self, name: str) -> str:
        return self._settings.key("dramatiq", name)

    def collect_queues(self) -> list[str]:
        """The generation queues: one per configured host, else the one `collect` queue."""
        hosts = self._settings.generation_hosts()
        return [collect_queue(h.name) for h in hosts] if hosts else [COLLECT_QUEUE]

    def names(self) -> list[str]:
        """Every queue of the stack, the generation queues first."""
        return self.collect_queues() + [q for q in QUEUES if q != COLLECT_QUEUE]

    def _in_progress(self, queue: str) -> int:
        # A worker leaves __heartbeats__ only once it holds no acks, so the ack sets are
        # those of the workers listed there: no scan of the whole keyspace.
        # A retried message moves from the delay queue to the queue under its own id, and
        # the consumer may take it before the delay queue's ack: counted once, by id.
        workers = [w.decode() for w in self._redis.zrange(self._key("__heartbeats__"), 0, -1)]
        acks = [
            self._key(f"__acks__.{worker}.{queue}{part}")
            for worker in workers
            for part in ("", ".DQ")
        ]
        return len(self._redis.sunion(acks)) if acks else 0

    def _head(self, queue: str) -> tuple[str, bytes] | None:
        """The id and payload of the message the queue's consumer takes next."""
        # A consumer takes a queue's ids from the left: the head is the next it takes
        # (the collector's cells already in hand are its session's, `ModelSession.held`).
        found = self._head_script(keys=[self._key(queue), self._key(f"{queue}.msgs")])
        if not found or not found[1]:  # an empty queue, or an id whose payload is gone
            return None
        head, raw = found
        return bytes(head).decode(), bytes(raw)

    def ready_count(self, queue: str) -> int:
        """How many messages wait in the queue, ready to be taken (delayed ones not counted)."""
        return int(self._redis.llen(self._key(queue)))

    def collector_busy(self) -> bool:
        """True while cells wait in any generation queue to be generated."""
        return any(self.ready_count(q) > 0 for q in self.collect_queues())

    def next_queued_model(self) -> str | None:
        """The model of the cell this collector (its host's) takes next; None if none is."""
        head = self._head(collect_queue(self._settings.collector_host))
        if head is None:
            return None
        message = json.loads(head[1])
        if message.get("actor_name") != GENERATE_ACTOR:
            return None
        model = message["args"][0].get("model")
        return str(model) if model else None

    def stats(self, queue: str) -> QueueStats:
        """Ready, delayed, in progress, dead-lettered, and the oldest ready one's age."""
        with self._redis.pipeline() as pipe:
            pipe.llen(self._key(queue))
            pipe.llen(self._key(f"{queue}.DQ"))
            pipe.zcard(self._key(f"{queue}.XQ"))
            ready, delayed, dead = pipe.execute()
        head = self._head(queue)
        oldest = _describe(*head) if head is not None else None
        return QueueStats(
            name=queue,
            ready=int(ready),
            delayed=int(delayed),
            in_progress=self._in_progress(queue),
            dead=int(dead),
            oldest_age_s=round(max(0.0, time.time() - oldest.enqueued_at), 1) if oldest else None,
        )

    def workers(self) -> list[dict[str, Any]]:
        """Every worker with its service (None if it never said) and its last heartbeat
        (seconds ago), most recent first."""
        beats = self._redis.zrevrange(self._key("__heartbeats__"), 0, -1, withscores=True)
        keys = [worker_name_key(self._settings, w.decode()) for w, _ in beats]
        names = self._redis.mget(keys) if keys else []
        now = time.time()
        return [
            {
                "worker_id": w.decode(),
                "service": name.decode() if name else None,
                "seen_s_ago": round(now - score / 1000, 1),
            }
            for (w, score), name in zip(beats, names, strict=True)
        ]

    def workers_by_liveness(self) -> tuple[int, int]:
        """Workers alive and workers silent past dramatiq's heartbeat timeout (not yet
        cleared: their unacknowledged messages wait for a maintenance pass)."""
        key = self._key("__heartbeats__")
        cutoff_ms = time.time() * 1000 - HEARTBEAT_TIMEOUT_MS
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(key)
            pipe.zcount(key, "-inf", cutoff_ms)
            total, silent = pipe.execute()
        return int(total) - int(silent), int(silent)

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
        options = {
            k: v
            for k, v in (data.get("options") or {}).items()
            if k not in ("retries", "traceback", "eta")
        }
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
