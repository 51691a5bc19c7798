"""Admin job pages: the new benchmark form, a job's progress, retry and cancel buttons."""

from __future__ import annotations

from typing import Any

import httpx
from flask import Response, redirect, render_template, request, url_for

from services.gateway.deps import deps
from services.gateway.submit import accept_bench_request, retry_failed_cells
from shared.contracts import BenchRequest
from shared.errors import InvalidRequest, PermanentError
from shared.model_names import DEFAULT_GGUF_MODEL, check_size, parse_parameter_size
from shared.suite_files import DEFAULT_SUITE, builtin_suite

FORM_FIELDS = (
    "models",
    "prompts",
    "n_tips",
    "n_scenarios",
    "temperature",
    "judge",
    "experiment",
    "max_model_b",
)
NUMBER_FIELDS = (
    ("n_tips", int),
    ("n_scenarios", int),
    ("temperature", float),
    ("max_model_b", float),
)


def ollama_models(max_b: float) -> tuple[list[dict[str, Any]], str | None]:
    """The models Ollama has, with their size and, if over max_b, why they are disabled."""
    try:
        tags = httpx.get(f"{deps().settings.ollama_host}/api/tags", timeout=3).json()
    except (httpx.HTTPError, ValueError) as exc:
        return [], f"Ollama did not answer at {deps().settings.ollama_host}: {exc}"
    found = []
    for entry in tags.get("models", []):
        size_text = entry.get("details", {}).get("parameter_size", "")
        reason = None
        try:
            check_size(entry["name"], parse_parameter_size(size_text), max_b, False)
        except PermanentError as exc:
            reason = str(exc)
        found.append({"name": entry["name"], "size": size_text or "?", "disabled": reason})
    return found, None


def _form_body() -> dict[str, Any]:
    form = request.form
    body: dict[str, Any] = {
        "models": form.getlist("models"),
        "prompts": form.getlist("prompts"),
        "experiment": form.get("experiment", "").strip(),
    }
    for name, kind in NUMBER_FIELDS:
        text = form.get(name, "").strip()
        try:
            body[name] = kind(text)
        except ValueError:
            body[name] = text  # refused by validation, with the field named
    if form.get("judge", "").strip():
        body["judge"] = "llm:" + form["judge"].strip().removeprefix("llm:")
    return body


def new_benchmark() -> Response | tuple[str, int] | str:
    """The new benchmark form; errors are shown next to their field."""
    defaults = BenchRequest()
    suite = builtin_suite(DEFAULT_SUITE)
    values: dict[str, Any] = defaults.model_dump() | {
        "prompts": [p.version for p in suite.prompts],
        "n_tips": suite.checks.n_tips,
        "n_scenarios": len(suite.scenarios),
        "judge": "",
    }
    errors: dict[str, str] = {}
    general = None
    if request.method == "POST":
        body = _form_body()
        values |= body | {"judge": body.get("judge", "").removeprefix("llm:")}
        try:
            accepted = accept_bench_request(body, deps())
        except InvalidRequest as exc:
            for detail in exc.problems:
                field = str(detail.get("field", "")).split(".")[0]
                errors[field if field in FORM_FIELDS else "general"] = str(detail["message"])
            general = errors.pop("general", None) or (None if errors else str(exc))
        else:
            return redirect(url_for("admin.job", job_id=accepted.job_id))  # type: ignore[return-value]
    max_b = values["max_model_b"]
    max_b = max_b if isinstance(max_b, float) else defaults.max_model_b
    models, ollama_error = ollama_models(max_b)
    page = render_template(
        "admin/new.html",
        values=values,
        errors=errors,
        general=general,
        models=models,
        ollama_error=ollama_error,
        embedded=[DEFAULT_GGUF_MODEL],
        prompts={p.version: p for p in suite.prompts},
        n_scenarios_max=len(suite.scenarios),
    )
    return (page, 422) if errors or general else page


def job(job_id: str) -> str:
    """A job's live progress (polled by admin.js), failed cells, retry and cancel."""
    return render_template("admin/job.html", job=deps().jobs.get(job_id))


def retry(job_id: str) -> Response:
    """Retry the job's failed cells (the same path as the API)."""
    retry_failed_cells(job_id, deps())
    return redirect(url_for("admin.job", job_id=job_id))  # type: ignore[return-value]


def cancel(job_id: str) -> Response:
    """Cancel the job (one that has already ended stays as it was)."""
    deps().jobs.cancel(job_id)
    return redirect(url_for("admin.job", job_id=job_id))  # type: ignore[return-value]
