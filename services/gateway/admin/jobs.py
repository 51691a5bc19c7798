"""Admin job pages: a job's progress and failed cells, its retry and cancel buttons."""

from __future__ import annotations

from flask import Response, redirect, render_template, url_for

from services.gateway.deps import deps
from services.gateway.submit import retry_failed_cells
from shared.stores.suites import split_ref


def job(job_id: str) -> str:
    """A job's live progress (polled by admin.js), failed cells, retry and cancel."""
    found = deps().jobs.get(job_id)
    suite_ref = str(found.request.get("suite", ""))
    suite, version = split_ref(suite_ref)
    return render_template(
        "admin/job.html",
        job=found,
        suite_ref=suite_ref,
        suite=suite,
        suite_version=version,
    )


def retry(job_id: str) -> Response:
    """Retry the job's failed cells (the same path as the API)."""
    retry_failed_cells(job_id, deps())
    return redirect(url_for("admin.job", job_id=job_id))  # type: ignore[return-value]


def cancel(job_id: str) -> Response:
    """Cancel the job (one that has already ended stays as it was)."""
    deps().jobs.cancel(job_id)
    return redirect(url_for("admin.job", job_id=job_id))  # type: ignore[return-value]
