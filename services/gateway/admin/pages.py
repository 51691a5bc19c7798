"""Admin pages: experiments, a new benchmark, a job, a leaderboard, a cell, scoring, queues.

Server-rendered; the job page and the scoring page use a little JavaScript (no build
step) that calls the same /api routes with the session cookie and its CSRF token.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import httpx
from flask import Response, abort, redirect, render_template, request, url_for
from mlflow.exceptions import MlflowException

from services.gateway.admin.views import admin
from services.gateway.api import _EXPERIMENT, JUDGE_ID, accept_bench_request, retry_failed_cells
from services.gateway.deps import deps
from services.gateway.errors import ApiError
from shared import tracking
from shared.errors import JobNotFound
from shared.leaderboards import PRIMARY
from shared.models import DEFAULT_GGUF_MODEL, parse_parameter_size
from shared.queues import QUEUES, QueueInspector
from shared.rubric import load_rubric
from shared.suite import SUITE_VERSION, prompt_versions, scenarios

MAX_COMPOSITE = 17.0  # 5 + 5 + 5 + 2 * 1 - 0


def _experiment(name: str) -> str:
    if not _EXPERIMENT.match(name):
        abort(404)
    return name


def mlflow_link(experiment_id: str, run_id: str | None = None) -> str:
    """The MLflow UI page of an experiment or a run."""
    base = f"{deps().settings.mlflow_uri}/#/experiments/{experiment_id}"
    return f"{base}/runs/{run_id}" if run_id else base


@admin.get("/")
def experiments() -> str:
    """Every tip-bench experiment with its jobs."""
    store = deps().jobs
    jobs = [store.get(job_id) for job_id in store.recent(200)]
    by_experiment: dict[str, list[Any]] = {}
    for job in jobs:
        by_experiment.setdefault(job.experiment, []).append(job)
    rows = []
    for exp in tracking.list_experiments(deps().mlflow):
        name = exp.name.removeprefix(tracking.EXPERIMENT_PREFIX)
        rows.append({"name": name, "link": mlflow_link(str(exp.experiment_id)),
                     "created_at": (exp.creation_time or 0) / 1000,
                     "jobs": by_experiment.get(name, [])})  # fmt: skip
    return render_template("admin/experiments.html", experiments=rows)


def ollama_models(max_b: float) -> tuple[list[dict[str, Any]], str | None]:
    """The models Ollama has, with their size and, if over max_b, why they are disabled."""
    try:
        tags = httpx.get(f"{deps().settings.ollama_host}/api/tags", timeout=3).json()
    except (httpx.HTTPError, ValueError) as exc:
        return [], f"Ollama did not answer at {deps().settings.ollama_host}: {exc}"
    found = []
    for entry in tags.get("models", []):
        size_text = entry.get("details", {}).get("parameter_size", "")
        size = parse_parameter_size(size_text)
        reason = None
        if size is None:
            reason = "size unknown"
        elif size > max_b:
            reason = f"{size:g}B is over the {max_b:g}B limit"
        found.append({"name": entry["name"], "size": size_text or "?", "disabled": reason})
    return found, None


FORM_FIELDS = ("models", "prompts", "n_tips", "n_scenarios", "temperature", "judge",
               "experiment", "max_model_b")  # fmt: skip


def _form_body() -> dict[str, Any]:
    form = request.form
    body: dict[str, Any] = {
        "models": form.getlist("models"),
        "prompts": form.getlist("prompts"),
        "experiment": form.get("experiment", "").strip(),
    }
    for name, kind in (("n_tips", int), ("n_scenarios", int), ("temperature", float),
                       ("max_model_b", float)):  # fmt: skip
        text = form.get(name, "").strip()
        try:
            body[name] = kind(text)
        except ValueError:
            body[name] = text  # refused by validation, with the field named
    if form.get("judge", "").strip():
        body["judge"] = "llm:" + form["judge"].strip().removeprefix("llm:")
    return body


@admin.route("/new", methods=["GET", "POST"])
def new_benchmark() -> Response | tuple[str, int] | str:
    """The new benchmark form; errors are shown next to their field."""
    values: dict[str, Any] = {"models": [DEFAULT_GGUF_MODEL], "prompts": ["v1"], "n_tips": 3,
                              "n_scenarios": 2, "temperature": 0.7, "judge": "",
                              "experiment": "default", "max_model_b": 4.0}  # fmt: skip
    errors: dict[str, str] = {}
    general = None
    if request.method == "POST":
        body = _form_body()
        values |= body | {"judge": body.get("judge", "").removeprefix("llm:")}
        try:
            accepted = accept_bench_request(body)
        except ApiError as exc:
            for detail in exc.details or []:
                field = str(detail.get("field", "")).split(".")[0]
                errors[field if field in FORM_FIELDS else "general"] = str(detail["message"])
            general = errors.pop("general", None) or (None if errors else exc.message)
        else:
            return redirect(url_for("admin.job", job_id=accepted.job_id))  # type: ignore[return-value]
    max_b = values["max_model_b"] if isinstance(values["max_model_b"], float) else 4.0
    models, ollama_error = ollama_models(max_b)
    page = render_template(
        "admin/new.html", values=values, errors=errors, general=general, models=models,
        ollama_error=ollama_error, embedded=[DEFAULT_GGUF_MODEL],
        prompts=prompt_versions(), n_scenarios_max=len(scenarios()),
    )  # fmt: skip
    return (page, 422) if errors or general else page


@admin.get("/jobs/<job_id>")
def job(job_id: str) -> str:
    """A job's live progress (polled by admin.js), failed cells, retry and cancel."""
    try:
        found = deps().jobs.get(job_id)
    except JobNotFound:
        abort(404)
    return render_template("admin/job.html", job=found)


