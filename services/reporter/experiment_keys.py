"""The base of the reporter's per-experiment state in Redis (besides the leaderboards): the
rebuild gate (rebuild.py) and the cell snapshot (snapshot.py) each run one Lua script on
keys named per experiment."""

from __future__ import annotations

from typing import ClassVar

import redis

from shared.settings import Settings


class ExperimentKeys:
    """Redis keys named `<namespace>:<what>:<experiment>`, and the subclass's `SCRIPT`."""

    SCRIPT: ClassVar[str]  # the Lua script a subclass runs as `self._script`

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings
        self._script = client.register_script(self.SCRIPT)

    def _key(self, what: str, experiment: str) -> str:
        return self._settings.key(what, experiment)
