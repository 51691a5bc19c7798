"""Admin authentication for every route but a short public list.

Two ways in, both checked against the configured admin tokens:
- `Authorization: Bearer <token>` (the API, the CLI, scripts);
- the admin session cookie set by the login form (the web pages), signed, HttpOnly,
  SameSite=Strict, bound to the token it was opened with: removing that token from the
  configuration ends the session. Every unsafe request made with the cookie must carry the
  session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`).

Routes are protected by default: a route is public only if its endpoint is listed in
PUBLIC_ENDPOINTS, so a new route cannot be left open by forgetting a decorator.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import Flask, redirect, request, session, url_for
from werkzeug.wrappers import Response as ResponseBase

from services.gateway.errors import ApiError
from shared.settings import Settings

# Endpoints anyone may call: liveness, readiness, metrics, the API's description, login.
PUBLIC_ENDPOINTS = frozenset(
    {
        "healthz",
        "readyz",
        "metrics",
        "openapi_json",
        "openapi_docs",
        "admin.login",
        "admin.static",
        "static",
    }
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "tipbench_session"
SESSION_HOURS = 12
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Failed logins allowed per client address within the window, then 429 until it ends.
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_S = 300


def fingerprint(token: str) -> str:
    """A non-reversible short id of a token, kept in the session instead of the token."""
    return hashlib.sha256(b"tipbench-session\x00" + token.encode("utf-8")).hexdigest()[:32]


class TokenCheck:
    """The configured admin tokens, compared in constant time."""

    def __init__(self, tokens: list[str]) -> None:
        self._tokens = [t.encode("utf-8") for t in tokens]
        self._fingerprints = frozenset(fingerprint(t) for t in tokens)

    def matches(self, candidate: str) -> bool:
        """True if candidate is one of the tokens (every token is compared, no early exit)."""
        given = candidate.encode("utf-8")
        found = False
        for token in self._tokens:
            found |= hmac.compare_digest(given, token)
        return found

    def session_valid(self, fp: object) -> bool:
        """True if a session's fingerprint names a token still configured."""
        return isinstance(fp, str) and fp in self._fingerprints


def session_secret(settings: Settings) -> bytes:
    """The key signing session cookies: TIPBENCH_SESSION_SECRET, else derived from the tokens."""
    explicit = settings.session_secret.get_secret_value()
    if explicit:
        return explicit.encode("utf-8")
    joined = "\x00".join(sorted(settings.admin_tokens())).encode("utf-8")
    return hmac.new(b"tipbench-session-key", joined, hashlib.sha256).digest()


def csrf_token() -> str:
    """This session's CSRF token (made on first use); put it in every form."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_ok() -> bool:
    """True if the request carries this session's CSRF token."""
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return isinstance(expected, str) and hmac.compare_digest(given.encode(), expected.encode())


def require_admin(app: Flask, settings: Settings, check: TokenCheck) -> None:
    """Install the check on every request; configure the session cookie."""
    app.secret_key = session_secret(settings)
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )

    @app.before_request
    def _authenticate() -> ResponseBase | None:
        endpoint = request.url_rule.endpoint if request.url_rule else None
        if endpoint in PUBLIC_ENDPOINTS:
            return None
        if endpoint is None and not request.path.startswith(("/api/", "/admin")):
            return None  # an unknown path outside the app's areas: a plain 404
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _missing()
            if not check.matches(token.strip()):
                raise ApiError(403, "forbidden", "the bearer token is not valid")
            return None
        if check.session_valid(session.get("auth")):
            if request.method not in SAFE_METHODS and not csrf_ok():
                raise ApiError(
                    403, "csrf_failed", "missing or wrong CSRF token; reload the page and retry"
                )
            return None
        if request.path.startswith("/admin") and request.method in SAFE_METHODS:
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        raise _missing()


def _missing() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "missing credentials: send Authorization: Bearer <admin token>, or log in at /admin/login",
        headers={"WWW-Authenticate": 'Bearer realm="tipbench"'},
    )