@admin.post("/jobs/<job_id>/retry")
def retry(job_id: str) -> Response:
    """Retry the job's failed cells (the same path as the API)."""
    retry_failed_cells(job_id)
    return redirect(url_for("admin.job", job_id=job_id))  # type: ignore[return-value]


@admin.post("/jobs/<job_id>/cancel")
def cancel(job_id: str) -> Response:
    """Cancel the job."""
    try:
        deps().jobs.cancel(job_id)
    except JobNotFound:
        abort(404)
    return redirect(url_for("admin.job", job_id=job_id))  # type: ignore[return-value]


def _matrix(runs: list[Any]) -> dict[str, Any]:
    """Rows: scenarios; columns: (model, prompt); cells: the run and its composite."""
    columns = sorted({(r.data.params.get("model", "?"), r.data.params.get("prompt_version", "?"))
                      for r in runs})  # fmt: skip
    rows = [
        s.id for s in scenarios() if any(r.data.params.get("scenario_id") == s.id for r in runs)
    ]
    cells: dict[tuple[str, str, str], Any] = {}
    for run in runs:
        p = run.data.params
        key = (p.get("scenario_id", "?"), p.get("model", "?"), p.get("prompt_version", "?"))
        cells[key] = {"run_id": run.info.run_id, "composite": run.data.metrics.get("composite"),
                      "tips": run.data.metrics.get("n_tips_parsed")}  # fmt: skip
    return {"columns": columns, "rows": rows, "cells": cells}


@admin.get("/experiments/<experiment>")
def leaderboard(experiment: str) -> str:
    """The leaderboard with CIs, a chart, breakdowns, agreement and the results matrix."""
    name = _experiment(experiment)
    view = request.args.get("judge", PRIMARY)
    if view != PRIMARY and not JUDGE_ID.match(view):
        abort(404)
    board = deps().leaderboards.get(name, view)
    found = tracking.find_experiment(deps().mlflow, name)
    if found is None:
        abort(404)
    query = f"tags.{tracking.TAG_KIND} = 'cell' and attributes.status = 'FINISHED'"
    runs = list(tracking.search_runs(deps().mlflow, str(found.experiment_id), query))
    return render_template(
        "admin/leaderboard.html", experiment=name, board=board, view=view,
        matrix=_matrix(runs), max_composite=MAX_COMPOSITE,
        link=mlflow_link(str(found.experiment_id)),
    )  # fmt: skip


