"""Job records in Redis: a job's request, its cell counts and its status.

The record is small and derived: MLflow holds the results, and a job's progress can be
rebuilt from which cell keys have finished runs.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import redis
from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import BenchRequest
from shared.errors import JobNotFound
from shared.settings import Settings

JobState = Literal["queued", "running", "finished", "partial", "failed"]

# Marks a cell done or failed, at most once, and decides the job's status atomically so
# that concurrent or redelivered marks can neither double-count nor miss the end.
_MARK_CELL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0, 0, 0} end
local added = 0
if ARGV[2] == '1' then
  added = redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
elseif redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  added = redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
end
local done = redis.call('SCARD', KEYS[2])
local failed = redis.call('SCARD', KEYS[3])
local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
local complete = 0
if done + failed >= total then
  complete = 1
  local status = 'finished'
  if failed > 0 then
    if done == 0 then status = 'failed' else status = 'partial' end
  end
  if added == 1 then redis.call('HSET', KEYS[1], 'status', status, 'finished_at', ARGV[4]) end
elseif added == 1 then
  redis.call('HSET', KEYS[1], 'status', 'running')
end
return {added, done, failed, complete}
"""


class JobStatus(BaseModel):
    """A job as the API shows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    job_id: str = Field(description="Job id.")
    experiment: str = Field(description="Experiment name.")
    parent_run_id: str = Field(description="The job's MLflow parent run.")
    status: JobState = Field(description="queued, running, finished, partial or failed.")
    total: int = Field(description="Cells in the job.")
    done: int = Field(description="Cells with a finished run.")
    failed: int = Field(description="Cells failed for good.")
    current_model: str | None = Field(description="Model of the cell being generated.")
    created_at: float = Field(description="Submission time, Unix seconds.")
    finished_at: float | None = Field(description="When the last cell ended, Unix seconds.")
    failed_cells: dict[str, str] = Field(description="Failed cell key -> error.")
    request: dict[str, Any] = Field(description="The bench request as submitted.")


class CellMark(BaseModel):
    """What marking a cell did to its job."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    added: bool = Field(description="False if the cell was already marked this way.")
    done: int = Field(description="Cells done after the mark.")
    failed: int = Field(description="Cells failed after the mark.")
    complete: bool = Field(description="True if every cell is now done or failed.")


class JobStore:
    """Job records under the stack's namespace in Redis."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings
        self._mark = client.register_script(_MARK_CELL)

    def _keys(self, job_id: str) -> tuple[str, str, str, str]:
        base = self._settings.key("job", job_id)
        return base, f"{base}:done", f"{base}:failed", f"{base}:errors"

    def create(self, job_id: str, request: BenchRequest, parent_run_id: str, total: int) -> None:
        """Write a new job record in state queued."""
        now = time.time()
        job_key = self._keys(job_id)[0]
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                job_key,
                mapping={
                    "job_id": job_id,
                    "experiment": request.experiment,
                    "parent_run_id": parent_run_id,
                    "status": "queued",
                    "total": total,
                    "created_at": now,
                    "request": request.model_dump_json(),
                },
            )
            pipe.zadd(self._settings.key("jobs"), {job_id: now})
            pipe.execute()

    def mark_cell(self, job_id: str, cell_key: str, *, ok: bool, error: str = "") -> CellMark:
        """Mark a cell done (ok) or failed; idempotent per cell and outcome."""
        added, done, failed, complete = self._mark(
            keys=list(self._keys(job_id)), args=[cell_key, "1" if ok else "0", error, time.time()]
        )
        if added == -1:
            raise JobNotFound(f"no job {job_id!r}")
        return CellMark(added=bool(added), done=done, failed=failed, complete=bool(complete))

    def set_current_model(self, job_id: str, model: str) -> None:
        """Record which model the collector is generating with."""
        self._redis.hset(self._keys(job_id)[0], "current_model", model)

    def get(self, job_id: str) -> JobStatus:
        """Read a job; JobNotFound if there is none."""
        job_key, done_key, failed_key, errors_key = self._keys(job_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(job_key)
            pipe.scard(done_key)
            pipe.scard(failed_key)
            pipe.hgetall(errors_key)
            record, done, failed, errors = pipe.execute()
        if not record:
            raise JobNotFound(f"no job {job_id!r}")
        fields = {k.decode(): v.decode() for k, v in record.items()}
        return JobStatus(
            job_id=fields["job_id"],
            experiment=fields["experiment"],
            parent_run_id=fields["parent_run_id"],
            status=fields["status"],
            total=int(fields["total"]),
            done=done,
            failed=failed,
            current_model=fields.get("current_model"),
            created_at=float(fields["created_at"]),
            finished_at=float(fields["finished_at"]) if "finished_at" in fields else None,
            failed_cells={k.decode(): v.decode() for k, v in errors.items()},
            request=json.loads(fields["request"]),
        )

    def recent(self, limit: int = 50) -> list[str]:
        """Ids of the most recent jobs, newest first."""
        ids = self._redis.zrevrange(self._settings.key("jobs"), 0, limit - 1)
        return [i.decode() for i in ids]
