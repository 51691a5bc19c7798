"""The latest leaderboard of each experiment and view, in Redis, for the gateway to read."""

from __future__ import annotations

import redis

from shared.contracts.leaderboards import PRIMARY, Leaderboard
from shared.settings import Settings

# Stores a leaderboard only if it is newer than the stored one: a slow, older rebuild
# finishing last must not overwrite a newer leaderboard.
_SAVE_IF_NEWER = """
local stored = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
if tonumber(ARGV[1]) <= stored then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'board', ARGV[2])
return 1
"""


class LeaderboardStore:
    """The latest leaderboard of each experiment, in Redis."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings
        self._save = client.register_script(_SAVE_IF_NEWER)

    def next_version(self, experiment: str) -> int:
        """A version number larger than every one handed out before."""
        return int(self._redis.incr(self._settings.key("leaderboard-version", experiment)))

    def _board_key(self, experiment: str, view: str) -> str:
        if view == PRIMARY:
            return self._settings.key("leaderboard", experiment)
        return self._settings.key("leaderboard", experiment, view)

    def save(self, board: Leaderboard) -> bool:
        """Store the leaderboard unless a newer one is stored; True if stored."""
        key = self._board_key(board.experiment, board.view)
        return bool(self._save(keys=[key], args=[board.version, board.model_dump_json()]))

    def get(self, experiment: str, view: str = PRIMARY) -> Leaderboard | None:
        """The stored leaderboard of a view, or None if none was built."""
        raw = self._redis.hget(self._board_key(experiment, view), "board")
        return None if raw is None else Leaderboard.model_validate_json(raw)