def _artifact(run_id: str, path: str) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = deps().mlflow.download_artifacts(run_id, path, folder)
        except (MlflowException, OSError):
            return None
        return json.loads(Path(local).read_text(encoding="utf-8"))


@admin.get("/experiments/<experiment>/runs/<run_id>")
def cell(experiment: str, run_id: str) -> str:
    """One cell: its tips, the rendered prompt, every judge's scores and rationales."""
    _experiment(experiment)
    try:
        run = deps().mlflow.get_run(run_id)
    except MlflowException:
        abort(404)
    judges: dict[str, dict[str, Any]] = {}
    value: Any
    for key, value in run.data.metrics.items():
        if key.startswith("judge/"):
            _, judge, item = key.split("/", 2)
            judges.setdefault(judge, {})[item] = value
    for key, value in run.data.tags.items():
        if key.startswith("judge/") and key.endswith("/rationale"):
            judges.setdefault(key.split("/")[1], {})["rationale"] = value
    return render_template(
        "admin/cell.html", experiment=experiment, run=run, judges=judges,
        candidates=_artifact(run_id, "candidates.json"), prompt=_artifact(run_id, "prompt.json"),
        link=mlflow_link(run.info.experiment_id, run_id),
    )  # fmt: skip


@admin.get("/experiments/<experiment>/score")
def score(experiment: str) -> str:
    """Blind scoring, one item at a time, for the judge named in ?judge= (asked first)."""
    name = _experiment(experiment)
    judge = request.args.get("judge", "").strip()
    if judge and not JUDGE_ID.match(judge):
        judge = ""
    return render_template("admin/score.html", experiment=name, judge=judge,
                           rubric=load_rubric().as_dict(), suite=SUITE_VERSION)  # fmt: skip


@admin.get("/queues")
def queues() -> str:
    """Queues, workers, actors and dead letters."""
    inspector = QueueInspector(deps().redis, deps().settings)
    return render_template(
        "admin/queues.html",
        stats=[inspector.stats(q) for q in QUEUES],
        workers=inspector.workers(),
        actors=inspector.actor_stats(),
        waiting={q: inspector.messages(q, "ready", 20) for q in QUEUES},
        dead={q: inspector.messages(q, "dead", 50) for q in QUEUES},
    )


def _queue(name: str) -> str:
    if name not in QUEUES:
        abort(404)
    return name


@admin.post("/queues/<queue>/dead/<message_id>/requeue")
def requeue_one(queue: str, message_id: str) -> Response:
    """Requeue one dead letter with fresh retries."""
    QueueInspector(deps().redis, deps().settings).requeue_dead(
        deps().broker, _queue(queue), message_id
    )
    return redirect(url_for("admin.queues"))  # type: ignore[return-value]


@admin.route("/queues/<queue>/dead/<action>", methods=["GET", "POST"])
def bulk(queue: str, action: str) -> Response | str:
    """Requeue all or purge the dead letters: a confirmation page, then the action."""
    if action not in ("requeue-all", "purge"):
        abort(404)
    inspector = QueueInspector(deps().redis, deps().settings)
    name = _queue(queue)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        count = inspector.stats(name).dead
        return render_template("admin/confirm.html", queue=name, action=action, count=count)
    if action == "purge":
        inspector.purge_dead(name)
    else:
        inspector.requeue_all_dead(deps().broker, name)
    return redirect(url_for("admin.queues"))  # type: ignore[return-value]
