"""Admin authentication for every route but a short public list.

Two ways in, both checked against the configured admin tokens:
- `Authorization: Bearer <token>` (the API, the CLI, scripts);
- the admin session opened by the login form (the web pages): the cookie carries an
  opaque id, the session lives in Redis (sessions.py), HttpOnly, SameSite=Strict, bound to
  the token it was opened with: logging out, or removing that token from the
  configuration, ends it. Every unsafe request made with the cookie must carry the
  session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`).

Failed authentications are counted per client address, atomically, for both ways in
(`authenticate`): past AUTH_MAX_FAILURES in AUTH_WINDOW_S a wrong token is answered 429
with Retry-After, while the right one still passes, so failures from an address shared
with the admin (a NAT, the proxy) never lock the admin out.

Routes are protected by default: a route is public only if its endpoint is listed in
PUBLIC_ENDPOINTS, so a new route cannot be left open by forgetting a decorator.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

import redis
from flask import Flask, redirect, request, session, url_for
from werkzeug.wrappers import Response as ResponseBase

from services.gateway.errors import ApiError
from services.gateway.sessions import RedisSessionInterface
from shared.settings import Settings

if TYPE_CHECKING:
    from services.gateway.deps import GatewayDeps

# Endpoints anyone may call: liveness, readiness, metrics, the API's description, login.
PUBLIC_ENDPOINTS = frozenset(
    {
        "probes.healthz",
        "probes.readyz",
        "metrics",
        "docs.openapi_json",
        "docs.openapi_docs",
        "admin.login",
        "admin.static",
        "static",
    }
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "tipbench_session"
SESSION_HOURS = 12
SIGNED_IN = "auth"  # the session key naming the token a session was opened with
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Failed authentications (login form or bearer token) per client address in the window;
# past it a wrong token gets 429 (the right one passes).
AUTH_MAX_FAILURES = 5
AUTH_WINDOW_S = 300
LOGIN_MAX_FAILURES, LOGIN_WINDOW_S = AUTH_MAX_FAILURES, AUTH_WINDOW_S

# One failure counted and the window started, in one step: parallel guesses each get
# their own count, so exactly AUTH_MAX_FAILURES of them are answered before the 429s.
_COUNT_FAILURE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""


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


class FailedAuthLimit:
    """Failed authentications per client in Redis, in a fixed window."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings
        self._count = client.register_script(_COUNT_FAILURE)

    def _key(self, client: str) -> str:
        return self._settings.key("auth-failures", client)

    def failed(self, client: str) -> int:
        """Count one failure; seconds of lockout left if it is past the limit, else 0."""
        count, ttl = self._count(keys=[self._key(client)], args=[AUTH_WINDOW_S])
        return max(int(ttl), 1) if int(count) > AUTH_MAX_FAILURES else 0


def client_address() -> str:
    """The client's address (behind trusted proxies, the one they report)."""
    return request.remote_addr or "unknown"


def too_many_failures(wait_s: int) -> ApiError:
    """The 429 of a client past the limit of failed authentications."""
    return ApiError(
        429,
        "too_many_failures",
        f"too many failed logins or tokens from this address; retry in {wait_s} s",
        headers={"Retry-After": str(wait_s)},
    )


def authenticate(check: TokenCheck, limit: FailedAuthLimit, token: str, client: str) -> bool:
    """True for an admin token; False for a wrong one; 429 (ApiError) for a wrong one past
    the limit. The right token is never refused: the lockout slows no admin down."""
    if token and check.matches(token):
        return True
    if wait := limit.failed(client):
        raise too_many_failures(wait)
    return False


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


def require_admin(app: Flask, deps: GatewayDeps) -> None:
    """Install the check on every request; keep sessions in Redis; configure the cookie."""
    settings, check, limit = deps.settings, deps.tokens, deps.auth_failures
    app.secret_key = session_secret(settings)
    app.session_interface = RedisSessionInterface(deps.redis, settings, SIGNED_IN)
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
            if not authenticate(check, limit, token.strip(), client_address()):
                raise ApiError(403, "forbidden", "the bearer token is not valid")
            return None
        if check.session_valid(session.get(SIGNED_IN)):
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
