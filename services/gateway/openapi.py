"""The OpenAPI 3.1 document, generated from the routes and the pydantic models they use.

Each API view carries a `Doc` (set by `@documented`): its summary, the model of its body
(the same model that validates it), of its answer, its query parameters and its error
statuses. `build_spec` walks the app's URL map, so a route without a `Doc` fails the
build (and the test that builds it): the document cannot silently miss a route.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import Flask
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from shared.base import Record
from shared.contracts import EXPERIMENT_PATTERN, JUDGE_ID_PATTERN
from shared.suite import SUITE_NAME_PATTERN

F = TypeVar("F", bound=Callable[..., Any])
OPENAPI_VERSION = "3.1.0"
DOCUMENTED_PREFIXES = ("/api/", "/healthz", "/readyz", "/metrics")
UNDOCUMENTED_ENDPOINTS = frozenset({"docs.openapi_json", "docs.openapi_docs", "static"})
# Blueprints whose operations are named by their view alone: the probes keep the ids they
# had as app routes (healthz, readyz), which clients generated from the document use.
BARE_OPERATION_IDS = frozenset({"probes"})

# Path parameters, by name, wherever they appear.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "experiment": {
        "type": "string",
        "pattern": EXPERIMENT_PATTERN,
        "description": "Experiment name (the MLflow experiment is tip-bench-<name>).",
    },
    "job_id": {"type": "string", "description": "Job id, as POST /api/bench/run answered."},
    "submission_id": {"type": "string", "description": "Score submission id."},
    "name": {"type": "string", "pattern": SUITE_NAME_PATTERN, "description": "Suite name."},
    "version": {
        "type": "string",
        "pattern": r"^[0-9a-f]{12}$",
        "description": "Suite version id (a hash of its content).",
    },
}

ERROR_TEXT = {
    200: "Already stored: the same content, nothing changed.",
    400: "The body is not valid JSON (or has a duplicate key).",
    401: "No credentials (WWW-Authenticate says how to send them).",
    403: "Wrong token, or a cookie-authenticated request without its CSRF token.",
    404: "Not found.",
    409: "Conflict with the resource's state.",
    413: "The body is over the size limit.",
    415: "The body is not application/json.",
    422: "Invalid input; details name each invalid field.",
    500: "Internal error (see the gateway log, by request id).",
    503: "Redis or the MLflow server is unreachable, or the leaderboard is being rebuilt"
    " (Retry-After).",
}


class ErrorDetail(Record):
    """What went wrong."""

    code: str = Field(description="Machine-readable reason, e.g. invalid_request.")
    message: str = Field(description="One sentence for a person.")
    details: Any = Field(description="Per-field problems (a list of {field, message}) or null.")


class ErrorBody(Record):
    """Every error answer has this shape."""

    error: ErrorDetail


@dataclass(frozen=True)
class Query:
    """A query parameter."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False


def judge_query(description: str, *, required: bool = False) -> Query:
    """The `judge` query parameter: a judge id."""
    return Query("judge", {"type": "string", "pattern": JUDGE_ID_PATTERN}, description, required)


@dataclass(frozen=True)
class Doc:
    """What the document says of one route."""

    summary: str
    response: Any  # a model, list[model], or a raw JSON schema (dict)
    status: int = 200
    body: type[BaseModel] | None = None
    query: tuple[Query, ...] = ()
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"
    extra_media: dict[str, dict[str, Any]] = field(default_factory=dict)
    also: dict[int, Any] = field(default_factory=dict)  # other statuses with their own body
    body_media: tuple[str, ...] = ()  # media types the body may also come in, as text
    public: bool = False


def documented(**kwargs: Any) -> Callable[[F], F]:
    """Attach a Doc to a view function."""
    doc = Doc(**kwargs)

    def mark(view: F) -> F:
        view._openapi = doc  # type: ignore[attr-defined]
        return view

    return mark


ModelMode = tuple[type[BaseModel], Literal["validation", "serialization"]]


