"""The gateway's app factory, called by gunicorn: `services.gateway.app:create_app()`."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import redis
from flask import Flask, Response, g, jsonify, render_template, request
from pydantic import BaseModel, Field

from services.gateway.admin import admin
from services.gateway.api import bench
from services.gateway.auth import require_admin
from services.gateway.deps import GatewayDeps, build_deps
from services.gateway.errors import register_error_handlers
from services.gateway.metrics import instrument
from services.gateway.openapi import build_spec, documented
from shared.logs import configure_logging, new_request_id, request_id_var
from shared.settings import DEV_MODE_TOKEN, Settings

READY_TIMEOUT_S = 2.0
REQUEST_ID_HEADER = "X-Request-ID"
log = logging.getLogger("tipbench.gateway")


class ConfigError(RuntimeError):
    """The gateway's configuration cannot be served (no admin token, a weak one)."""


class Health(BaseModel):
    """The process answers."""

    status: str = Field(description="ok")


class Readiness(BaseModel):
    """Whether the gateway's dependencies answer."""

    status: str = Field(description="ready or not ready.")
    failed: dict[str, str] = Field(description="What failed (redis, mlflow) and why.")


def readiness_problems(deps: GatewayDeps) -> dict[str, str]:
    """What the gateway depends on and cannot reach right now: {"redis"|"mlflow": why}."""
    failed: dict[str, str] = {}
    try:
        deps.redis.ping()
    except redis.RedisError as exc:
        failed["redis"] = str(exc)
    try:
        answer = httpx.get(f"{deps.settings.mlflow_uri}/health", timeout=READY_TIMEOUT_S)
        if answer.status_code != 200:
            failed["mlflow"] = f"/health answered {answer.status_code}"
    except httpx.HTTPError as exc:
        failed["mlflow"] = str(exc) or type(exc).__name__
    return failed


def _warn_dev_mode(settings: Settings) -> None:
    if not settings.dev_mode:
        return
    default = settings.admin_tokens() == [DEV_MODE_TOKEN]
    log.warning(
        "DEVELOPMENT MODE (TIPBENCH_DEV_MODE=true): weak admin tokens are accepted%s. "
        "Never expose this gateway to a network.",
        f", and the token is the public {DEV_MODE_TOKEN!r}" if default else "",
    )


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway: the API and admin pages behind the admin credential, and probes."""
    settings = settings or Settings()  # read from the environment
    configure_logging(settings.service or "gateway")
    try:
        settings.checked_admin_tokens()
    except ValueError as exc:
        log.critical("refusing to start: %s", exc)
        raise ConfigError(f"refusing to start: {exc}") from None
    _warn_dev_mode(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    deps = build_deps(settings)
    app.extensions["tipbench"] = deps

    @app.before_request
    def _request_id() -> None:
        g.request_id = new_request_id(request.headers.get(REQUEST_ID_HEADER))
        request_id_var.set(g.request_id)

    @app.after_request
    def _tag_response(response: Response) -> Response:
        # A refusal (401, 415...) can come before the body is read: drain what is left so
        # the next request on this keep-alive connection starts where it should; a body
        # too large to drain closes the connection instead.
        try:
            request.stream.read()
        except Exception:  # noqa: BLE001 - whatever the stream says, closing is safe
            response.headers["Connection"] = "close"
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.method not in ("GET", "HEAD") or response.status_code >= 500:
            log.info(
                "%s %s -> %s",
                request.method,
                request.url_rule.rule if request.url_rule else request.path[:200],
                response.status_code,
            )
        return response

    @app.teardown_request
    def _forget_request_id(_exc: BaseException | None) -> None:
        request_id_var.set(None)

    instrument(app)
    require_admin(app, settings, deps.tokens)
    app.register_blueprint(bench)
    app.register_blueprint(admin)
    register_error_handlers(app)

    @app.get("/healthz")
    @documented(summary="The process is up.", response=Health, public=True)
    def healthz() -> Response:
        """The process is up (checks nothing else)."""
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    @documented(
        summary="Redis and MLflow answer.",
        response=Readiness,
        public=True,
        also={503: Readiness},
    )
    def readyz() -> tuple[Response, int]:
        """Redis and MLflow answer; 503 naming what failed otherwise."""
        failed = readiness_problems(app.extensions["tipbench"])
        body = {"status": "ready" if not failed else "not ready", "failed": failed}
        return jsonify(body), 200 if not failed else 503

    metrics_view = app.view_functions["metrics"]
    documented(
        summary="Prometheus metrics of the gateway.",
        response={"type": "string"},
        media_type="text/plain",
        public=True,
    )(metrics_view)

    spec: dict[str, Any] = {}

    @app.get("/api/openapi.json")
    def openapi_json() -> Response:
        """The OpenAPI 3.1 document of this gateway."""
        if not spec:
            spec.update(build_spec(app))
        return jsonify(spec)

    @app.get("/api/docs")
    def openapi_docs() -> str:
        """The API's documentation as a page, rendered from the OpenAPI document."""
        if not spec:
            spec.update(build_spec(app))
        return render_template("admin/api_docs.html", spec=spec)

    return app
