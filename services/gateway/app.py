"""The gateway's app factory, called by gunicorn: `services.gateway.app:create_app()`."""

from __future__ import annotations

import logging
import weakref

from flask import Flask, request

from services.gateway.admin import admin_blueprint
from services.gateway.api import bench_blueprint
from services.gateway.auth import require_admin
from services.gateway.checks import check_url_ids
from services.gateway.deps import build_deps
from services.gateway.docs import docs_blueprint
from services.gateway.errors import register_error_handlers
from services.gateway.metrics import instrument
from services.gateway.probes import probes_blueprint
from services.gateway.request_hooks import add_request_hooks
from shared.logs import configure_logging
from shared.settings import DEV_MODE_TOKEN, Settings

log = logging.getLogger("tipbench.gateway")


class ConfigError(RuntimeError):
    """The gateway's configuration cannot be served (no admin token, a weak one)."""


def _refuse_bad_tokens(settings: Settings) -> None:
    try:
        settings.checked_admin_tokens()
    except ValueError as exc:
        log.critical("refusing to start: %s", exc)
        raise ConfigError(f"refusing to start: {exc}") from None


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
    """Build the gateway: the API and admin pages behind the admin credential, the probes and
    the API's description."""
    settings = settings or Settings()  # read from the environment
    configure_logging(settings.service or "gateway")
    _refuse_bad_tokens(settings)
    _warn_dev_mode(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    deps = build_deps(settings)
    app.extensions["tipbench"] = deps
    weakref.finalize(app, deps.readiness.close)  # its kept-open connections end with the app
    add_request_hooks(app, settings)
    instrument(app)
    require_admin(app, deps)
    app.before_request(_ids_in_the_url)  # after the credential check: no hint to strangers
    app.register_blueprint(bench_blueprint())
    app.register_blueprint(admin_blueprint())
    app.register_blueprint(probes_blueprint())
    app.register_blueprint(docs_blueprint())
    register_error_handlers(app)
    return app


def _ids_in_the_url() -> None:
    """Refuse a job or submission id that cannot be one (404) before any store sees it."""
    check_url_ids(request.view_args)