def _models_in(doc: Doc) -> list[ModelMode]:
    found: list[ModelMode] = []
    for target in (doc.response, *doc.also.values()):
        inner = getattr(target, "__args__", None)
        if inner and isinstance(inner[0], type) and issubclass(inner[0], BaseModel):
            found.append((inner[0], "serialization"))
        elif isinstance(target, type) and issubclass(target, BaseModel):
            found.append((target, "serialization"))
    if doc.body is not None:
        found.append((doc.body, "validation"))
    return found


def _response_schema(target: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    inner = getattr(target, "__args__", None)
    if inner:
        return {"type": "array", "items": refs[(inner[0], "serialization")]}
    if isinstance(target, type) and issubclass(target, BaseModel):
        return dict(refs[(target, "serialization")])
    return dict(target)


def _operation_id(endpoint: str) -> str:
    blueprint, _, view = endpoint.rpartition(".")
    return view if blueprint in BARE_OPERATION_IDS else endpoint.replace(".", "_")


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented route of the app."""
    operations: list[tuple[str, str, str, Doc]] = []  # (rule, method, endpoint, doc)
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED_ENDPOINTS or not rule.rule.startswith(DOCUMENTED_PREFIXES):
            continue
        doc = getattr(app.view_functions[rule.endpoint], "_openapi", None)
        if doc is None:
            raise RuntimeError(f"route {rule.rule} ({rule.endpoint}) has no OpenAPI Doc")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations.append((rule.rule, method.lower(), rule.endpoint, doc))

    wanted: list[ModelMode] = [(ErrorBody, "serialization")]
    for *_, doc in operations:
        wanted += [m for m in _models_in(doc) if m not in wanted]
    refs, defs = models_json_schema(wanted, ref_template="#/components/schemas/{model}")

    paths: dict[str, dict[str, Any]] = {}
    for rule_text, method, endpoint, doc in operations:
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule_text)
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
            for name in re.findall(r"{([a-z_]+)}", path)
        ] + [
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "schema": q.schema,
                "description": q.description,
            }
            for q in doc.query
        ]
        content = {doc.media_type: {"schema": _response_schema(doc.response, refs)}}
        content |= doc.extra_media
        responses: dict[str, Any] = {
            str(doc.status): {"description": doc.summary, "content": content}
        }
        statuses = set(doc.errors) | {500}
        if not doc.public:
            statuses |= {401, 403, 503}
        if parameters:
            statuses.add(422)
        if doc.body is not None:
            statuses |= {400, 413, 415, 422}
        error_ref = refs[(ErrorBody, "serialization")]
        for status, target in doc.also.items():
            responses[str(status)] = {
                "description": ERROR_TEXT[status],
                "content": {"application/json": {"schema": _response_schema(target, refs)}},
            }
        for status in sorted(statuses - set(doc.also)):
            responses[str(status)] = {
                "description": ERROR_TEXT[status],
                "content": {"application/json": {"schema": error_ref}},
            }
        operation: dict[str, Any] = {
            "operationId": _operation_id(endpoint),
            "summary": doc.summary,
            "description": (app.view_functions[endpoint].__doc__ or doc.summary).strip(),
            "parameters": parameters,
            "responses": responses,
        }
        if doc.public:
            operation["security"] = []
        if doc.body is not None:
            body = {"application/json": {"schema": refs[(doc.body, "validation")]}}
            body |= {media: {"schema": {"type": "string"}} for media in doc.body_media}
            operation["requestBody"] = {"required": True, "content": body}
        paths.setdefault(path, {})[method] = operation

    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "tipbench gateway",
            "version": "1",
            "description": (
                "Benchmark small local LLMs at writing tips: submit jobs, follow them, "
                "export blind judge packets, ingest scores, read leaderboards. Every route "
                "but the public ones needs `Authorization: Bearer <admin token>`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "tipbench_session"},
            },
        },
    }
