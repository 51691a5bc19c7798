"""Specs of the job record in Redis: idempotent marks, one end, retry, cancel, model counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from shared.contracts import BenchRequest, CollectCell
from shared.errors import JobNotFound
from shared.settings import Settings
from shared.stores.jobs import JobStore
from testkit.cells import a_collect_cell


@pytest.fixture
def jobs(core_settings: Settings) -> Iterator[JobStore]:
    with redis.Redis.from_url(core_settings.redis_url) as client:
        yield JobStore(client, core_settings)


def cells_of(job_id: str, spec: str) -> list[CollectCell]:
    """Cells named by `spec`: 'a:m1 b:m1 c:m2' = cell a and b of model m1, c of m2."""
    cells = []
    for entry in spec.split():
        key, model = entry.split(":")
        cells.append(a_collect_cell(model, experiment="x", job_id=job_id, key=key))
    return cells


def new_job(jobs: JobStore, spec: str) -> dict[str, CollectCell]:
    job_id = uuid.uuid4().hex
    cells = cells_of(job_id, spec)
    jobs.create(job_id, BenchRequest(models=["tidy:1b"]), cells)
    return {c.cell_key: c for c in cells}


def test_a_cell_marked_twice_counts_once(jobs: JobStore) -> None:
    cells = new_job(jobs, "a:m b:m c:m")
    first = jobs.mark_cell(cells["a"], ok=True)
    again = jobs.mark_cell(cells["a"], ok=True)
    assert (first.added, again.added) == (True, False)
    job = jobs.get(cells["a"].job_id)
    assert (job.done, job.status, job.models_left) == (1, "running", {"m": 2})
    assert job.eta_s is not None and job.eta_s >= 0


def test_the_job_completes_exactly_when_every_cell_is_marked(jobs: JobStore) -> None:
    cells = new_job(jobs, "a:m b:m")
    assert not jobs.mark_cell(cells["a"], ok=True).complete
    last = jobs.mark_cell(cells["b"], ok=True)
    assert last.complete and (last.done, last.failed) == (2, 0)
    job = jobs.get(cells["a"].job_id)
    assert job.status == "finished" and job.finished_at is not None and job.eta_s is None


def test_model_left_counts_down_per_model(jobs: JobStore) -> None:
    cells = new_job(jobs, "a:m1 b:m1 c:m2")
    assert jobs.mark_cell(cells["a"], ok=True).model_left == 1
    assert jobs.mark_cell(cells["a"], ok=True).model_left == 1  # a repeat changes nothing
    assert jobs.mark_cell(cells["b"], ok=False, error="x").model_left == 0
    assert jobs.mark_cell(cells["c"], ok=True).model_left == 0


@pytest.mark.parametrize(
    ("outcomes", "status"), [((True, False), "partial"), ((False, False), "failed")]
)
def test_failed_cells_make_the_job_partial_or_failed(
    jobs: JobStore, outcomes: tuple[bool, bool], status: str
) -> None:
    cells = new_job(jobs, "a:m b:m")
    for key, ok in zip("ab", outcomes, strict=True):
        jobs.mark_cell(cells[key], ok=ok, error="" if ok else f"boom {key}")
    job = jobs.get(cells["a"].job_id)
    assert job.status == status
    assert job.failed_cells == {
        k: f"boom {k}" for k, ok in zip("ab", outcomes, strict=True) if not ok
    }


def test_progress_is_counted_per_model(jobs: JobStore) -> None:
    cells = new_job(jobs, "a:m1 b:m1 c:m2 d:m2 e:m2")
    jobs.mark_cell(cells["a"], ok=True)
    jobs.mark_cell(cells["a"], ok=True)  # redelivered: counted once
    jobs.mark_cell(cells["c"], ok=False, error="500")
    jobs.mark_cell(cells["d"], ok=False, error="500")
    jobs.mark_cell(cells["d"], ok=True)  # a late success replaces the failure
    job = jobs.get(cells["a"].job_id)
    assert [(m.model, m.total, m.done, m.failed) for m in job.models] == [
        ("m1", 2, 1, 0),
        ("m2", 3, 1, 1),
    ]


def test_a_failure_never_overwrites_a_done_cell(jobs: JobStore) -> None:
    cells = new_job(jobs, "a:m b:m")
    jobs.mark_cell(cells["a"], ok=True)
    assert not jobs.mark_cell(cells["a"], ok=False, error="late retry").added
    job = jobs.get(cells["a"].job_id)
    assert (job.done, job.failed) == (1, 0)


def test_reopening_returns_only_the_failed_cells_and_the_job_runs_again(jobs: JobStore) -> None:
    cells = new_job(jobs, "a:m1 b:m1 c:m2")
    job_id = cells["a"].job_id
    jobs.mark_cell(cells["a"], ok=True)
    jobs.mark_cell(cells["b"], ok=False, error="timeout")
    jobs.mark_cell(cells["c"], ok=False, error="500")
    assert jobs.get(job_id).status == "partial"
    reopened = jobs.reopen_failed(job_id)
    assert sorted(c.cell_key for c in reopened) == ["b", "c"]
    assert reopened[0].model_dump() == cells[reopened[0].cell_key].model_dump()
    job = jobs.get(job_id)
    assert (job.status, job.failed, job.failed_cells, job.models_left) == (
        "running",
        0,
        {},
        {"m1": 1, "m2": 1},
    )
    assert [(m.model, m.total, m.done, m.failed) for m in job.models] == [
        ("m1", 2, 1, 0),
        ("m2", 1, 0, 0),
    ]
    jobs.mark_cell(cells["b"], ok=True)
    assert jobs.mark_cell(cells["c"], ok=True).complete
    assert jobs.get(job_id).status == "finished"
    assert jobs.reopen_failed(job_id) == []


def kept_at(cell: CollectCell) -> str:
    """A key where a spec keeps (or not) a cell's generation waiting for its run."""
    return f"tipbench-spec:jobs:generated:{cell.job_id}:{cell.cell_key}"


