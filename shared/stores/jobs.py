"""Job records in Redis: a job's request, its cell counts and its status.

The record is small and derived: MLflow holds the results, and a job's progress can be
rebuilt from which cell keys have finished runs.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Literal, cast, get_args

import redis
from pydantic import Field

from shared.base import Record
from shared.contracts.jobs import CellFailure, JobState, JobStatus, ModelProgress
from shared.contracts.messages import CollectCell
from shared.contracts.requests import BenchRequest
from shared.errors import JobNotFound
from shared.settings import Settings

# What begin_cell finds for a cell about to be generated.
CellStart = Literal["go", "cancelled", "done", "generated"]

# Every change of a job's status goes through set_status, which keeps the count of jobs per
# status (KEYS[states], a hash) in step, so counting them never reads every job. The hash is
# kept only once _COUNT_STATES has built it from the job records (a stack older than it
# has jobs it never counted).
_SET_STATUS_FN = """
local function set_status(job, states, new)
  local old = redis.call('HGET', job, 'status')
  redis.call('HSET', job, 'status', new)
  if old ~= new and redis.call('EXISTS', states) == 1 then
    if old then redis.call('HINCRBY', states, old, -1) end
    redis.call('HINCRBY', states, new, 1)
  end
end
"""

_SET_STATUS = _SET_STATUS_FN + "set_status(KEYS[1], KEYS[2], ARGV[1])"

# Before a cell is generated (JobStore.begin_cell): is its job cancelled, is the cell done,
# is its generation kept waiting for its run. ARGV[3] '0': the collector takes the cell's
# message (counted as taken, if the job exists); '1': its turn has come (on "go", and if
# the job exists, its model becomes the job's current one).
_BEGIN_CELL = """
local status = redis.call('HGET', KEYS[1], 'status')
if status and ARGV[3] == '0' then redis.call('HINCRBY', KEYS[4], ARGV[2], 1) end
if status == 'cancelled' then return 'cancelled' end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 'done' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'generated' end
if status and ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'current_model', ARGV[2]) end
return 'go'
"""

# Jobs per status: built once from every job record (atomically, so no change is missed
# or counted twice), then read as kept by set_status.
_COUNT_STATES = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'queued', 0)
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local status = redis.call('HGET', ARGV[1] .. id, 'status')
    if status then redis.call('HINCRBY', KEYS[2], status, 1) end
  end
end
return redis.call('HGETALL', KEYS[2])
"""

# The cells an experiment's jobs hold that have not ended (KEYS[waiting], a hash by
# experiment): a job adds its cells, a cell's first end takes one away, a retry puts the
# reopened ones back. A stack older than the count undercounts (never below 0).
_ENDED_FN = """
local function ended(waiting, experiment)
  if redis.call('HINCRBY', waiting, experiment, -1) < 0 then
    redis.call('HSET', waiting, experiment, 0)
  end
end
"""

# Marks a cell done or failed, at most once, and decides the job's status atomically so
# that concurrent or redelivered marks can neither double-count nor miss the end. It also
# counts down the cells left per model, which tells the collector when to unload a model.
_MARK_CELL = (
    _SET_STATUS_FN
    + _ENDED_FN
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0, 0, 0, 0} end
local added = 0
if ARGV[2] == '1' then
  added = redis.call('SADD', KEYS[2], ARGV[1])
  local was_failed = redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
  if added == 1 and was_failed == 0 then
    redis.call('HINCRBY', KEYS[5], ARGV[5], -1)
    ended(KEYS[9], redis.call('HGET', KEYS[1], 'experiment'))
  end
  if added == 1 then redis.call('HINCRBY', KEYS[6], ARGV[5], 1) end
  if was_failed == 1 then redis.call('HINCRBY', KEYS[7], ARGV[5], -1) end
elseif redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  added = redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
  if added == 1 then
    redis.call('HINCRBY', KEYS[5], ARGV[5], -1)
    redis.call('HINCRBY', KEYS[7], ARGV[5], 1)
    ended(KEYS[9], redis.call('HGET', KEYS[1], 'experiment'))
  end
