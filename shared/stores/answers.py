"""What the shared report shows of each run, per experiment, in Redis: read from MLflow once.

A rebuild renders every run's answer; reading each from MLflow again would cost one
artifact download per run per rebuild. MLflow stays the record; this is a derived copy:
the recorder adds a run as it writes it, a rebuild reads from MLflow any run missing here
(after a Redis loss, or written before the recorder did this).
"""

from __future__ import annotations

from collections.abc import Mapping

import redis
from pydantic import Field

from shared.base import Record
from shared.settings import Settings

# The run params that say how an answer was made (the collector records them).
MODEL_PARAMS = ("provider", "model_digest", "quantization", "parameter_count_b", "provider_version")
SAMPLING_PARAMS = ("temperature", "n_tips", "num_predict", "num_ctx")
RUN_PARAMS = (*MODEL_PARAMS, *SAMPLING_PARAMS, "seed", "repeat", "prompt_sha256", "prompt_uri")


class RunAnswer(Record):
    """A finished run's answer and the params that say how it was made."""

    answer: str = Field(description="The model's full answer.")
    params: dict[str, str] = Field(description="The run's reproducibility params.")

    @classmethod
    def of(cls, answer: str, params: Mapping[str, str]) -> RunAnswer:
        """A run's answer, with the params of all its params that RUN_PARAMS names."""
        return cls(answer=answer, params={k: params[k] for k in RUN_PARAMS if k in params})


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
