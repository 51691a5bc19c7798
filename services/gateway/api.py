"""The /api/bench routes. Thin: parse, call the core or a store, answer."""

from __future__ import annotations

import re
import uuid
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request
from mlflow.entities import RunStatus
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.gateway.deps import deps
from services.gateway.errors import ApiError, validation_error
from services.gateway.openapi import Query, documented
from services.gateway.sizes import model_size_problems
from services.gateway.submit import Submitted, enqueue_cells, submit
from shared import tracking
from shared.contracts import (
    EXPERIMENT_PATTERN,
    JUDGE_ID_PATTERN,
    BenchRequest,
    IngestScores,
    RunLlmJudge,
    ScoreFile,
)
from shared.errors import InvalidScores, JobNotFound, PacketNotFound
from shared.jobs import JobStatus
from shared.judging import JudgePacket, assemble_packet, check_scores
from shared.leaderboards import PRIMARY, Agreement, Leaderboard, to_csv
from shared.messaging import send
from shared.strictjson import strict_loads

bench = Blueprint("bench", __name__, url_prefix="/api/bench")
_EXPERIMENT = re.compile(EXPERIMENT_PATTERN)
M = TypeVar("M", bound=BaseModel)
JUDGE_ID = re.compile(JUDGE_ID_PATTERN)
JUDGE_VIEW = Query(
    "judge",
    {"type": "string", "default": PRIMARY, "pattern": JUDGE_ID_PATTERN},
    "primary (default), panel, or a judge id for that judge's own view.",
)


class Answer(BaseModel):
    """Base of the gateway's answers."""

    model_config = ConfigDict(extra="forbid")


class JobAccepted(Submitted):
    """A job was created and its cells enqueued."""

    status_url: str = Field(description="Where to follow the job.")


class RetryAccepted(Answer):
    """Failed cells enqueued again."""

    job_id: str = Field(description="The job.")
    retried: list[str] = Field(description="Cell keys enqueued again.")


class ExperimentInfo(Answer):
    """A tip-bench experiment."""

    experiment: str = Field(description="Experiment name.")
    mlflow_experiment: str = Field(description="MLflow experiment name.")
    experiment_id: str = Field(description="MLflow experiment id.")
    created_at: float = Field(description="Creation time, Unix seconds.")


class RunInfo(Answer):
    """A finished cell run."""

    run_id: str = Field(description="MLflow run id.")
    status: str = Field(description="MLflow run status (FINISHED).")
    job_id: str | None = Field(description="The job that made it.")
    cell_key: str | None = Field(description="The cell.")
    judge_pending: bool = Field(description="True while no judge has scored it.")
    params: dict[str, str] = Field(description="MLflow params.")
    metrics: dict[str, float] = Field(description="MLflow metrics (latest values).")


class JudgeFailureInfo(Answer):
    """An item a judge could not score."""

    at: float = Field(description="When, Unix seconds.")
    judge_id: str = Field(description="The judge.")
    run_id: str = Field(description="The run left unscored by it.")
    error: str = Field(description="Why.")


class LlmJudgeAccepted(Answer):
    """An LLM judge was asked to score."""

    experiment: str = Field(description="Experiment name.")
    judge_id: str = Field(description="The judge's id, llm:<model>.")


class ScoresAccepted(Answer):
    """A score file passed the checks and waits for ingestion."""

    submission_id: str = Field(description="Follow it at status_url.")
    status_url: str = Field(description="Where to follow the ingestion.")
    n_scores: int = Field(description="Scores in the file.")


class SubmissionStatus(Answer):
    """Where a score submission is."""

    submission_id: str = Field(description="The submission.")
    status: str = Field(description="queued, ingested or failed.")
    error: str | None = Field(description="Why it failed, if it did.")


def _json_body() -> dict[str, Any]:
    """The body as a JSON object: 415 if not JSON, 400 if malformed, 422 if not an object."""
    if not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        )
    raw = request.get_data(cache=True)  # 413 past the size limit
    try:
        body = strict_loads(raw)
    except RecursionError:
        raise ApiError(400, "invalid_json", "the body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_request", "the body must be a JSON object")
    return body


