"""The recorder's index of a job's cells in Redis: which have a run, which were begun.

It spares the MLflow search for a cell's run on the common path (a first delivery), while
MLflow stays the truth. Redis can lose writes (a restart from an older snapshot, a
failover), so the index of a job is trusted only within the Redis server process (its
run_id) that built it, and it is built from MLflow: the first cell of a job the recorder
sees under a Redis server it has not indexed under reads every run of the job in one
search. Within that server a cell is marked begun before its run is created, so a cell
without a mark has no run, and only a begun cell (a redelivery after a crash) is looked
up in MLflow, where its unfinished leftovers are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import redis
from mlflow.tracking import MlflowClient

from shared import tracking
from shared.contracts import CollectCell
from shared.settings import Settings

# Marks outlive the job's generations (kept a week for an MLflow outage) by a day.
INDEX_TTL_S = 8 * 24 * 3600
_SERVER_FIELD = "redis_run_id"  # the Redis server process the index was built under
BEGUN = "begun"

CellState = Literal["new", "begun"] | str  # or the id of the cell's finished run


@dataclass(frozen=True)
class RecordIndex:
    """A job's recorded and begun cells, under the stack's namespace."""

    redis: redis.Redis[bytes]
    settings: Settings

    def _key(self, job_id: str) -> str:
        return self.settings.key("recorded", job_id)

    def _server(self) -> str:
        return str(self.redis.info("server")["run_id"])

    def state(self, client: MlflowClient, experiment_id: str, cell: CollectCell) -> CellState:
        """The cell: "new" (no run: create it), "begun" (look it up) or its finished run id."""
        key = self._key(cell.job_id)
        server = self._server()
        built, mark = self.redis.hmget(key, [_SERVER_FIELD, cell.cell_key])
        if built is None or built.decode() != server:
            self._build(client, experiment_id, cell.job_id, server)
            mark = self.redis.hget(key, cell.cell_key)
        return "new" if mark is None else mark.decode()

    def _build(self, client: MlflowClient, experiment_id: str, job_id: str, server: str) -> None:
        """Index the job's runs as MLflow has them (every unfinished one as begun)."""
        key = self._key(job_id)
        query = f"tags.{tracking.TAG_JOB_ID} = {tracking.quote(job_id)}"
        marks: dict[str, str] = {}
        for run in tracking.search_runs(client, experiment_id, query):
            cell_key = run.data.tags.get(tracking.TAG_CELL_KEY)
            if cell_key is None:  # the job's parent run
                continue
            if run.info.status != tracking.RUN_FINISHED:
                marks[cell_key] = BEGUN  # its leftovers are deleted when it is recorded
            elif marks.get(cell_key) != BEGUN:
                marks[cell_key] = run.info.run_id
        # Marks of an older server stay: each says no more than "look it up" or a run id.
        with self.redis.pipeline(transaction=False) as pipe:
            if marks:
                pipe.hset(key, mapping=marks)  # type: ignore[arg-type]
            pipe.hset(key, _SERVER_FIELD, server)
            pipe.expire(key, INDEX_TTL_S)
            pipe.execute()

    def begin(self, cell: CollectCell) -> None:
        """Mark a cell begun: from here on it may have a run in MLflow."""
        self._mark(cell, BEGUN)

    def recorded(self, cell: CollectCell, run_id: str) -> None:
        """Mark a cell's finished run."""
        self._mark(cell, run_id)

    def _mark(self, cell: CollectCell, value: str) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._key(cell.job_id), cell.cell_key, value)
            pipe.expire(self._key(cell.job_id), INDEX_TTL_S)
            pipe.execute()
