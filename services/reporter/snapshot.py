"""An experiment's cells as of its last rebuild, kept in Redis, and the runs changed since.

A rebuild reads from MLflow only the runs that events named as new or re-scored; a full
read happens when there is no snapshot yet (first rebuild, Redis restarted) or when an
event could not say which run changed. MLflow stays the record; this is a derived copy.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import redis
from mlflow.tracking import MlflowClient

from services.reporter.leaderboard import Cell, read_cells
from shared.settings import Settings

# Moves the changed run ids into the "processing" set and returns them. A rebuild that
# dies before it finishes leaves "processing" behind, and the next rebuild takes it too.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1])
  redis.call('DEL', KEYS[1])
end
return redis.call('SMEMBERS', KEYS[2])
"""


EVERYTHING = "*"  # a changed "run id" that asks for a full read


class CellSnapshot:
    """Per experiment: `cells` (run id -> cell), `changed` run ids, and a full-read flag."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings
        self._take = client.register_script(_TAKE)

    def _key(self, what: str, experiment: str) -> str:
        return self._settings.key(what, experiment)

    def mark_changed(self, experiment: str, run_ids: list[str]) -> None:
        """Note runs to read again; no ids means "something changed": read everything."""
        self._redis.sadd(self._key("cells-changed", experiment), *(run_ids or [EVERYTHING]))

    def take_changed(self, experiment: str) -> list[str]:
        """The run ids changed since the last finished rebuild (EVERYTHING among them = all)."""
        keys = [self._key("cells-changed", experiment), self._key("cells-processing", experiment)]
        return sorted(member.decode() for member in self._take(keys=keys))

    def done(self, experiment: str) -> None:
        """The changes taken are in the snapshot now."""
        self._redis.delete(self._key("cells-processing", experiment))

    def load(self, experiment: str) -> dict[str, Cell] | None:
        """The snapshot, or None if there is none (a full read is needed)."""
        raw = self._redis.hgetall(self._key("cells", experiment))
        if not raw:
            return None
        cells = {}
        for run_id, value in raw.items():
            data = json.loads(value)
            data["row"] = tuple(data["row"])
            try:
                cells[run_id.decode()] = Cell(**data)
            except TypeError:
                return None  # a copy in an older layout: read everything again
        return cells

    def store(self, experiment: str, cells: list[Cell], *, replace: bool) -> None:
        """Write cells into the snapshot (replacing it whole when `replace`)."""
        key = self._key("cells", experiment)
        with self._redis.pipeline(transaction=True) as pipe:
            if replace:
                pipe.delete(key)
            if cells:
                pipe.hset(key, mapping={c.run_id: json.dumps(asdict(c)) for c in cells})
            pipe.execute()


def current_cells(
    client: MlflowClient, snapshot: CellSnapshot, experiment: str, experiment_id: str
) -> list[Cell]:
    """The experiment's cells: the snapshot plus the runs changed since, or a full read."""
    changed = snapshot.take_changed(experiment)
    known = snapshot.load(experiment)
    if known is None or EVERYTHING in changed:
        cells = read_cells(client, experiment_id)
        snapshot.store(experiment, cells, replace=True)
    else:
        fresh = read_cells(client, experiment_id, changed) if changed else []
        snapshot.store(experiment, fresh, replace=False)
        cells = list((known | {cell.run_id: cell for cell in fresh}).values())
    snapshot.done(experiment)
    return cells
