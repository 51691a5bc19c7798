"""The leaderboard contract and where it is kept for the gateway to read."""

from __future__ import annotations

import redis
from pydantic import BaseModel, ConfigDict, Field

from shared.settings import Settings


class LeaderboardRow(BaseModel):
    """One (model, prompt version) pair's aggregate."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rank: int | None = Field(description="1 = best mean composite; None until scored.")
    model: str = Field(description="Model name.")
    prompt_version: str = Field(description="Prompt version.")
    n: int = Field(description="Finished runs (candidates).")
    n_scored: int = Field(description="Runs with a judge's score.")
    mean_composite: float | None = Field(description="Mean composite of scored runs.")
    mean_relevance: float | None = Field(description="Mean relevance of scored runs.")
    mean_actionability: float | None = Field(description="Mean actionability of scored runs.")
    mean_tone: float | None = Field(description="Mean tone of scored runs.")
    format_ok_rate: float = Field(description="Share of runs passing the automatic format check.")
    overlong_rate: float = Field(description="Share of runs with an automatic overlong tip.")
    mean_latency_s: float | None = Field(description="Mean generation wall time, seconds.")
    mean_tokens_per_s: float | None = Field(description="Mean generation speed.")


class Leaderboard(BaseModel):
    """An experiment's ranking of (model, prompt) pairs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    experiment: str = Field(description="Experiment name.")
    built_at: float = Field(description="When it was computed, Unix seconds.")
    n_runs: int = Field(description="Finished cell runs it was computed from.")
    rows: list[LeaderboardRow] = Field(description="Best first; unscored rows last.")


class LeaderboardStore:
    """The latest leaderboard of each experiment, in Redis."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    def save(self, board: Leaderboard) -> None:
        """Replace the experiment's stored leaderboard."""
        self._redis.set(
            self._settings.key("leaderboard", board.experiment), board.model_dump_json()
        )

    def get(self, experiment: str) -> Leaderboard | None:
        """The stored leaderboard, or None if none was built."""
        raw = self._redis.get(self._settings.key("leaderboard", experiment))
        return None if raw is None else Leaderboard.model_validate_json(raw)