def test_a_cell_begun_names_its_model_as_the_jobs_current_one_unless_it_is_skipped(
    jobs: JobStore, core_settings: Settings
) -> None:
    cells = new_job(jobs, "a:m b:n c:n d:n")
    job_id = cells["a"].job_id
    assert jobs.get(job_id).current_model is None
    assert jobs.more_to_take(job_id, "m")
    assert jobs.begin_cell(cells["a"], kept_at(cells["a"]), turn=False) == "go"
    assert jobs.get(job_id).current_model is None  # taken, its turn not yet come
    assert not jobs.more_to_take(job_id, "m") and jobs.more_to_take(job_id, "n")
    assert jobs.begin_cell(cells["a"], kept_at(cells["a"])) == "go"
    assert jobs.get(job_id).current_model == "m"
    jobs.mark_cell(cells["b"], ok=True)
    assert jobs.begin_cell(cells["b"], kept_at(cells["b"])) == "done"  # not again
    assert jobs.get(job_id).current_model == "m"
    with redis.Redis.from_url(core_settings.redis_url) as client:
        client.set(kept_at(cells["d"]), b"{}", ex=60)
        try:  # generated, its run not yet written: not generated again
            assert jobs.begin_cell(cells["d"], kept_at(cells["d"])) == "generated"
        finally:
            client.delete(kept_at(cells["d"]))
    assert jobs.get(job_id).current_model == "m"
    assert jobs.cancel(job_id)
    assert jobs.begin_cell(cells["c"], kept_at(cells["c"])) == "cancelled"  # skipped
    assert jobs.get(job_id).current_model == "m"
    # a cell of a job that is not there (gone, or never written) leaves no record behind
    stray = cells_of(uuid.uuid4().hex, "d:m")[0]
    assert jobs.begin_cell(stray, kept_at(stray)) == "go"
    with pytest.raises(JobNotFound):
        jobs.get(stray.job_id)


def test_cancel_stops_a_running_job_and_refuses_an_ended_one(jobs: JobStore) -> None:
    cells = new_job(jobs, "a:m b:m")
    job_id = cells["a"].job_id
    jobs.mark_cell(cells["a"], ok=True)
    assert jobs.cancel(job_id)
    assert jobs.begin_cell(cells["a"], kept_at(cells["a"])) == "cancelled"
    assert jobs.begin_cell(cells["b"], kept_at(cells["b"])) == "cancelled"
    jobs.mark_cell(cells["b"], ok=False, error="cancelled")
    assert jobs.get(job_id).status == "cancelled"
    assert not jobs.cancel(job_id)


def test_unknown_job_is_named(jobs: JobStore) -> None:
    (cell,) = cells_of("missing", "a:m")
    with pytest.raises(JobNotFound, match="no job 'missing'"):
        jobs.mark_cell(cell, ok=True)
    with pytest.raises(JobNotFound, match="no job 'missing'"):
        jobs.cancel("missing")


def test_an_experiments_waiting_cells_are_counted_as_jobs_come_and_cells_end(
    jobs: JobStore,
) -> None:
    experiment = f"waiting-{uuid.uuid4().hex[:8]}"
    job_id = uuid.uuid4().hex
    cells = {c.cell_key: c for c in cells_of(job_id, "a:m b:m c:m")}
    jobs.create(
        job_id, BenchRequest(models=["tidy:1b"], experiment=experiment), list(cells.values())
    )
    assert jobs.cells_left(experiment) == 3
    jobs.mark_cell(cells["a"], ok=True)
    jobs.mark_cell(cells["a"], ok=True)  # a redelivery ends nothing more
    jobs.mark_cell(cells["b"], ok=False, error="timed out")
    assert jobs.cells_left(experiment) == 1
    jobs.mark_cell(cells["b"], ok=True)  # failed, then done on a retry: it had ended already
    jobs.mark_cell(cells["c"], ok=False, error="timed out")
    assert jobs.cells_left(experiment) == 0
    # When the failed cell is retried, it waits again
    assert [c.cell_key for c in jobs.reopen_failed(job_id)] == ["c"]
    assert jobs.cells_left(experiment) == 1
    assert jobs.cells_left("another-experiment") == 0
