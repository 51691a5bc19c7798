"""The admin login form (rate limited per client address) and logout."""

from __future__ import annotations

from flask import Response, redirect, render_template, request, session, url_for

from services.gateway.auth import LOGIN_MAX_FAILURES, LOGIN_WINDOW_S, csrf_ok, fingerprint
from services.gateway.deps import deps
from services.gateway.errors import ApiError


def _failures_key() -> str:
    return deps().settings.key("login-failures", request.remote_addr or "unknown")


def _safe_next(target: str | None) -> str:
    # Only a local admin path: no open redirect to another site.
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("admin.experiments")


def login() -> Response | tuple[str, int] | str:
    """The login form; a valid admin token opens a session."""
    if request.method == "GET":
        return render_template("admin/login.html", next=request.args.get("next", ""), error=None)
    store, key = deps().redis, _failures_key()
    failures = int(store.get(key) or 0)
    if failures >= LOGIN_MAX_FAILURES:
        wait = max(int(store.ttl(key)), 1)
        raise ApiError(
            429,
            "too_many_logins",
            f"too many failed logins from this address; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    if not csrf_ok():
        raise ApiError(403, "csrf_failed", "missing or wrong CSRF token; reload the page and retry")
    token = request.form.get("token", "")
    check = deps().tokens
    if not token or not check.matches(token):
        with store.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, LOGIN_WINDOW_S, nx=True)
            pipe.execute()
        page = render_template(
            "admin/login.html", next=request.form.get("next", ""), error="That token is not valid."
        )
        return page, 401
    store.delete(key)
    session.clear()  # a fresh session (and CSRF token) after login: no session fixation
    session.permanent = True
    session["auth"] = fingerprint(token)
    return redirect(_safe_next(request.form.get("next")))  # type: ignore[return-value]


def logout() -> Response:
    """End the session."""
    session.clear()
    return redirect(url_for("admin.login"))  # type: ignore[return-value]
