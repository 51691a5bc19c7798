"""The contracts between services: the bench request, queue messages, events, scores.

Every model is frozen and forbids unknown fields; the gateway's validation and its
documentation both come from these definitions.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.errors import UnknownModel
from shared.models import DEFAULT_GGUF_MODEL, parse_model
from shared.suite import SUITE_VERSION, prompt_versions, scenarios

EXPERIMENT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
JUDGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
ExperimentName = Annotated[str, StringConstraints(pattern=EXPERIMENT_PATTERN)]


class Contract(BaseModel):
    """Base of every contract: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Request(Contract):
    """Base of what people send: strict types too (no "3" for 3, no "true" for true)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class BenchRequest(Request):
    """What a user asks for: models x prompt versions x scenarios, and how to generate."""

    models: list[str] = Field(
        default_factory=lambda: [DEFAULT_GGUF_MODEL],
        min_length=1,
        max_length=16,
        description="Model names: `qwen2.5:1.5b` (Ollama) or `gguf:smollm2-135m` (embedded).",
    )
    prompts: list[str] = Field(
        default_factory=lambda: ["v1"],
        min_length=1,
        max_length=16,
        description="Prompt versions of the suite (v1, v2-mentor, v3-few-shot).",
    )
    n_tips: int = Field(3, ge=1, le=10, description="Tips each candidate must contain.")
    n_scenarios: int = Field(
        2, ge=1, description="How many of the suite's fixed scenarios to use (first N)."
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature.")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="Sampling seed, same for every cell.")
    experiment: ExperimentName = Field(
        "default", description="Experiment name; the MLflow experiment is tip-bench-<name>."
    )
    max_model_b: float = Field(
        4.0, gt=0, le=1000, description="Largest model allowed, in billions of parameters."
    )
    allow_unknown_size: bool = Field(
        False, description="Run models whose parameter count cannot be determined."
    )
    judge: str | None = Field(
        None,
        pattern=r"^llm:[A-Za-z0-9][A-Za-z0-9_.:-]{0,59}$",
        description="`llm:<Ollama model>`: an LLM judge scores every candidate when the job ends.",
    )

    @field_validator("models")
    @classmethod
    def _models_known(cls, models: list[str]) -> list[str]:
        if len(set(models)) != len(models):
            raise ValueError("models must not repeat")
        for name in models:
            try:
                parse_model(name)
            except UnknownModel as exc:
                raise ValueError(str(exc)) from None
        return models

    @field_validator("prompts")
    @classmethod
    def _prompts_known(cls, prompts: list[str]) -> list[str]:
        if len(set(prompts)) != len(prompts):
            raise ValueError("prompts must not repeat")
        known = prompt_versions()
        unknown = [p for p in prompts if p not in known]
        if unknown:
            raise ValueError(f"unknown prompt version(s) {unknown}; known: {sorted(known)}")
        return prompts

    @field_validator("n_scenarios")
    @classmethod
    def _scenarios_exist(cls, n: int) -> int:
        available = len(scenarios())
        if n > available:
            raise ValueError(f"the suite {SUITE_VERSION} has {available} scenarios, not {n}")
        return n

    def cell_count(self) -> int:
        """How many cells this request makes."""
        return len(self.models) * len(self.prompts) * self.n_scenarios


def cell_key(job_id: str, model: str, prompt_version: str, scenario_id: str) -> str:
    """A cell's stable key: a hash of (job, model, prompt, scenario)."""
    text = "\x1f".join((job_id, model, prompt_version, scenario_id))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class CollectCell(Contract):
    """Command to the collector: generate one cell and record it."""

    kind: Literal["collect_cell"] = Field("collect_cell", description="Message tag.")
    job_id: str = Field(description="The job the cell belongs to.")
    cell_key: str = Field(description="Stable key of (job, model, prompt, scenario).")
    experiment: str = Field(description="Experiment name (without the tip-bench- prefix).")
    parent_run_id: str = Field(description="The job's MLflow parent run.")
    model: str = Field(description="Model name as requested.")
    prompt_version: str = Field(description="Prompt version.")
    prompt_uri: str = Field("", description="The version in the MLflow Prompt Registry.")
    scenario_id: str = Field(description="Scenario id, `<persona>@<time slot>`.")
    n_tips: int = Field(description="Tips requested.")
    temperature: float = Field(description="Sampling temperature.")
    seed: int = Field(description="Sampling seed.")
    max_model_b: float = Field(description="Largest model allowed, billions of parameters.")
    allow_unknown_size: bool = Field(description="Run models of unknown size.")
    llm_judge: str | None = Field(None, description="Model of the job's LLM judge, if any.")


