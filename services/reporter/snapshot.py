"""An experiment's cells as of its last rebuild, kept in Redis, and the runs changed since.

A rebuild reads from MLflow only the runs that events named as new or re-scored. When Redis
has no snapshot (first rebuild, Redis restarted) it starts from the durable copy in MLflow
(see durable.py); a full read happens when there is no such copy either, or when an event
could not say which run changed. MLflow stays the record; these are derived copies.
"""

from __future__ import annotations

import json
import logging

from mlflow.tracking import MlflowClient

from services.reporter import durable
from services.reporter.experiment_keys import ExperimentKeys
from services.reporter.leaderboard import Cell, read_cells

# Moves the changed run ids into the "processing" set and returns them. A rebuild that
# dies before it finishes leaves "processing" behind, and the next rebuild takes it too.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1])
  redis.call('DEL', KEYS[1])
end
return redis.call('SMEMBERS', KEYS[2])
"""


log = logging.getLogger("tipbench.reporter")
EVERYTHING = "*"  # a changed "run id" that asks for a full read


class CellSnapshot(ExperimentKeys):
    """Per experiment: `cells` (run id -> cell), `changed` run ids, and a full-read flag."""

    SCRIPT = _TAKE

    def mark_changed(self, experiment: str, run_ids: list[str]) -> None:
        """Note runs to read again; no ids means "something changed": read everything."""
        self._redis.sadd(self._key("cells-changed", experiment), *(run_ids or [EVERYTHING]))

    def take_changed(self, experiment: str) -> list[str]:
        """The run ids changed since the last finished rebuild (EVERYTHING among them = all)."""
        keys = [self._key("cells-changed", experiment), self._key("cells-processing", experiment)]
        return sorted(member.decode() for member in self._script(keys=keys))

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
            cell = durable.cell_of_json(json.loads(value))
            if cell is None:
                return None  # a copy in an older layout: read everything again
            cells[run_id.decode()] = cell
        return cells

    def uncached(self, experiment: str, *, add: int = 0, reset: bool = False) -> int:
        """Runs read into the snapshot since the durable copy was last written."""
        key = self._key("cells-uncached", experiment)
        if reset:
            self._redis.delete(key)
            return 0
        return int(self._redis.incrby(key, add))

    def store(self, experiment: str, cells: list[Cell], *, replace: bool) -> None:
        """Write cells into the snapshot (replacing it whole when `replace`)."""
        key = self._key("cells", experiment)
        with self._redis.pipeline(transaction=True) as pipe:
            if replace:
                pipe.delete(key)
            if cells:
                pipe.hset(key, mapping={c.run_id: json.dumps(durable.cell_json(c)) for c in cells})
            pipe.execute()


def current_cells(
    client: MlflowClient, snapshot: CellSnapshot, experiment: str, experiment_id: str
) -> list[Cell]:
    """The experiment's cells: the snapshot plus the runs changed since, the durable copy
    plus the runs changed since when Redis has no snapshot, or a full read."""
    started = durable.now_ms()
    changed = snapshot.take_changed(experiment)
    known = snapshot.load(experiment)
    if EVERYTHING in changed:
        cells = read_cells(client, experiment_id)
        durable.save(client, experiment_id, cells, started)
        snapshot.store(experiment, cells, replace=True)
        snapshot.uncached(experiment, reset=True)
    elif known is None:
        cells, read = durable.cold_read(client, experiment_id)
        log.info(
            "%s: no snapshot in Redis, %d cells, %d runs read from MLflow",
            experiment,
            len(cells),
            read,
        )
        snapshot.store(experiment, cells, replace=True)
        snapshot.uncached(experiment, reset=True)
    else:
        fresh = read_cells(client, experiment_id, changed) if changed else []
        snapshot.store(experiment, fresh, replace=False)
        cells = list((known | {cell.run_id: cell for cell in fresh}).values())
        # Keeps what a cold start must read again beyond the durable copy near one page.
        if snapshot.uncached(experiment, add=len(fresh)) >= durable.REFRESH_AFTER_RUNS:
            durable.save(client, experiment_id, cells, started)
            snapshot.uncached(experiment, reset=True)
    snapshot.done(experiment)
    return cells
