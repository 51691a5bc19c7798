"""Every judge's score of every run, the change history, and who is the primary judge.

MLflow keeps the scores as run metrics (`judge/<judge id>/<item>` for every judge, the
plain names for the experiment's primary judge); this Redis copy lets an ingest tell a
re-post (nothing to write) from a change (write it and record who, when, old and new).
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from shared.contracts.answers import JudgeFailureInfo
from shared.settings import Settings


class ScoreStore:
    """Per run: each judge's latest score; per experiment: history and judges' done sets."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    def latest(self, run_id: str, judge_id: str) -> dict[str, Any] | None:
        """The judge's current score of the run, or None."""
        raw = self._redis.hget(self._settings.key("score", run_id), judge_id)
        return None if raw is None else dict(json.loads(raw))

    def primary_judge(self, experiment: str, candidate: str) -> str:
        """The experiment's primary judge: the first to submit scores."""
        key = self._settings.key("primary-judge", experiment)
        self._redis.set(key, candidate, nx=True)
        value = self._redis.get(key)
        return value.decode() if value else candidate

    def record(
        self,
        experiment: str,
        run_id: str,
        judge_id: str,
        new: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> None:
        """Keep the new score, mark the run judged by this judge, and log the change."""
        change = {"at": time.time(), "run_id": run_id, "judge_id": judge_id, "old": old, "new": new}
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._settings.key("score", run_id), judge_id, json.dumps(new))
            pipe.sadd(self._settings.key("judged", experiment, judge_id), run_id)
            pipe.rpush(self._settings.key("score-history", experiment), json.dumps(change))
            pipe.execute()

    def judged_by(self, experiment: str, judge_id: str) -> set[str]:
        """The runs this judge has scored."""
        members = self._redis.smembers(self._settings.key("judged", experiment, judge_id))
        return {m.decode() for m in members}

    def record_failure(self, experiment: str, judge_id: str, run_id: str, error: str) -> None:
        """Note an item a judge could not score (it stays unscored, never zero)."""
        entry = JudgeFailureInfo(at=time.time(), judge_id=judge_id, run_id=run_id, error=error)
        self._redis.rpush(self._settings.key("judge-failures", experiment), entry.model_dump_json())

    def failures(self, experiment: str) -> list[JudgeFailureInfo]:
        """Every judge failure of the experiment, oldest first."""
        raw = self._redis.lrange(self._settings.key("judge-failures", experiment), 0, -1)
        return [JudgeFailureInfo.model_validate_json(entry) for entry in raw]

    def history(self, experiment: str) -> list[dict[str, Any]]:
        """Every score change of the experiment, oldest first."""
        raw = self._redis.lrange(self._settings.key("score-history", experiment), 0, -1)
        return [dict(json.loads(entry)) for entry in raw]