class RecordCell(Contract):
    """Command to the collector's recorder: write a generated cell's MLflow run."""

    kind: Literal["record_cell"] = Field("record_cell", description="Message tag.")
    cell: CollectCell = Field(description="The cell; its generation waits in Redis.")


class CellFinished(Contract):
    """Event: a cell has a finished run, or has failed for good."""

    kind: Literal["cell_finished"] = Field("cell_finished", description="Event tag.")
    job_id: str = Field(description="The job.")
    experiment: str = Field(description="Experiment name.")
    cell_key: str = Field(description="The cell.")
    ok: bool = Field(description="True if the cell has a finished run.")
    run_id: str | None = Field(None, description="The cell's MLflow run, if ok.")
    error: str | None = Field(None, description="Why the cell failed, if not ok.")


class JobFinished(Contract):
    """Event: every cell of a job is done or failed."""

    kind: Literal["job_finished"] = Field("job_finished", description="Event tag.")
    job_id: str = Field(description="The job.")
    experiment: str = Field(description="Experiment name.")
    parent_run_id: str = Field(description="The job's MLflow parent run.")
    status: str = Field(description="finished, partial, failed or cancelled.")
    llm_judge: str | None = Field(None, description="Model of the job's LLM judge, if any.")


class IngestScores(Contract):
    """Command to the judge bridge: write a validated score submission to the runs."""

    kind: Literal["ingest_scores"] = Field("ingest_scores", description="Message tag.")
    submission_id: str = Field(description="Id of the stored score submission.")
    experiment: str = Field(description="Experiment name.")


class RunLlmJudge(Contract):
    """Command to the judge bridge: let a model score the experiment's unscored runs."""

    kind: Literal["run_llm_judge"] = Field("run_llm_judge", description="Message tag.")
    experiment: str = Field(description="Experiment name.")
    model: str = Field(description="The judge model (an Ollama name).")


class ScoresIngested(Contract):
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
    | RecordCell
    | CellFinished
    | JobFinished
    | IngestScores
    | RunLlmJudge
    | ScoresIngested
)


class ItemScore(Request):
    """A judge's score of one packet item against tip-v1."""

    item_id: str = Field(min_length=1, max_length=64, description="Opaque item id.")
    relevance: int = Field(ge=1, le=5, description="Relevance, 1-5.")
    actionability: int = Field(ge=1, le=5, description="Actionability, 1-5.")
    tone: int = Field(ge=1, le=5, description="Tone, 1-5.")
    format_ok: Literal[0, 1] = Field(description="1 if the format is as asked.")
    overlong: Literal[0, 1] = Field(description="1 if any tip is over the word limit.")
    rationale: str = Field("", max_length=2000, description="Why, in a sentence or two.")


class ScoreFile(Request):
    """A judge's scores for one packet."""

    packet_id: str = Field(min_length=1, max_length=64, description="The packet scored.")
    judge_id: str = Field(
        pattern=JUDGE_ID_PATTERN,
        description="Who scored (letters, digits, _ . : -); part of MLflow metric names.",
    )
    judge_kind: Literal["human", "agent", "llm"] = Field(
        "human", description="A person, a coding agent reading the packet, or an LLM judge."
    )
    scores: list[ItemScore] = Field(
        min_length=1, max_length=10000, description="One score per item."
    )


# What the reporter's rebuild_leaderboard actor receives, told apart by its `kind` tag.
ReporterEvent = Annotated[CellFinished | JobFinished | ScoresIngested, Field(discriminator="kind")]
