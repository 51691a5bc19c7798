"""The result routes: experiments, their finished cell runs, their leaderboards."""

from __future__ import annotations

from flask import Response, jsonify, request

from services.gateway.checks import experiment_name, is_leaderboard_view
from services.gateway.deps import deps
from services.gateway.openapi import Query, documented
from shared import tracking
from shared.contracts import (
    JUDGE_ID_PATTERN,
    PRIMARY,
    CellFinished,
    ExperimentInfo,
    Leaderboard,
    RunInfo,
    to_csv,
)
from shared.errors import (
    ExperimentNotFound,
    InvalidFormat,
    InvalidJudgeId,
    LeaderboardNotFound,
    LeaderboardRebuilding,
    ReportNotFound,
)
from shared.messaging import send
from shared.report import REPORT_CSP, REPORT_FILE

JUDGE_VIEW = Query(
    "judge",
    {"type": "string", "default": PRIMARY, "pattern": JUDGE_ID_PATTERN},
    "primary (default), panel, or a judge id for that judge's own view.",
)


@documented(summary="Every tip-bench experiment.", response=list[ExperimentInfo])
def list_experiments() -> Response:
    """Every tip-bench-* experiment."""
    return jsonify(
        [
            ExperimentInfo(
                experiment=exp.name.removeprefix(tracking.EXPERIMENT_PREFIX),
                mlflow_experiment=exp.name,
                experiment_id=exp.experiment_id,
                created_at=(exp.creation_time or 0) / 1000,
            ).model_dump(mode="json")
            for exp in tracking.list_experiments(deps().mlflow)
        ]
    )


def existing_experiment_id(name: str) -> str:
    """The MLflow id of an existing experiment; ExperimentNotFound if there is none."""
    found = tracking.find_experiment(deps().mlflow, experiment_name(name))
    if found is None:
        raise ExperimentNotFound(f"no experiment {name!r}")
    return str(found.experiment_id)


@documented(summary="An experiment's finished cell runs.", response=list[RunInfo], errors=(404,))
def list_runs(experiment: str) -> Response:
    """The experiment's cell runs with their params, metrics and judge state."""
    experiment_id = existing_experiment_id(experiment)
    runs = tracking.search_runs(deps().mlflow, experiment_id, f"tags.{tracking.TAG_KIND} = 'cell'")
    return jsonify(
        [
            RunInfo(
                run_id=run.info.run_id,
                status=run.info.status,
                job_id=run.data.tags.get(tracking.TAG_JOB_ID),
                cell_key=run.data.tags.get(tracking.TAG_CELL_KEY),
                judge_pending=run.data.tags.get(tracking.TAG_JUDGE_PENDING) == "true",
                params=run.data.params,
                metrics=run.data.metrics,
            ).model_dump(mode="json")
            for run in runs
            if run.info.status == tracking.RUN_FINISHED
        ]
    )


def stored_leaderboard(name: str, view: str = PRIMARY) -> Leaderboard | None:
    """The stored leaderboard of a view, None if none was built; LeaderboardRebuilding (a
    503) if it was stored by an older version, after asking the reporter for a full rebuild."""
    try:
        return deps().leaderboards.get(name, view)
    except LeaderboardRebuilding:
        if deps().leaderboards.ask_rebuild(name):
            # A finished cell that names no run makes the reporter read every run again.
            event = CellFinished(job_id="", experiment=name, cell_key="", ok=True, run_id=None)
            send(deps().broker, event)
        raise


@documented(
    summary="An experiment's leaderboard (JSON or CSV).",
    response=Leaderboard,
    errors=(404, 503),
    query=(
        JUDGE_VIEW,
        Query("format", {"type": "string", "enum": ["json", "csv"]}, "json (default) or csv."),
    ),
    extra_media={"text/csv": {"schema": {"type": "string"}}},
)
def leaderboard(experiment: str) -> Response:
    """The stored leaderboard: ?judge=<id>|panel for one judge's or the panel's; ?format=csv."""
    view = request.args.get("judge", PRIMARY)
    if not is_leaderboard_view(view):
        raise InvalidJudgeId(f"judge {view!r} must be primary, panel or a judge id")
    board = stored_leaderboard(experiment_name(experiment), view)
    if board is None:
        raise LeaderboardNotFound(f"no leaderboard for {experiment!r} ({view}) yet")
    wanted = request.args.get("format", "json")
    if wanted == "csv":
        return Response(to_csv(board), mimetype="text/csv")
    if wanted != "json":
        raise InvalidFormat(f"format must be json or csv, not {wanted!r}")
    return jsonify(board.model_dump())


@documented(
    summary="An experiment's report to share: one self-contained HTML file.",
    response={"type": "string"},
    media_type="text/html",
    errors=(404,),
)
def report(experiment: str) -> Response:
    """The report the reporter wrote with the experiment's latest leaderboard."""
    experiment_id = existing_experiment_id(experiment)
    summary = tracking.find_summary_run(deps().mlflow, experiment_id)
    if summary is None or REPORT_FILE not in {
        artifact.path
        for artifact in tracking.artifact_store(deps().mlflow, summary).list_artifacts()
    }:
        raise ReportNotFound(
            f"no report for {experiment!r} yet: the reporter writes one with each leaderboard"
        )
    html = tracking.read_artifact(deps().mlflow, summary, REPORT_FILE)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = REPORT_CSP  # inline styles, nothing else
    return response
