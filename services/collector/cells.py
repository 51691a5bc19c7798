"""The end of a cell: mark it in its job and announce it."""

from __future__ import annotations

from services.collector.deps import CollectorDeps
from services.collector.job_run import parent_run_of
from shared.contracts import CellFinished, CollectCell, JobFinished
from shared.messaging import send


def finish_cell(
    cell: CollectCell, deps: CollectorDeps, *, ok: bool, run_id: str | None = None, error: str = ""
) -> None:
    """Mark the cell in its job and send CellFinished (and JobFinished after the last cell)."""
    mark = deps.jobs.mark_cell(cell, ok=ok, error=error)
    job = {"job_id": cell.job_id, "experiment": cell.experiment}  # what both events name
    cell_ended = CellFinished(
        **job, cell_key=cell.cell_key, ok=ok, run_id=run_id, error=error or None
    )
    send(deps.broker, cell_ended)
    if mark.complete:
        # Sent by whoever sees the job complete, redeliveries included: consumers are
        # idempotent, and an event lost to a crash right here is sent again.
        status = deps.jobs.get(cell.job_id).status
        job_ended = JobFinished(
            **job,
            parent_run_id=parent_run_of(deps, cell),
            status=status,
            llm_judge=cell.llm_judge,
        )
        send(deps.broker, job_ended)
