"""What services send each other: commands and events, each a small tagged record.

Messages carry ids, not documents: a cell names its job, suite version and prompt; the
receiving service reads what it needs from the stores.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import Field

from shared.base import Record


def cell_key(
    job_id: str, model: str, prompt_version: str, scenario_id: str, repeat: int = 0
) -> str:
    """A cell's stable key: a hash of (job, model, prompt, scenario, repeat)."""
    text = "\x1f".join((job_id, model, prompt_version, scenario_id, str(repeat)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class CollectCell(Record):
    """Command to the collector: generate one cell and record it."""

    kind: Literal["collect_cell"] = Field("collect_cell", description="Message tag.")
    job_id: str = Field(description="The job the cell belongs to.")
    cell_key: str = Field(description="Stable key of (job, model, prompt, scenario).")
    experiment: str = Field(description="Experiment name (without the tip-bench- prefix).")
    parent_run_id: str = Field(
        "",
        description="The job's MLflow parent run if known when the cell was planned; empty:"
        " the recorder reads it from the job (it opens the run off the request path).",
    )
    model: str = Field(description="Model name as requested.")
    suite: str = Field(description="The suite's name.")
    suite_version: str = Field(description="The exact suite version the cell renders from.")
    prompt_version: str = Field(description="Prompt version, or a fixed registry prompt URI.")
    prompt_uri: str = Field("", description="The version in the MLflow Prompt Registry.")
    scenario_id: str = Field(description="Scenario id in the suite.")
    n_tips: int = Field(description="Tips requested.")
    temperature: float = Field(description="Sampling temperature.")
    seed: int = Field(description="Sampling seed (the request's seed + the repeat index).")
    repeat: int = Field(0, ge=0, description="Which sample of the cell, from 0.")
    max_model_b: float = Field(description="Largest model allowed, billions of parameters.")
    allow_unknown_size: bool = Field(description="Run models of unknown size.")
    declared_params_b: float | None = Field(
        None, description="The size the request declared for this model, billions (if any)."
    )
    llm_judge: str | None = Field(None, description="Model of the job's LLM judge, if any.")
    host: str = Field(
        "",
        description="The generation host (a TIPBENCH_HOSTS name) whose collector takes the"
        " cell; empty: the one collector.",
    )


class OpenJobRun(Record):
    """Command to the collector's recorder: open a new job's MLflow parent run."""

    kind: Literal["open_job_run"] = Field("open_job_run", description="Message tag.")
    job_id: str = Field(description="The job, whose record is in Redis.")


class RecordCell(Record):
    """Command to the collector's recorder: write a generated cell's MLflow run."""

    kind: Literal["record_cell"] = Field("record_cell", description="Message tag.")
    cell: CollectCell = Field(description="The cell; its generation waits in Redis.")


class CellFinished(Record):
    """Event: a cell has a finished run, or has failed for good."""

    kind: Literal["cell_finished"] = Field("cell_finished", description="Event tag.")
    job_id: str = Field(description="The job.")
    experiment: str = Field(description="Experiment name.")
    cell_key: str = Field(description="The cell.")
    ok: bool = Field(description="True if the cell has a finished run.")
    run_id: str | None = Field(None, description="The cell's MLflow run, if ok.")
    error: str | None = Field(None, description="Why the cell failed, if not ok.")


class JobFinished(Record):
    """Event: every cell of a job is done or failed."""

    kind: Literal["job_finished"] = Field("job_finished", description="Event tag.")
    job_id: str = Field(description="The job.")
    experiment: str = Field(description="Experiment name.")
    parent_run_id: str = Field(description="The job's MLflow parent run.")
    status: str = Field(description="finished, partial, failed or cancelled.")
    llm_judge: str | None = Field(None, description="Model of the job's LLM judge, if any.")


class IngestScores(Record):
    """Command to the judge bridge: write a validated score submission to the runs."""

    kind: Literal["ingest_scores"] = Field("ingest_scores", description="Message tag.")
    submission_id: str = Field(description="Id of the stored score submission.")
    experiment: str = Field(description="Experiment name.")


class IngestPairScores(Record):
    """Command to the judge bridge: record a validated pairwise verdict submission."""

    kind: Literal["ingest_pair_scores"] = Field("ingest_pair_scores", description="Message tag.")
    submission_id: str = Field(description="Id of the stored verdict submission.")
    experiment: str = Field(description="Experiment name.")


class RunLlmJudge(Record):
    """Command to the judge bridge: let a model score the experiment's unscored runs."""

    kind: Literal["run_llm_judge"] = Field("run_llm_judge", description="Message tag.")
    experiment: str = Field(description="Experiment name.")
    model: str = Field(description="The judge model: Ollama, openai:<name> or gguf:<name>.")
    pairwise: bool = Field(
        False, description="Judge in the pairwise protocol (which of two answers is better)."
    )


class ScoresIngested(Record):
    """Event: a judge's scores were written to the runs."""

    kind: Literal["scores_ingested"] = Field("scores_ingested", description="Event tag.")
    experiment: str = Field(description="Experiment name.")
    packet_id: str = Field(description="The packet scored.")
    judge_id: str = Field(description="Who scored.")
    n_scores: int = Field(description="How many items were scored.")
    run_ids: list[str] = Field(
        default_factory=list, description="The runs the file scored (to be read again)."
    )


Message = (
    CollectCell
    | OpenJobRun
    | RecordCell
    | CellFinished
    | JobFinished
    | IngestScores
    | IngestPairScores
    | RunLlmJudge
    | ScoresIngested
)


# What the reporter's rebuild_leaderboard actor receives, told apart by its `kind` tag.
ReporterEvent = Annotated[CellFinished | JobFinished | ScoresIngested, Field(discriminator="kind")]
