"""Generate one cell and record it in MLflow, exactly once per cell key."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dramatiq.brokers.redis import RedisBroker
from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

from services.collector.parsing import format_ok, overlong, parse_tips
from services.collector.providers import GenerationOptions
from services.collector.session import ModelSession
from shared import tracking
from shared.contracts import CellFinished, CollectCell, JobFinished
from shared.jobs import JobStore
from shared.messaging import send
from shared.rubric import RUBRIC_ID, load_rubric
from shared.suite import SUITE_VERSION, render_prompt, scenario

NUM_CTX = 4096
TOKENS_PER_TIP = 60  # generous: a tip is at most ~30 words


@dataclass
class CollectorDeps:
    """The clients the collector's core works with."""

    mlflow: MlflowClient
    jobs: JobStore
    broker: RedisBroker
    session: ModelSession


def finished_run_id(deps: CollectorDeps, experiment_id: str, key: str) -> str | None:
    """The finished run of a cell, if any; unfinished leftovers of a crash are deleted."""
    finished: str | None = None
    for run in tracking.search_runs(
        deps.mlflow, experiment_id, f"tags.{tracking.TAG_CELL_KEY} = {tracking.quote(key)}"
    ):
        if run.info.status == RunStatus.to_string(RunStatus.FINISHED) and finished is None:
            finished = run.info.run_id
        else:
            deps.mlflow.delete_run(run.info.run_id)
    return finished


def collect_cell(cell: CollectCell, deps: CollectorDeps) -> str | None:
    """Generate the cell, log its run, mark it done and announce it; returns the run id.

    A cell of a cancelled job is skipped (marked failed as cancelled) and returns None.
    """
    if deps.jobs.is_cancelled(cell.job_id):
        finish_cell(cell, deps, ok=False, error="cancelled")
        return None
    experiment_id = tracking.ensure_experiment(deps.mlflow, cell.experiment)
    run_id = finished_run_id(deps, experiment_id, cell.cell_key)
    if run_id is None:
        run_id = _generate_and_log(cell, deps, experiment_id)
    finish_cell(cell, deps, ok=True, run_id=run_id)
    return run_id


def finish_cell(
    cell: CollectCell, deps: CollectorDeps, *, ok: bool, run_id: str | None = None, error: str = ""
) -> None:
    """Mark the cell in its job and send CellFinished (and JobFinished after the last cell).

    After the job's last cell of a model, the model is unloaded.
    """
    mark = deps.jobs.mark_cell(cell, ok=ok, error=error)
    if mark.model_left <= 0:
        deps.session.release(cell.model)
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
        status = deps.jobs.get(cell.job_id).status
        send(
            deps.broker,
            JobFinished(
                job_id=cell.job_id,
                experiment=cell.experiment,
                parent_run_id=cell.parent_run_id,
                status=status,
            ),
        )


def _generate_and_log(cell: CollectCell, deps: CollectorDeps, experiment_id: str) -> str:
    target = scenario(cell.scenario_id)
    prompt = render_prompt(cell.prompt_version, target, cell.n_tips)
    deps.jobs.set_current_model(cell.job_id, cell.model)
    resident = deps.session.use(
        cell.model, max_model_b=cell.max_model_b, allow_unknown_size=cell.allow_unknown_size
    )
    options = GenerationOptions(
        temperature=cell.temperature,
        seed=cell.seed,
        num_predict=TOKENS_PER_TIP * cell.n_tips + 64,
        num_ctx=NUM_CTX,
    )
    started = time.perf_counter()
    generation = deps.session.provider(resident.ref).generate(
        resident.ref.name, prompt.messages, options
    )
    latency_s = time.perf_counter() - started

    rubric = load_rubric()
    parsed = parse_tips(generation.text)
    auto_format_ok = int(format_ok(parsed, cell.n_tips))
    auto_overlong = int(overlong(parsed, rubric.word_limit))

    # MLflow writes come after generation, in few calls: create (tags), one log_batch,
    # one artifact upload, terminate. A crash before the end leaves an unfinished run
    # that the next delivery deletes and replaces.
    run = deps.mlflow.create_run(
        experiment_id,
        run_name=f"{cell.model} | {cell.prompt_version} | {cell.scenario_id}",
        tags={
            tracking.TAG_PARENT: cell.parent_run_id,
            tracking.TAG_KIND: "cell",
            tracking.TAG_JOB_ID: cell.job_id,
            tracking.TAG_CELL_KEY: cell.cell_key,
            tracking.TAG_JUDGE_PENDING: "true",
            tracking.TAG_RUBRIC_ID: RUBRIC_ID,
        },
    )
    run_id: str = run.info.run_id
    now = int(time.time() * 1000)
    params = {
        "model": cell.model,
        "provider": resident.ref.provider,
        "prompt_version": cell.prompt_version,
        "prompt_sha256": prompt.sha256,
        "scenario_id": target.id,
        "persona": target.persona.id,
        "time_slot": target.time_slot.id,
        "temperature": cell.temperature,
        "n_tips": cell.n_tips,
        "seed": cell.seed,
        "num_predict": options.num_predict,
        "num_ctx": options.num_ctx,
        "suite_version": SUITE_VERSION,
        "model_digest": resident.info.digest or "unknown",
        "provider_version": resident.info.server_version or "unknown",
        "prompt_uri": cell.prompt_uri or "unregistered",
        "quantization": resident.info.quantization or "unknown",
        "parameter_count_b": resident.info.params_b if resident.info.params_b else "unknown",
    }
    metrics = {
        "latency_s": latency_s,
        "load_s": generation.load_s,
        "prompt_eval_s": generation.prompt_eval_s,
        "generation_s": generation.generation_s,
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "tokens_per_s": generation.tokens_per_s,
        "n_tips_parsed": len(parsed.tips),
        "auto_format_ok": auto_format_ok,
        "auto_overlong": auto_overlong,
    }
    deps.mlflow.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    with tempfile.TemporaryDirectory(prefix="tipbench-cell-") as folder:
        files = {
            "prompt.json": prompt.messages,
            "candidates.json": {
                "answer": generation.text,
                "tips": parsed.tips,
                "other_lines": parsed.other_lines,
            },
            "raw_response.json": generation.raw,
            "rubric.json": rubric.as_dict(),
        }
        for name, content in files.items():
            Path(folder, name).write_text(
                json.dumps(content, indent=2, ensure_ascii=False, default=str), "utf-8"
            )
        deps.mlflow.log_artifacts(run_id, folder)
    deps.mlflow.set_terminated(run_id, "FINISHED")
    return run_id