end
local done = redis.call('SCARD', KEYS[2])
local failed = redis.call('SCARD', KEYS[3])
local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
local left = tonumber(redis.call('HGET', KEYS[5], ARGV[5]) or '0')
local complete = 0
local status = redis.call('HGET', KEYS[1], 'status')
if done + failed >= total then
  complete = 1
  if added == 1 and status ~= 'cancelled' then
    status = 'finished'
    if failed > 0 then
      if done == 0 then status = 'failed' else status = 'partial' end
    end
  end
  if added == 1 then
    set_status(KEYS[1], KEYS[8], status)
    redis.call('HSET', KEYS[1], 'finished_at', ARGV[4])
  end
elseif added == 1 and status == 'queued' then
  set_status(KEYS[1], KEYS[8], 'running')
end
return {added, done, failed, complete, left}
"""
)

# Puts a job's failed cells back in play: they leave the failed set, count again as left
# for their model, and the job runs again. Returns the reopened cell keys.
_REOPEN_FAILED = (
    _SET_STATUS_FN
    + """
local keys = redis.call('SMEMBERS', KEYS[2])
for _, key in ipairs(keys) do
  local spec = redis.call('HGET', KEYS[4], key)
  local model = cjson.decode(spec)['model']
  redis.call('HINCRBY', KEYS[3], model, 1)
  redis.call('HINCRBY', KEYS[6], model, -1)
end
if #keys > 0 then
  redis.call('HINCRBY', KEYS[8], redis.call('HGET', KEYS[1], 'experiment'), #keys)
  redis.call('DEL', KEYS[2], KEYS[5])
  set_status(KEYS[1], KEYS[7], 'running')
  redis.call('HDEL', KEYS[1], 'finished_at')
end
return keys
"""
)

# Cancels a job that has not ended: the collector then skips its remaining cells.
_CANCEL = (
    _SET_STATUS_FN
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status == 'queued' or status == 'running' then
  set_status(KEYS[1], KEYS[2], 'cancelled')
  return 1
end
return 0
"""
)


class CellMark(Record):
    """What marking a cell did to its job."""

    added: bool = Field(description="False if the cell was already marked this way.")
    done: int = Field(description="Cells done after the mark.")
    failed: int = Field(description="Cells failed after the mark.")
    complete: bool = Field(description="True if every cell is now done or failed.")
    model_left: int = Field(description="Cells of the same model in this job not yet ended.")


def _model_order(requested: list[str], totals: dict[bytes, bytes]) -> list[str]:
    """The job's models in the order requested (the order they run in)."""
    named = {k.decode() for k in totals}
    return [m for m in requested if m in named] + sorted(named - set(requested))


