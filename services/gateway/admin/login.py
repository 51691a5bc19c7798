"""The admin login form (failed logins limited per client address, as bearer tokens are)
and logout."""

from __future__ import annotations

from flask import Response, redirect, render_template, request, session, url_for

from services.gateway.auth import SIGNED_IN, authenticate, client_address, csrf_ok, fingerprint
from services.gateway.deps import deps
from services.gateway.errors import ApiError


def _safe_next(target: str | None) -> str:
    # Only a local admin path: no open redirect to another site.
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("admin.experiments")


def login() -> Response | tuple[str, int] | str:
    """The login form; a valid admin token opens a session."""
    if request.method == "GET":
        return render_template("admin/login.html", next=request.args.get("next", ""), error=None)
    if not csrf_ok():
        raise ApiError(403, "csrf_failed", "missing or wrong CSRF token; reload the page and retry")
    token = request.form.get("token", "")
    # 429 for a wrong token past the limit; the right one always passes
    if not authenticate(deps().tokens, deps().auth_failures, token, client_address()):
        page = render_template(
            "admin/login.html", next=request.form.get("next", ""), error="That token is not valid."
        )
        return page, 401
    session.clear()  # a new session (and CSRF token) after login: no session fixation
    session.permanent = True
    session[SIGNED_IN] = fingerprint(token)
    return redirect(_safe_next(request.form.get("next")))  # type: ignore[return-value]


def logout() -> Response:
    """End the session: it is deleted from Redis, a copy of its cookie opens nothing."""
    session.clear()
    return redirect(url_for("admin.login"))  # type: ignore[return-value]
