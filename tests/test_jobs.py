"""Specs of the job record in Redis: idempotent marks, one end, the right final status."""

from __future__ import annotations

import uuid

import pytest
import redis

from shared.contracts import BenchRequest
from shared.errors import JobNotFound
from shared.jobs import JobStore
from shared.settings import Settings


@pytest.fixture
def jobs(settings: Settings) -> JobStore:
    return JobStore(redis.Redis.from_url(settings.redis_url), settings)


def new_job(jobs: JobStore, total: int) -> str:
    job_id = uuid.uuid4().hex
    jobs.create(job_id, BenchRequest(models=["tidy:1b"]), "parent-run", total=total)
    return job_id


def test_a_cell_marked_twice_counts_once(jobs: JobStore) -> None:
    job_id = new_job(jobs, total=3)
    first = jobs.mark_cell(job_id, "a", ok=True)
    again = jobs.mark_cell(job_id, "a", ok=True)
    assert (first.added, again.added) == (True, False)
    assert jobs.get(job_id).done == 1
    assert jobs.get(job_id).status == "running"


def test_the_job_completes_exactly_when_every_cell_is_marked(jobs: JobStore) -> None:
    job_id = new_job(jobs, total=2)
    assert not jobs.mark_cell(job_id, "a", ok=True).complete
    last = jobs.mark_cell(job_id, "b", ok=True)
    assert last.complete and (last.done, last.failed) == (2, 0)
    job = jobs.get(job_id)
    assert job.status == "finished" and job.finished_at is not None


@pytest.mark.parametrize(
    ("outcomes", "status"), [((True, False), "partial"), ((False, False), "failed")]
)
def test_failed_cells_make_the_job_partial_or_failed(
    jobs: JobStore, outcomes: tuple[bool, bool], status: str
) -> None:
    job_id = new_job(jobs, total=2)
    for key, ok in zip("ab", outcomes, strict=True):
        jobs.mark_cell(job_id, key, ok=ok, error="" if ok else f"boom {key}")
    job = jobs.get(job_id)
    assert job.status == status
    assert job.failed_cells == {
        k: f"boom {k}" for k, ok in zip("ab", outcomes, strict=True) if not ok
    }


def test_a_failure_never_overwrites_a_done_cell(jobs: JobStore) -> None:
    job_id = new_job(jobs, total=2)
    jobs.mark_cell(job_id, "a", ok=True)
    assert not jobs.mark_cell(job_id, "a", ok=False, error="late retry").added
    assert (jobs.get(job_id).done, jobs.get(job_id).failed) == (1, 0)


def test_unknown_job_is_named(jobs: JobStore) -> None:
    with pytest.raises(JobNotFound, match="no job 'missing'"):
        jobs.mark_cell("missing", "a", ok=True)
