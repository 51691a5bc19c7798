"""The latest leaderboard of each experiment and view, in Redis, for the gateway to read."""

from __future__ import annotations

import redis
from pydantic import ValidationError

from shared.contracts.leaderboards import PRIMARY, Leaderboard
from shared.errors import LeaderboardRebuilding
from shared.settings import Settings

# Stores a leaderboard only if it is newer than the stored one: a slow, older rebuild
# finishing last must not overwrite a newer leaderboard.
_SAVE_IF_NEWER = """
local stored = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
if tonumber(ARGV[1]) <= stored then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'board', ARGV[2])
return 1
"""

# A board stored before an upgrade (one that no longer validates) gives way to the next
# rebuild whatever version it carried; unless a rebuild replaced it meanwhile.
_OUTDATE = """
if redis.call('HGET', KEYS[1], 'board') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'version', '-1')
end
"""

REBUILD_ASKED_FOR_S = 30  # one full rebuild asked per experiment in this time, however many reads


class LeaderboardStore:
    """The latest leaderboard of each experiment, in Redis."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings
        self._save = client.register_script(_SAVE_IF_NEWER)
        self._outdate = client.register_script(_OUTDATE)

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
        """The stored leaderboard of a view, or None if none was built; LeaderboardRebuilding
        if the stored one no longer matches the contract (see ask_rebuild)."""
        key = self._board_key(experiment, view)
        raw = self._redis.hget(key, "board")
        if raw is None:
            return None
        try:
            return Leaderboard.model_validate_json(raw)
        except ValidationError:
            self._outdate(keys=[key], args=[raw])
            raise LeaderboardRebuilding(experiment, view) from None

    def ask_rebuild(self, experiment: str) -> bool:
        """True for the first caller in REBUILD_ASKED_FOR_S: the one to ask the reporter."""
        key = self._settings.key("leaderboard-rebuild-asked", experiment)
        return bool(self._redis.set(key, b"1", nx=True, ex=REBUILD_ASKED_FOR_S))
