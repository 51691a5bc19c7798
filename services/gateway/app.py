"""The gateway's app factory, called by gunicorn: `services.gateway.app:create_app()`."""

from __future__ import annotations

import httpx
import redis
from flask import Flask, Response, jsonify

from services.gateway.api import bench
from services.gateway.auth import require_admin_token
from services.gateway.deps import GatewayDeps, build_deps
from services.gateway.errors import register_error_handlers
from shared.settings import Settings

MAX_BODY_BYTES = 2 * 1024 * 1024
READY_TIMEOUT_S = 2.0


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


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway: the /api/bench routes behind the admin token, and /healthz."""
    settings = settings or Settings()  # read from the environment
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["tipbench"] = build_deps(settings)
    require_admin_token(app, settings)
    app.register_blueprint(bench)
    register_error_handlers(app)

    @app.get("/healthz")
    def healthz() -> Response:
        """The process is up (checks nothing else)."""
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Redis and MLflow answer; 503 naming what failed otherwise."""
        failed = readiness_problems(app.extensions["tipbench"])
        body = {"status": "ready" if not failed else "not ready", "failed": failed}
        return jsonify(body), 200 if not failed else 503

    return app