def _parse(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _experiment(name: str) -> str:
    if not _EXPERIMENT.match(name):
        raise ApiError(
            422,
            "invalid_experiment",
            f"experiment name {name!r} must match {EXPERIMENT_PATTERN}",
        )
    return name


def _existing_experiment_id(name: str) -> str:
    found = tracking.find_experiment(deps().mlflow, _experiment(name))
    if found is None:
        raise ApiError(404, "not_found", f"no experiment {name!r}")
    return str(found.experiment_id)


@bench.post("/run")
@documented(
    summary="Submit a benchmark: models x prompts x scenarios.",
    body=BenchRequest,
    response=JobAccepted,
    status=202,
)
def run_bench() -> tuple[Response, int]:
    """Validate a bench request, create its job and enqueue its cells."""
    return jsonify(accept_bench_request(_json_body()).model_dump()), 202


def accept_bench_request(body: dict[str, Any]) -> JobAccepted:
    """Validate a bench request (fields, cell limit, model sizes) and submit it."""
    bench_request = _parse(BenchRequest, body)
    limit = deps().settings.max_cells_per_job
    if bench_request.cell_count() > limit:
        raise ApiError(
            422,
            "too_many_cells",
            f"the request makes {bench_request.cell_count()} cells; the limit is {limit}",
            [{"field": "models", "message": "models x prompts x n_scenarios is over the limit"}],
        )
    problems = model_size_problems(bench_request, deps().settings.ollama_host)
    if problems:
        summary = "; ".join(p["message"] for p in problems)
        raise ApiError(422, "model_refused", f"model refused: {summary}", problems)
    submitted = submit(bench_request, deps())
    return JobAccepted(**submitted.model_dump(), status_url=f"/api/bench/jobs/{submitted.job_id}")


@bench.get("/jobs")
@documented(summary="Recent jobs, newest first.", response=list[JobStatus])
def list_jobs() -> Response:
    """The most recent jobs, newest first."""
    store = deps().jobs
    return jsonify([store.get(job_id).model_dump() for job_id in store.recent()])


@bench.get("/jobs/<job_id>")
@documented(summary="A job's status and progress.", response=JobStatus, errors=(404,))
def job_status(job_id: str) -> Response:
    """A job's status and cell counts."""
    try:
        return jsonify(deps().jobs.get(job_id).model_dump())
    except JobNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None


@bench.post("/jobs/<job_id>/retry")
@documented(
    summary="Enqueue a job's failed cells again.", response=RetryAccepted, status=202, errors=(404,)
)
def retry_job(job_id: str) -> tuple[Response, int]:
    """Enqueue the job's failed cells again (only those)."""
    return jsonify({"job_id": job_id, "retried": retry_failed_cells(job_id)}), 202


def retry_failed_cells(job_id: str) -> list[str]:
    """Put the job's failed cells back in play and enqueue them; their keys."""
    try:
        cells = deps().jobs.reopen_failed(job_id)
    except JobNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    enqueue_cells(deps(), cells)
    return [c.cell_key for c in cells]


@bench.post("/jobs/<job_id>/cancel")
@documented(summary="Cancel a job.", response=JobStatus, errors=(404, 409))
def cancel_job(job_id: str) -> Response:
    """Stop a job: its cells not yet generated are skipped."""
    try:
        cancelled = deps().jobs.cancel(job_id)
    except JobNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    if not cancelled:
        status = deps().jobs.get(job_id).status
        raise ApiError(409, "job_ended", f"job {job_id} has already ended ({status})")
    return jsonify(deps().jobs.get(job_id).model_dump())


@bench.get("/experiments")
@documented(summary="Every tip-bench experiment.", response=list[ExperimentInfo])
def list_experiments() -> Response:
    """Every tip-bench-* experiment."""
    return jsonify(
        [
            {
                "experiment": exp.name.removeprefix(tracking.EXPERIMENT_PREFIX),
                "mlflow_experiment": exp.name,
                "experiment_id": exp.experiment_id,
                "created_at": (exp.creation_time or 0) / 1000,
            }
            for exp in tracking.list_experiments(deps().mlflow)
        ]
    )


@bench.get("/runs/<experiment>")
@documented(summary="An experiment's finished cell runs.", response=list[RunInfo], errors=(404,))
def list_runs(experiment: str) -> Response:
    """The experiment's cell runs with their params, metrics and judge state."""
    experiment_id = _existing_experiment_id(experiment)
    runs = tracking.search_runs(deps().mlflow, experiment_id, f"tags.{tracking.TAG_KIND} = 'cell'")
    return jsonify(
        [
            {
                "run_id": run.info.run_id,
                "status": run.info.status,
                "job_id": run.data.tags.get(tracking.TAG_JOB_ID),
                "cell_key": run.data.tags.get(tracking.TAG_CELL_KEY),
                "judge_pending": run.data.tags.get(tracking.TAG_JUDGE_PENDING) == "true",
                "params": run.data.params,
                "metrics": run.data.metrics,
            }
            for run in runs
            if run.info.status == RunStatus.to_string(RunStatus.FINISHED)
        ]
    )


@bench.get("/leaderboard/<experiment>")
@documented(
    summary="An experiment's leaderboard (JSON or CSV).",
    response=Leaderboard,
    errors=(404,),
    query=(
        JUDGE_VIEW,
        Query("format", {"type": "string", "enum": ["json", "csv"]}, "json (default) or csv."),
    ),
    extra_media={"text/csv": {"schema": {"type": "string"}}},
)
def leaderboard(experiment: str) -> Response:
    """The stored leaderboard: ?judge=<id>|panel for one judge's or the panel's; ?format=csv."""
    view = request.args.get("judge", PRIMARY)
    if view != PRIMARY and not JUDGE_ID.match(view):
        raise ApiError(422, "invalid_judge", f"judge {view!r} must be primary, panel or a judge id")
    board = deps().leaderboards.get(_experiment(experiment), view)
    if board is None:
        raise ApiError(404, "not_found", f"no leaderboard for {experiment!r} ({view}) yet")
    wanted = request.args.get("format", "json")
    if wanted == "csv":
        return Response(to_csv(board), mimetype="text/csv")
    if wanted != "json":
        raise ApiError(422, "invalid_format", f"format must be json or csv, not {wanted!r}")
    return jsonify(board.model_dump())


@bench.get("/judge/<experiment>/packet")
@documented(
    summary="A blind judge packet.",
    response=JudgePacket,
    errors=(404,),
    query=(
        Query(
            "judge",
            {"type": "string", "pattern": JUDGE_ID_PATTERN},
            "Make a packet of this judge's unscored runs.",
        ),
    ),
)
def judge_packet(experiment: str) -> Response:
    """A blind judge packet: ?judge=<id> for that judge's unscored runs, else the current one."""
    name = _experiment(experiment)
    judge = request.args.get("judge")
    if judge is None:
        try:
            return jsonify(deps().packets.latest(name).model_dump(mode="json"))
        except PacketNotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
    if not JUDGE_ID.match(judge):
        raise ApiError(422, "invalid_judge", f"judge id {judge!r} must match {JUDGE_ID.pattern}")
    pool = deps().packets.candidates(name)
    if not pool:
        raise ApiError(404, "not_found", f"experiment {name!r} has no candidates to judge yet")
    done = deps().scores.judged_by(name, judge)
    packet, item_runs = assemble_packet(
        name, {run: c for run, c in pool.items() if run not in done}, judge_id=judge
    )
    deps().packets.save(packet, item_runs, latest=False)
    return jsonify(packet.model_dump(mode="json"))


class LlmJudgeRequest(BaseModel):
    """Which model judges."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    model: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,59}$",
        description="An Ollama model name, e.g. qwen2.5:7b (not bound by max_model_b).",
    )


@bench.post("/judge/<experiment>/run")
@documented(
    summary="Let an LLM judge score the unscored runs.",
    body=LlmJudgeRequest,
    response=LlmJudgeAccepted,
    status=202,
    errors=(404,),
)
def run_llm_judge(experiment: str) -> tuple[Response, int]:
    """Let an LLM judge score the experiment's runs it has not scored yet."""
    name = _experiment(experiment)
    judge = _parse(LlmJudgeRequest, _json_body())
    if not deps().packets.candidates(name):
        raise ApiError(404, "not_found", f"experiment {name!r} has no candidates to judge yet")
    send(deps().broker, RunLlmJudge(experiment=name, model=judge.model))
    return jsonify({"experiment": name, "judge_id": f"llm:{judge.model}"}), 202


@bench.get("/judge/<experiment>/failures")
@documented(summary="Items a judge could not score.", response=list[JudgeFailureInfo])
def judge_failures(experiment: str) -> Response:
    """Items a judge could not score (after its retries), with why."""
    return jsonify(deps().scores.failures(_experiment(experiment)))


@bench.get("/judge/<experiment>/agreement")
@documented(summary="How far the judges agree.", response=Agreement, errors=(404,))
def judge_agreement(experiment: str) -> Response:
    """How far the judges agree (kappa per pair, alpha), from the stored leaderboard."""
    board = deps().leaderboards.get(_experiment(experiment))
    if board is None:
        raise ApiError(404, "not_found", f"no leaderboard for {experiment!r} yet")
    return jsonify(board.agreement.model_dump())


@bench.post("/judge/<experiment>/scores")
@documented(
    summary="Submit a judge's score file.", body=ScoreFile, response=ScoresAccepted, status=202
)
def post_scores(experiment: str) -> tuple[Response, int]:
    """Check a score file against its packet and queue it for ingestion."""
    name = _experiment(experiment)
    scores = _parse(ScoreFile, _json_body())
    try:
        check_scores(name, scores, deps().packets)
    except InvalidScores as exc:
        raise ApiError(422, "invalid_scores", str(exc), exc.problems) from None
    submission_id = uuid.uuid4().hex
    deps().packets.save_submission(submission_id, name, scores)
    send(deps().broker, IngestScores(submission_id=submission_id, experiment=name))
    return (
        jsonify(
            {
                "submission_id": submission_id,
                "status_url": f"/api/bench/judge/{name}/submissions/{submission_id}",
                "n_scores": len(scores.scores),
            }
        ),
        202,
    )


@bench.get("/judge/<experiment>/submissions/<submission_id>")
@documented(
    summary="Whether a score submission was ingested.", response=SubmissionStatus, errors=(404,)
)
def submission_status(experiment: str, submission_id: str) -> Response:
    """Whether a score submission was ingested."""
    try:
        found = deps().packets.submission(submission_id)
    except PacketNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    if found["experiment"] != _experiment(experiment):
        raise ApiError(404, "not_found", f"no score submission {submission_id!r} in {experiment!r}")
    return jsonify(
        {
            "submission_id": submission_id,
            "status": found["status"],
            "error": found.get("error") or None,
        }
    )
