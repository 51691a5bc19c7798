"""What the shared report shows of each run, per experiment, in Redis: read from MLflow once.

A rebuild renders every run's answer; reading each from MLflow again would cost one
artifact download per run per rebuild. MLflow stays the record; this is a derived copy.
"""

from __future__ import annotations

import redis
from pydantic import Field

from shared.base import Record
from shared.settings import Settings


class RunAnswer(Record):
    """A finished run's answer and the params that say how it was made."""

    answer: str = Field(description="The model's full answer.")
    params: dict[str, str] = Field(description="The run's reproducibility params.")


class AnswerStore:
    """Per experiment: run id -> RunAnswer."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    def get(self, experiment: str) -> dict[str, RunAnswer]:
        """Every run of the experiment read so far."""
        raw = self._redis.hgetall(self._settings.key("answers", experiment))
        return {k.decode(): RunAnswer.model_validate_json(v) for k, v in raw.items()}

    def add(self, experiment: str, answers: dict[str, RunAnswer]) -> None:
        """Keep runs just read."""
        if answers:
            self._redis.hset(
                self._settings.key("answers", experiment),
                mapping={run: a.model_dump_json() for run, a in answers.items()},
            )
