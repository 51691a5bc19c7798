"""The gateway's app factory, called by gunicorn: `services.gateway.app:create_app()`."""

from __future__ import annotations

from flask import Flask, Response, jsonify

from services.gateway.api import bench
from services.gateway.auth import require_admin_token
from services.gateway.deps import build_deps
from services.gateway.errors import register_error_handlers
from shared.settings import Settings

MAX_BODY_BYTES = 2 * 1024 * 1024


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

    return app
