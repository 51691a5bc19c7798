"""Turn a bench request into a job (record, parent run, one message per cell); retry cells.

The API routes and the admin pages both call these; they take plain values and the
gateway's clients, never a Flask request.
"""

from __future__ import annotations

import uuid
from typing import Any

from mlflow.entities import Param
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.checks import parse
from services.gateway.deps import GatewayDeps
from services.gateway.prompts import register_prompt
from services.gateway.sizes import model_size_problems
from shared import tracking
from shared.contracts import BenchRequest, CollectCell, cell_key
from shared.errors import ModelRefused, TooManyCells
from shared.messaging import send
from shared.rubric import RUBRIC_ID, load_rubric
from shared.suite import SUITE_VERSION, scenarios


class Submitted(BaseModel):
    """The answer to an accepted bench request."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    job_id: str = Field(description="Job id; poll /api/bench/jobs/<job_id>.")
    experiment: str = Field(description="Experiment name.")
    mlflow_experiment: str = Field(description="MLflow experiment name.")
    parent_run_id: str = Field(description="The job's MLflow parent run.")
    cells: int = Field(description="Cells enqueued.")


def plan_cells(
    job_id: str, request: BenchRequest, parent_run_id: str, prompt_uris: dict[str, str]
) -> list[CollectCell]:
    """Every cell of the request, grouped by model so that each model loads once."""
    chosen = scenarios()[: request.n_scenarios]
    return [
        CollectCell(
            job_id=job_id,
            cell_key=cell_key(job_id, model, prompt, target.id),
            experiment=request.experiment,
            parent_run_id=parent_run_id,
            model=model,
            prompt_version=prompt,
            prompt_uri=prompt_uris[prompt],
            scenario_id=target.id,
            n_tips=request.n_tips,
            temperature=request.temperature,
            seed=request.seed,
            max_model_b=request.max_model_b,
            allow_unknown_size=request.allow_unknown_size,
            llm_judge=request.judge.removeprefix("llm:") if request.judge else None,
        )
        for model in request.models
        for prompt in request.prompts
        for target in chosen
    ]


def enqueue_cells(deps: GatewayDeps, cells: list[CollectCell]) -> None:
    """Enqueue cells as one block: two jobs submitted together never interleave models."""
    lock = deps.redis.lock(deps.settings.key("enqueue-lock"), timeout=60, blocking_timeout=60)
    with lock:
        for cell in cells:
            send(deps.broker, cell)


def submit(request: BenchRequest, deps: GatewayDeps) -> Submitted:
    """Create the job's parent run and record, then enqueue its cells."""
    job_id = uuid.uuid4().hex
    experiment_id = tracking.ensure_experiment(deps.mlflow, request.experiment)
    parent = deps.mlflow.create_run(
        experiment_id,
        run_name=f"job {job_id[:8]}",
        tags={
            tracking.TAG_KIND: "job",
            tracking.TAG_JOB_ID: job_id,
            tracking.TAG_RUBRIC_ID: RUBRIC_ID,
            "suite_version": SUITE_VERSION,
        },
    )
    parent_run_id = parent.info.run_id
    deps.mlflow.log_batch(
        parent_run_id,
        params=[
            Param(name, ",".join(value) if isinstance(value, list) else str(value))
            for name, value in request.model_dump(mode="json").items()
        ],
    )
    deps.mlflow.log_dict(parent_run_id, request.model_dump(mode="json"), "request.json")
    deps.mlflow.log_dict(parent_run_id, load_rubric().as_dict(), "rubric.json")
    prompt_uris = {version: register_prompt(deps.mlflow, version) for version in request.prompts}
    cells = plan_cells(job_id, request, parent_run_id, prompt_uris)
    deps.jobs.create(job_id, request, parent_run_id, cells)
    enqueue_cells(deps, cells)
    return Submitted(
        job_id=job_id,
        experiment=request.experiment,
        mlflow_experiment=tracking.experiment_name(request.experiment),
        parent_run_id=parent_run_id,
        cells=len(cells),
    )


def accept_bench_request(body: dict[str, Any], deps: GatewayDeps) -> Submitted:
    """Validate a bench request (fields, cell limit, model sizes) and submit it."""
    request = parse(BenchRequest, body)
    limit = deps.settings.max_cells_per_job
    if request.cell_count() > limit:
        raise TooManyCells(
            f"the request makes {request.cell_count()} cells; the limit is {limit}",
            [{"field": "models", "message": "models x prompts x n_scenarios is over the limit"}],
        )
    problems = model_size_problems(request, deps.settings.ollama_host)
    if problems:
        summary = "; ".join(p["message"] for p in problems)
        raise ModelRefused(f"model refused: {summary}", problems)
    return submit(request, deps)


def retry_failed_cells(job_id: str, deps: GatewayDeps) -> list[str]:
    """Put the job's failed cells back in play and enqueue them; their keys."""
    cells = deps.jobs.reopen_failed(job_id)
    enqueue_cells(deps, cells)
    return [c.cell_key for c in cells]
