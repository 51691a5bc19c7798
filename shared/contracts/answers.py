"""What the gateway answers beyond job statuses, packets and leaderboards: accepted jobs and
retries, experiments and runs, LLM judgings, score submissions and the probes."""

from __future__ import annotations

from pydantic import Field

from shared.base import Record
from shared.contracts.jobs import Submitted


class JobAccepted(Submitted):
    """A job was created and its cells enqueued."""

    status_url: str = Field(description="Where to follow the job.")


class RetryAccepted(Record):
    """Failed cells enqueued again."""

    job_id: str = Field(description="The job.")
    retried: list[str] = Field(description="Cell keys enqueued again.")


class ExperimentInfo(Record):
    """A tip-bench experiment."""

    experiment: str = Field(description="Experiment name.")
    mlflow_experiment: str = Field(description="MLflow experiment name.")
    experiment_id: str = Field(description="MLflow experiment id.")
    created_at: float = Field(description="Creation time, Unix seconds.")


class RunInfo(Record):
    """A finished cell run."""

    run_id: str = Field(description="MLflow run id.")
    status: str = Field(description="MLflow run status (FINISHED).")
    job_id: str | None = Field(description="The job that made it.")
    cell_key: str | None = Field(description="The cell.")
    judge_pending: bool = Field(description="True while no judge has scored it.")
    params: dict[str, str] = Field(description="MLflow params.")
    metrics: dict[str, float] = Field(description="MLflow metrics (latest values).")


class JudgeFailureInfo(Record):
    """An item a judge could not score."""

    at: float = Field(description="When, Unix seconds.")
    judge_id: str = Field(description="The judge.")
    run_id: str = Field(description="The run left unscored by it.")
    error: str = Field(description="Why.")


class LlmJudgeAccepted(Record):
    """An LLM judge was asked to score."""

    experiment: str = Field(description="Experiment name.")
    judge_id: str = Field(description="The judge's id, llm:<model>.")


class ScoresAccepted(Record):
    """A score file passed the checks and waits for ingestion."""

    submission_id: str = Field(description="Follow it at status_url.")
    status_url: str = Field(description="Where to follow the ingestion.")
    n_scores: int = Field(description="Scores in the file.")


class SubmissionStatus(Record):
    """Where a score submission is."""

    submission_id: str = Field(description="The submission.")
    status: str = Field(description="queued, ingested or failed.")
    error: str | None = Field(description="Why it failed, if it did.")


class Health(Record):
    """The process answers."""

    status: str = Field(description="ok")


class Readiness(Record):
    """Whether the gateway's dependencies answer."""

    status: str = Field(description="ready or not ready.")
    failed: dict[str, str] = Field(description="What failed (redis, mlflow) and why.")
