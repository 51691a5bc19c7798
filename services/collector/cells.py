"""The end of a cell: mark it in its job and announce it."""

from __future__ import annotations

from services.collector.deps import CollectorDeps
from shared.contracts import CellFinished, CollectCell, JobFinished
from shared.messaging import send


def finish_cell(
    cell: CollectCell, deps: CollectorDeps, *, ok: bool, run_id: str | None = None, error: str = ""
) -> None:
    """Mark the cell in its job and send CellFinished (and JobFinished after the last cell)."""
    mark = deps.jobs.mark_cell(cell, ok=ok, error=error)
    send(
        deps.broker,
        CellFinished(
            job_id=cell.job_id,
            experiment=cell.experiment,
            cell_key=cell.cell_key,
            ok=ok,
            run_id=run_id,
            error=error or None,
        ),
    )
    if mark.complete:
        # Sent by whoever sees the job complete, redeliveries included: consumers are
        # idempotent, and an event lost to a crash right here is sent again.
        send(
            deps.broker,
            JobFinished(
                job_id=cell.job_id,
                experiment=cell.experiment,
                parent_run_id=cell.parent_run_id,
                status=deps.jobs.get(cell.job_id).status,
                llm_judge=cell.llm_judge,
            ),
        )
