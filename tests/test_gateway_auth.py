"""Specs of the admin login: session cookie, CSRF, rate limit, rotation, secrets kept out."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

from services.gateway.app import create_app
from services.gateway.auth import LOGIN_MAX_FAILURES, SESSION_COOKIE
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


def test_failed_logins_are_rate_limited_per_client_address(app: Flask) -> None:
    attacker = new_client(app)
    for _ in range(LOGIN_MAX_FAILURES):
        assert log_in(attacker, token="guess-guess-guess-guess").status_code == 401
    locked = log_in(attacker)  # even the right token, while locked out
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "too many failed logins" in locked.json["error"]["message"]
    assert attacker.get("/admin/").status_code == 302
    assert log_in(new_client(app)).status_code == 302  # another address is not affected


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
