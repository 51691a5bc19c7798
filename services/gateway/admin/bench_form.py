"""The new benchmark form: a suite, its prompt versions and scenarios, models and settings.

Its defaults are the bench request's, spelled out against the chosen suite by the same
`choose` the API uses; its limits are the request model's.
"""

from __future__ import annotations

from typing import Any

import annotated_types
import httpx
from flask import Response, redirect, render_template, request, url_for

from services.gateway.deps import deps
from services.gateway.errors import refusal_status
from services.gateway.submit import accept_bench_request, choose
from shared.contracts import EXPERIMENT_PATTERN, BenchRequest
from shared.errors import InvalidRequest, PermanentError, SuiteMismatch
from shared.model_names import (
    DEFAULT_GGUF_MODEL,
    LLM_JUDGE_PREFIX,
    check_size,
    parse_parameter_size,
)
from shared.suite import Suite

FORM_FIELDS = (
    "suite",
    "models",
    "prompts",
    "scenarios",
    "n_tips",
    "n_scenarios",
    "temperature",
    "judge",
    "experiment",
    "max_model_b",
    "allow_unknown_size",
)
NUMBER_FIELDS = (
    ("n_tips", int),
    ("n_scenarios", int),
    ("temperature", float),
    ("max_model_b", float),
)


def field_bounds(name: str) -> dict[str, float]:
    """A number field's inclusive bounds, from the bench request model: {min, max}."""
    bounds: dict[str, float] = {}
    for rule in BenchRequest.model_fields[name].metadata:
        if isinstance(rule, annotated_types.Ge):
            bounds["min"] = rule.ge  # type: ignore[assignment]
        elif isinstance(rule, annotated_types.Le):
            bounds["max"] = rule.le  # type: ignore[assignment]
    return bounds


def ollama_models(max_b: float) -> tuple[list[dict[str, Any]], str | None]:
    """The models the Ollama servers have (every Ollama generation host of TIPBENCH_HOSTS,
    else TIPBENCH_OLLAMA_HOST), with their size and, if over max_b, why they are disabled."""
    settings = deps().settings
    servers = [(h.name, h.url) for h in settings.generation_hosts() if h.kind == "ollama"] or [
        ("", settings.ollama_host)
    ]
    found: dict[str, dict[str, Any]] = {}
    silent: list[str] = []
    for host, url in servers:
        try:
            tags = httpx.get(f"{url}/api/tags", timeout=3).json()
        except (httpx.HTTPError, ValueError) as exc:
            silent.append(f"host {host}" if host else f"{url}: {exc}")
            continue
        for entry in tags.get("models", []):
            size_text = entry.get("details", {}).get("parameter_size", "")
            reason = None
            try:
                check_size(entry["name"], parse_parameter_size(size_text), max_b, False)
            except PermanentError as exc:
                reason = str(exc)
            found.setdefault(
                entry["name"], {"name": entry["name"], "size": size_text or "?", "disabled": reason}
            )
    error = f"Ollama did not answer at {', '.join(silent)}" if silent else None
    return sorted(found.values(), key=lambda m: m["name"]), error


def default_values(suite: Suite) -> dict[str, Any]:
    """The form's first values: a bench request's defaults, spelled out against the suite."""
    spelled = choose(BenchRequest(suite=suite.suite), suite)
    return spelled.model_dump() | {
        "scenarios": [],  # none picked: the first n_scenarios
        "n_scenarios": len(spelled.scenarios or ()),
        "judge": (spelled.judge or "").removeprefix(LLM_JUDGE_PREFIX),
        "other_models": "",
    }


def _form_body(suite_ref: str) -> dict[str, Any]:
    form = request.form
    body: dict[str, Any] = {
        "suite": suite_ref,
        # the listed models ticked, then any typed in (openai:<name>, another Ollama name)
        "models": form.getlist("models") + form.get("other_models", "").split(),
        "prompts": form.getlist("prompts"),
        "experiment": form.get("experiment", "").strip(),
    }
    for name, kind in NUMBER_FIELDS:
        text = form.get(name, "").strip()
        try:
            body[name] = kind(text)
        except ValueError:
            body[name] = text  # refused by validation, with the field named
    if form.getlist("scenarios"):
        # scenarios picked one by one take the place of "the first N"
        body["scenarios"] = form.getlist("scenarios")
        del body["n_scenarios"]
    if form.get("judge", "").strip():
        body["judge"] = LLM_JUDGE_PREFIX + form["judge"].strip().removeprefix(LLM_JUDGE_PREFIX)
    if form.get("allow_unknown_size"):
        body["allow_unknown_size"] = True
    return body


def new_benchmark() -> Response | tuple[str, int] | str:
    """The new benchmark form for the suite in ?suite= (or the form's); errors by their field."""
    ref = request.values.get("suite", "").strip() or BenchRequest().suite
    suite = deps().suites.resolve(ref)
    suite_ref = f"{suite.suite}@{suite.content_version()}"  # the version the form shows
    values = default_values(suite)
    errors: dict[str, str] = {}
    general, status = None, 200
    if request.method == "POST":
        body = _form_body(suite_ref)
        values |= body | {
            "judge": body.get("judge", "").removeprefix(LLM_JUDGE_PREFIX),
            "other_models": request.form.get("other_models", ""),
        }
        try:
            accepted = accept_bench_request(body, deps())
        except InvalidRequest as exc:
            for detail in exc.problems:
                field = str(detail.get("field", "")).split(".")[0]
                errors[field if field in FORM_FIELDS else "general"] = str(detail["message"])
            general = errors.pop("general", None) or (None if errors else str(exc))
            status = refusal_status(exc)
        except SuiteMismatch as exc:
            errors["experiment"] = str(exc.args[0])
            status = refusal_status(exc)
        else:
            return redirect(url_for("admin.job", job_id=accepted.job_id))  # type: ignore[return-value]
    max_b = values["max_model_b"]
    max_b = max_b if isinstance(max_b, float) else BenchRequest().max_model_b
    models, ollama_error = ollama_models(max_b)
    page = render_template(
        "admin/new.html",
        values=values,
        errors=errors,
        general=general,
        models=models,
        ollama_error=ollama_error,
        embedded=[DEFAULT_GGUF_MODEL],
        suites=deps().suites.newest(),
        suite=suite,
        suite_ref=suite_ref,
        bounds={name: field_bounds(name) for name, _ in NUMBER_FIELDS},
        experiment_pattern=EXPERIMENT_PATTERN.strip("^$"),
    )
    return (page, status) if errors or general else page
