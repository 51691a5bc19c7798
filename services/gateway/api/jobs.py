"""The job routes: submit a benchmark, list and follow jobs, retry failed cells, cancel."""

from __future__ import annotations

from flask import Response, jsonify, url_for

from services.gateway.api.body import json_body
from services.gateway.deps import deps
from services.gateway.openapi import documented
from services.gateway.submit import accept_bench_request, retry_failed_cells
from shared.contracts import BenchRequest, JobAccepted, JobStatus, RetryAccepted
from shared.errors import JobEnded


@documented(
    summary="Submit a benchmark: models x prompts x scenarios of a suite.",
    body=BenchRequest,
    response=JobAccepted,
    status=202,
    errors=(409,),
)
def run_bench() -> tuple[Response, int]:
    """Validate a bench request, create its job and enqueue its cells."""
    submitted = accept_bench_request(json_body(), deps())
    status_url = url_for("bench.job_status", job_id=submitted.job_id)
    return jsonify(JobAccepted(**submitted.model_dump(), status_url=status_url).model_dump()), 202


@documented(summary="Recent jobs, newest first.", response=list[JobStatus])
def list_jobs() -> Response:
    """The most recent jobs, newest first."""
    store = deps().jobs
    return jsonify([store.get(job_id).model_dump() for job_id in store.recent()])


@documented(summary="A job's status and progress.", response=JobStatus, errors=(404,))
def job_status(job_id: str) -> Response:
    """A job's status and cell counts."""
    return jsonify(deps().jobs.get(job_id).model_dump())


@documented(
    summary="Enqueue a job's failed cells again.", response=RetryAccepted, status=202, errors=(404,)
)
def retry_job(job_id: str) -> tuple[Response, int]:
    """Enqueue the job's failed cells again (only those)."""
    retried = RetryAccepted(job_id=job_id, retried=retry_failed_cells(job_id, deps()))
    return jsonify(retried.model_dump(mode="json")), 202


@documented(summary="Cancel a job.", response=JobStatus, errors=(404, 409))
def cancel_job(job_id: str) -> Response:
    """Stop a job: its cells not yet generated are skipped."""
    store = deps().jobs
    if not store.cancel(job_id):
        raise JobEnded(f"job {job_id} has already ended ({store.get(job_id).status})")
    return jsonify(store.get(job_id).model_dump())
