"""Specs of the admin login: sessions kept in Redis, CSRF, failed authentications limited
per client, rotation, security headers, secrets kept out."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from flask import Flask, request
from flask.testing import FlaskClient
from pydantic import SecretStr

from services.gateway.app import create_app
from services.gateway.auth import AUTH_MAX_FAILURES, SESSION_COOKIE, SESSION_HOURS
from shared.settings import DEV_MODE_TOKEN, Settings
from tests.conftest import TOKEN, auth

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def new_client(app: Flask) -> FlaskClient:
    """A browser of its own: its own cookies and client address (the rate limit is per address)."""
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def login_form(client: FlaskClient) -> str:
    """Open the login page; returns its CSRF token."""
    page = client.get("/admin/login")
    assert page.status_code == 200
    found = CSRF_INPUT.search(page.get_data(as_text=True))
    assert found, "the login form has no CSRF field"
    return found.group(1)


def log_in(client: FlaskClient, token: str = TOKEN) -> Any:
    csrf = login_form(client)
    return client.post("/admin/login", data={"token": token, "csrf_token": csrf, "next": "/admin/"})


def session_csrf(client: FlaskClient) -> str:
    found = CSRF_INPUT.search(client.get("/admin/").get_data(as_text=True))
    assert found, "the admin page has no CSRF field"
    return found.group(1)


def test_login_sets_a_strict_httponly_session_cookie_and_opens_the_pages(app: Flask) -> None:
    client = new_client(app)
    assert client.get("/admin/").status_code == 302
    answer = log_in(client)
    assert answer.status_code == 302 and answer.location == "/admin/"
    cookie = next(
        h for h in answer.headers.getlist("Set-Cookie") if h.startswith(f"{SESSION_COOKIE}=")
    )
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path"} <= flags
    assert "SameSite=Strict" in cookie
    assert TOKEN not in cookie
    assert client.get("/admin/").status_code == 200


def test_a_wrong_token_or_a_missing_csrf_token_opens_nothing(app: Flask) -> None:
    client = new_client(app)
    wrong = log_in(client, token="not-the-token-at-all-xyz")
    assert wrong.status_code == 401
    assert "not valid" in wrong.get_data(as_text=True)
    assert "not-the-token-at-all-xyz" not in wrong.get_data(as_text=True)
    login_form(client)
    no_csrf = client.post("/admin/login", data={"token": TOKEN})
    assert no_csrf.status_code == 403
    assert no_csrf.json["error"]["code"] == "csrf_failed"
    assert client.get("/admin/").status_code == 302  # still logged out


def test_cookie_requests_need_the_csrf_token_for_every_unsafe_method(app: Flask) -> None:
    client = new_client(app)
    log_in(client)
    csrf = session_csrf(client)
    assert client.get("/api/bench/jobs").status_code == 200  # the cookie is a credential
    refused = client.post("/api/bench/jobs/nojob/cancel")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "csrf_failed"
    forged = client.post("/api/bench/jobs/nojob/cancel", headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    passed = client.post("/api/bench/jobs/nojob/cancel", headers={"X-CSRF-Token": csrf})
    assert passed.status_code == 404  # through the check, to the route
    assert client.post("/admin/logout").status_code == 403
    assert client.post("/admin/logout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/admin/").status_code == 302
    assert client.get("/api/bench/jobs").status_code == 401


def in_parallel(calls: int, call: Any) -> Counter[int]:
    """The statuses of `calls` calls made at once."""
    with ThreadPoolExecutor(max_workers=calls) as pool:
        return Counter(pool.map(lambda _: call(), range(calls)))


def test_wrong_bearer_tokens_are_limited_per_client_and_the_right_one_still_passes(
    app: Flask,
) -> None:
    # Given a client guessing tokens, 16 guesses at once
    address = new_client(app).environ_base["REMOTE_ADDR"]

    def guess() -> int:
        guesser = app.test_client()
        guesser.environ_base["REMOTE_ADDR"] = address
        return int(guesser.get("/api/bench/jobs", headers=auth("guess-guess-guess-1")).status_code)

    # Then exactly the first 5 get an answer and the others 429, counted atomically
    assert in_parallel(16, guess) == Counter({403: AUTH_MAX_FAILURES, 429: 16 - AUTH_MAX_FAILURES})
    locked = app.test_client()
    locked.environ_base["REMOTE_ADDR"] = address
    refused = locked.get("/api/bench/jobs", headers=auth("guess-guess-guess-2"))
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 300
    assert refused.json["error"]["code"] == "too_many_failures"
    # And the admin behind the same address still gets in; another address is not affected
    assert locked.get("/api/bench/jobs", headers=auth()).status_code == 200
    other = new_client(app).get("/api/bench/jobs", headers=auth("guess-guess-guess-3"))
    assert other.status_code == 403


def test_failed_logins_are_limited_per_client_and_the_right_token_passes_a_lockout(
    app: Flask,
) -> None:
    browser = new_client(app)
    csrf = login_form(browser)
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie is not None

    def guess() -> int:
        guesser = app.test_client()
        guesser.environ_base["REMOTE_ADDR"] = browser.environ_base["REMOTE_ADDR"]
        guesser.set_cookie(SESSION_COOKIE, cookie.value)
        form = {"token": "guess-guess-guess-guess", "csrf_token": csrf}
        return int(guesser.post("/admin/login", data=form).status_code)

    assert in_parallel(16, guess) == Counter({401: AUTH_MAX_FAILURES, 429: 16 - AUTH_MAX_FAILURES})
    locked = log_in(browser, token="guess-guess-guess-guess")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert log_in(browser).status_code == 302  # the right token passes the lockout
    assert browser.get("/admin/").status_code == 200


def test_logging_out_revokes_the_session_a_copied_cookie_included(app: Flask) -> None:
    # Given an admin logged in, and a copy of their session cookie
    admin = new_client(app)
    assert log_in(admin).status_code == 302
    cookie = admin.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    thief = new_client(app)
    thief.set_cookie(SESSION_COOKIE, cookie.value)
    assert thief.get("/api/bench/jobs").status_code == 200
    # When the admin logs out
    assert admin.post("/admin/logout", data={"csrf_token": session_csrf(admin)}).status_code == 302
    # Then the copied cookie opens nothing any more
    assert thief.get("/api/bench/jobs").status_code == 401
    assert thief.get("/admin/").status_code == 302
    assert admin.get("/admin/").status_code == 302


def test_a_session_revoked_while_a_request_held_it_stays_revoked(app: Flask) -> None:
    # Given a request that opened the admin's session (it will set a CSRF token in it)
    admin = new_client(app)
    assert log_in(admin).status_code == 302
    cookie = admin.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    interface = app.session_interface
    with app.test_request_context(headers={"Cookie": f"{SESSION_COOKIE}={cookie.value}"}):
        held = interface.open_session(app, request)
        assert held is not None
        # When the admin logs out meanwhile, and that request then saves its change
        assert (
            admin.post("/admin/logout", data={"csrf_token": session_csrf(admin)}).status_code == 302
        )
        held["csrf_token"] = "set late"
        interface.save_session(app, held, app.response_class())
    # Then the session is not brought back: the cookie opens nothing
    thief = new_client(app)
    thief.set_cookie(SESSION_COOKIE, cookie.value)
    assert thief.get("/api/bench/jobs").status_code == 401


def test_the_session_cookie_is_an_opaque_id_of_a_session_kept_in_redis_with_an_expiry(
    app: Flask, core_settings: Settings
) -> None:
    browser = new_client(app)
    login_form(browser)
    anonymous = browser.get_cookie(SESSION_COOKIE)
    assert log_in(browser).status_code == 302
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie is not None and anonymous is not None
    # an id, not a payload: nothing of the token, a new one at login (no session fixation)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie.value)
    assert cookie.value != anonymous.value
    assert hashlib.sha256(b"tipbench-session\x00" + TOKEN.encode()).hexdigest()[:8] not in (
        cookie.value
    )
    key = core_settings.key("session", hashlib.sha256(cookie.value.encode()).hexdigest())
    with redis.Redis.from_url(core_settings.redis_url) as client:
        assert 0 < client.ttl(key) <= SESSION_HOURS * 3600
        assert cookie.value.encode() not in client.get(key)  # type: ignore[operator]
    # and logging in again replaces the session: the old id is dead
    assert log_in(browser).status_code == 302
    again = browser.get_cookie(SESSION_COOKIE)
    assert again is not None and again.value != cookie.value
    stale = new_client(app)
    stale.set_cookie(SESSION_COOKIE, cookie.value)
    assert stale.get("/api/bench/jobs").status_code == 401


def test_admin_pages_forbid_framing_caching_scripts_from_elsewhere_and_referrers(
    app: Flask,
) -> None:
    browser = new_client(app)
    pages = [browser.get("/admin/login")]
    log_in(browser)
    pages += [browser.get("/admin/"), browser.get("/admin/queues")]
    for page in pages:
        assert page.status_code == 200 and page.mimetype == "text/html"
        policy = page.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
        assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "same-origin"
    css = browser.get("/admin/static/admin.css")
    css.close()
    assert css.status_code == 200 and "no-store" not in css.headers.get("Cache-Control", "")


def test_a_session_ends_when_its_token_is_rotated_out(
    core_settings: Settings, mlflow_server: str
) -> None:
    old, new = "old-token-cccccccccccc", "new-token-dddddddddddd"
    fixed = {"session_secret": SecretStr("s" * 32)}
    both = create_app(
        core_settings.model_copy(update=fixed | {"admin_token": SecretStr(f"{old},{new}")})
    )
    client = new_client(both)
    assert log_in(client, old).status_code == 302
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    rotated = create_app(core_settings.model_copy(update=fixed | {"admin_token": SecretStr(new)}))
    later = new_client(rotated)
    later.set_cookie(SESSION_COOKIE, cookie.value)
    assert later.get("/admin/").status_code == 302
    assert later.get("/api/bench/jobs").status_code == 401


def test_tokens_never_reach_the_logs_or_error_bodies(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = new_client(app)
    wrong = "wrong-secret-value-123456"
    bodies = [
        client.get("/api/bench/jobs", headers=auth(wrong)).get_data(as_text=True),
        client.get("/api/bench/jobs", headers=auth()).get_data(as_text=True),
        log_in(client, wrong).get_data(as_text=True),
        log_in(client).get_data(as_text=True),
        client.post("/api/bench/run", json={"n_tips": 99}, headers=auth()).get_data(as_text=True),
    ]
    logged = caplog.text
    assert "POST" in logged  # the requests were logged...
    for secret in (TOKEN, wrong):
        assert secret not in logged  # ...without the secrets
    assert all(wrong not in body for body in bodies)


def test_dev_mode_says_so_loudly(
    core_settings: Settings, mlflow_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    dev = core_settings.model_copy(update={"dev_mode": True, "admin_token": SecretStr("")})
    client = create_app(dev).test_client()
    assert "DEVELOPMENT MODE" in caplog.text and DEV_MODE_TOKEN in caplog.text
    assert client.get("/api/bench/jobs", headers=auth(DEV_MODE_TOKEN)).status_code == 200


def test_login_redirects_only_to_admin_pages(app: Flask) -> None:
    client = new_client(app)
    csrf = login_form(client)
    answer = client.post(
        "/admin/login",
        data={"token": TOKEN, "csrf_token": csrf, "next": "https://evil.example/"},
    )
    assert answer.status_code == 302 and answer.location == "/admin/"
