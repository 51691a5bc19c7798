"""A job as the API shows it: status, counts, progress per model, failed cells by name."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.base import Record

JobState = Literal["queued", "running", "finished", "partial", "failed", "cancelled"]


class ModelProgress(Record):
    """One model's cells in a job."""

    model: str = Field(description="Model name.")
    total: int = Field(description="Its cells.")
    done: int = Field(description="With a finished run.")
    failed: int = Field(description="Failed for good (or skipped by a cancel).")
    host: str = Field("", description="The generation host it runs on; empty: the one host.")


class CellFailure(Record):
    """A failed cell, named by what it is, with why it failed."""

    cell_key: str = Field(description="The cell.")
    model: str = Field(description="Its model.")
    prompt_version: str = Field(description="Its prompt version.")
    scenario_id: str = Field(description="Its scenario.")
    repeat: int = Field(description="Which sample of the cell, from 0.")
    error: str = Field(description="Why it failed.")


class JobStatus(Record):
    """A job as the API shows it."""

    job_id: str = Field(description="Job id.")
    experiment: str = Field(description="Experiment name.")
    parent_run_id: str | None = Field(
        description="The job's MLflow parent run; null until the recorder opens it, moments"
        " after the submission."
    )
    status: JobState = Field(
        description="queued, running, finished, partial (some cells failed), failed, cancelled."
    )
    total: int = Field(description="Cells in the job.")
    done: int = Field(description="Cells with a finished run.")
    failed: int = Field(description="Cells failed for good (or skipped by a cancel).")
    current_model: str | None = Field(description="Model of the cell being generated.")
    models_left: dict[str, int] = Field(description="Cells not yet ended, per model.")
    models: list[ModelProgress] = Field(description="Progress per model, in run order.")
    created_at: float = Field(description="Submission time, Unix seconds.")
    finished_at: float | None = Field(description="When the last cell ended, Unix seconds.")
    elapsed_s: float = Field(description="Seconds since submission (until the end).")
    eta_s: float | None = Field(description="Estimated seconds left, from the pace so far.")
    failed_cells: dict[str, str] = Field(description="Failed cell key -> error.")
    failures: list[CellFailure] = Field(
        description="The failed cells by model, prompt, scenario and repeat, with the error."
    )
    request: dict[str, Any] = Field(description="The bench request as submitted.")


class Submitted(Record):
    """The answer to an accepted bench request."""

    job_id: str = Field(description="Job id; poll /api/bench/jobs/<job_id>.")
    experiment: str = Field(description="Experiment name.")
    mlflow_experiment: str = Field(description="MLflow experiment name.")
    parent_run_id: str | None = Field(
        description="The job's MLflow parent run: null here, as the recorder opens it moments"
        " after the submission (the job's status names it)."
    )
    suite: str = Field(description="The suite version the cells render from, `name@version`.")
    cells: int = Field(description="Cells enqueued.")