class JobStore:
    """Job records under the stack's namespace in Redis."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings
        self._mark = client.register_script(_MARK_CELL)
        self._reopen = client.register_script(_REOPEN_FAILED)
        self._cancel = client.register_script(_CANCEL)
        self._set_status = client.register_script(_SET_STATUS)
        self._count_states = client.register_script(_COUNT_STATES)
        self._begin_cell = client.register_script(_BEGIN_CELL)
        self._states = settings.key("job-states")
        self._waiting = settings.key("cells-waiting")

    def _key(self, job_id: str, part: str = "") -> str:
        base = self._settings.key("job", job_id)
        return f"{base}:{part}" if part else base

    def create(self, job_id: str, request: BenchRequest, cells: list[CollectCell]) -> None:
        """Write a new job record in state queued, with its cells' specifications (its
        MLflow parent run is opened later, off the request path: see set_parent_run)."""
        now = time.time()
        left: dict[str | bytes, bytes | float | int | str] = dict(
            Counter(cell.model for cell in cells)
        )
        specs: dict[str | bytes, bytes | float | int | str] = {
            cell.cell_key: cell.model_dump_json() for cell in cells
        }
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._key(job_id),
                mapping={
                    "job_id": job_id,
                    "experiment": request.experiment,
                    "total": len(cells),
                    "created_at": now,
                    "request": request.model_dump_json(),
                },
            )
            self._set_status(keys=[self._key(job_id), self._states], args=["queued"], client=pipe)
            pipe.hset(self._key(job_id, "left"), mapping=left)
            pipe.hset(self._key(job_id, "total_by_model"), mapping=left)
            pipe.hset(self._key(job_id, "cells"), mapping=specs)
            hosts: dict[str | bytes, bytes | float | int | str] = {
                cell.model: cell.host for cell in cells if cell.host
            }
            if hosts:
                pipe.hset(self._key(job_id, "host_by_model"), mapping=hosts)
            pipe.zadd(self._settings.key("jobs"), {job_id: now})
            pipe.hincrby(self._waiting, request.experiment, len(cells))
            pipe.execute()

    def mark_cell(self, cell: CollectCell, *, ok: bool, error: str = "") -> CellMark:
        """Mark a cell done (ok) or failed; idempotent per cell and outcome."""
        parts = ("", "done", "failed", "errors", "left", "done_by_model", "failed_by_model")
        keys = [self._key(cell.job_id, p) for p in parts] + [self._states, self._waiting]
        added, done, failed, complete, left = self._mark(
            keys=keys, args=[cell.cell_key, "1" if ok else "0", error, time.time(), cell.model]
        )
        if added == -1:
            raise JobNotFound(f"no job {cell.job_id!r}")
        return CellMark(
            added=bool(added), done=done, failed=failed, complete=bool(complete), model_left=left
        )

    def reopen_failed(self, job_id: str) -> list[CollectCell]:
        """Put the failed cells back in play and return them, to be enqueued again."""
        self.get(job_id)
        parts = ("", "failed", "left", "cells", "errors", "failed_by_model")
        keys = [self._key(job_id, p) for p in parts] + [self._states, self._waiting]
        cell_keys = [k.decode() for k in self._reopen(keys=keys)]
        if not cell_keys:
            return []
        specs = self._redis.hmget(self._key(job_id, "cells"), cell_keys)
        return [CollectCell.model_validate_json(spec) for spec in specs if spec is not None]

    def cancel(self, job_id: str) -> bool:
        """Cancel a job that has not ended; False if it had already ended."""
        result = self._cancel(keys=[self._key(job_id), self._states])
        if result == -1:
            raise JobNotFound(f"no job {job_id!r}")
        return bool(result)

    def begin_cell(self, cell: CollectCell, generated_key: str, *, turn: bool = True) -> CellStart:
        """What to do with a cell about to be generated, in one round trip: "cancelled"
        (its job was), "done" (marked so), "generated" (its generation, at `generated_key`,
        waits for its run), else "go". The collector asks twice: when it takes the cell's
        message (`turn=False`: the cell is counted as taken, see more_to_take), and when
        the cell's turn to generate comes (then, on "go", its model is noted as the job's
        current one)."""
        found = self._begin_cell(
            keys=[
                self._key(cell.job_id),
                self._key(cell.job_id, "done"),
                generated_key,
                self._key(cell.job_id, "taken_by_model"),
            ],
            args=[cell.cell_key, cell.model, "1" if turn else "0"],
        )
        return cast(CellStart, bytes(found).decode())

    def more_to_take(self, job_id: str, model: str) -> bool:
        """Whether cells of `model` in the job have not reached the collector yet (being
        enqueued, or queued behind others): then it keeps the model loaded."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._key(job_id, "total_by_model"), model)
            pipe.hget(self._key(job_id, "taken_by_model"), model)
            total, taken = pipe.execute()
        return int(total or 0) > int(taken or 0)

    def parent_run(self, job_id: str) -> str | None:
        """The job's MLflow parent run, once opened; JobNotFound if there is no job."""
        exists, run_id = self._redis.hmget(self._key(job_id), ["job_id", "parent_run_id"])
        if exists is None:
            raise JobNotFound(f"no job {job_id!r}")
        return run_id.decode() if run_id else None

    def set_parent_run(self, job_id: str, run_id: str) -> None:
        """Note the job's MLflow parent run (opened by the recorder)."""
        self._redis.hset(self._key(job_id), "parent_run_id", run_id)

    def request(self, job_id: str) -> BenchRequest:
        """The job's explicit request (see the gateway's `choose`); JobNotFound if none."""
        raw = self._redis.hget(self._key(job_id), "request")
        if raw is None:
            raise JobNotFound(f"no job {job_id!r}")
        return BenchRequest.model_validate_json(raw)

    def get(self, job_id: str) -> JobStatus:
        """Read a job; JobNotFound if there is none."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._key(job_id))
            pipe.scard(self._key(job_id, "done"))
            pipe.scard(self._key(job_id, "failed"))
            pipe.hgetall(self._key(job_id, "errors"))
            pipe.hgetall(self._key(job_id, "left"))
            for part in ("total_by_model", "done_by_model", "failed_by_model", "host_by_model"):
                pipe.hgetall(self._key(job_id, part))
            record, done, failed, errors, left, totals, dones, faileds, hosts = pipe.execute()
        if not record:
            raise JobNotFound(f"no job {job_id!r}")
        fields = {k.decode(): v.decode() for k, v in record.items()}
        failed_errors = {k.decode(): v.decode() for k, v in errors.items()}
        created = float(fields["created_at"])
        finished = float(fields["finished_at"]) if "finished_at" in fields else None
        total, ended = int(fields["total"]), done + failed
        elapsed = (finished or time.time()) - created
        eta = elapsed / ended * (total - ended) if ended and finished is None else None
        return JobStatus(
            job_id=fields["job_id"],
            experiment=fields["experiment"],
            parent_run_id=fields.get("parent_run_id"),
            status=fields["status"],
            total=total,
            done=done,
            failed=failed,
            current_model=fields.get("current_model"),
            models_left={k.decode(): int(v) for k, v in left.items() if int(v) > 0},
            models=[
                ModelProgress(
                    model=name,
                    total=int(totals.get(name.encode(), 0)),
                    done=int(dones.get(name.encode(), 0)),
                    failed=int(faileds.get(name.encode(), 0)),
                    host=hosts.get(name.encode(), b"").decode(),
                )
                for name in _model_order(json.loads(fields["request"])["models"], totals)
            ],
            created_at=created,
            finished_at=finished,
            elapsed_s=round(elapsed, 3),
            eta_s=round(eta, 1) if eta is not None else None,
            failed_cells=failed_errors,
            failures=self._failures(job_id, failed_errors),
            request=json.loads(fields["request"]),
        )

    def _failures(self, job_id: str, errors: dict[str, str]) -> list[CellFailure]:
        keys = sorted(errors)
        specs = self._redis.hmget(self._key(job_id, "cells"), keys) if keys else []
        found = []
        for key, spec in zip(keys, specs, strict=True):
            if spec is None:
                continue
            cell = CollectCell.model_validate_json(spec)
            found.append(
                CellFailure(
                    cell_key=key,
                    model=cell.model,
                    prompt_version=cell.prompt_version,
                    scenario_id=cell.scenario_id,
                    repeat=cell.repeat,
                    error=errors[key],
                )
            )
        return sorted(found, key=lambda f: (f.model, f.prompt_version, f.scenario_id, f.repeat))

    def cells_left(self, experiment: str) -> int:
        """Cells of the experiment's jobs that have not ended (one read: see _ENDED_FN)."""
        return int(self._redis.hget(self._waiting, experiment) or 0)

    def status_counts(self) -> dict[str, int]:
        """How many jobs are in each state (every state named, 0 if none)."""
        counts = dict.fromkeys(get_args(JobState), 0)
        flat = self._count_states(
            keys=[self._settings.key("jobs"), self._states], args=[self._key("")]
        )
        for status, count in zip(flat[::2], flat[1::2], strict=True):
            if status.decode() in counts:
                counts[status.decode()] = int(count)
        return counts

    def recent(self, limit: int = 50) -> list[str]:
        """Ids of the most recent jobs, newest first."""
        ids = self._redis.zrevrange(self._settings.key("jobs"), 0, limit - 1)
        return [i.decode() for i in ids]
