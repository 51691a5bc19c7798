"""Admin bearer-token authentication: every route under /api/ requires it."""

from __future__ import annotations

import hmac

from flask import Flask, request

from services.gateway.errors import ApiError
from shared.settings import Settings

PROTECTED_PREFIX = "/api/"


def require_admin_token(app: Flask, settings: Settings) -> None:
    """Refuse any /api/ request without the admin bearer token: 401 if absent, 403 if wrong."""
    expected = settings.admin_token.get_secret_value().encode("utf-8")

    @app.before_request
    def _check_token() -> None:
        # Checked for the path, not per route, so a new /api route cannot be left open.
        if not request.path.startswith(PROTECTED_PREFIX):
            return
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "unauthorized",
                "missing bearer token: send Authorization: Bearer <admin token>",
                headers={"WWW-Authenticate": 'Bearer realm="tipbench"'},
            )
        if not hmac.compare_digest(token.strip().encode("utf-8"), expected):
            raise ApiError(403, "forbidden", "the bearer token is not valid")
