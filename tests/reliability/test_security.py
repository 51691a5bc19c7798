"""Security against the live gunicorn gateway: every route closed, secrets out of the logs,
the session cookie's flags, CSRF enforced. Runs last: the log check covers the suite."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from services.gateway.app import create_app
from services.gateway.auth import SESSION_COOKIE
from shared.settings import Settings
from tests.conftest import TOKEN, auth
from tests.test_gateway import protected_routes

pytestmark = pytest.mark.slow
WRONG = "wrong-token-for-the-log-check-42"


def routes(settings: Settings) -> list[tuple[str, str]]:
    return protected_routes(create_app(settings))


def test_every_route_of_the_live_gateway_is_closed(
    rel_stack: Settings, figures: Callable[..., None]
) -> None:
    base = f"http://127.0.0.1:{rel_stack.gateway_port}"
    checked = routes(rel_stack)
    assert len(checked) >= 16
    with httpx.Client(base_url=base, timeout=30) as client:
        for method, path in checked:
            bare = client.request(method, path, json={})
            if path.startswith("/admin") and method == "GET":
                assert bare.status_code == 302 and "/admin/login" in bare.headers["location"]
            else:
                assert bare.status_code == 401, (method, path)
                assert bare.headers["WWW-Authenticate"].startswith("Bearer")
            wrong = client.request(method, path, json={}, headers=auth(WRONG))
            assert wrong.status_code == 403, (method, path)
    figures("security: every route closed", routes=len(checked))


def test_the_session_cookie_flags_and_csrf_on_the_live_gateway(rel_stack: Settings) -> None:
    base = f"http://127.0.0.1:{rel_stack.gateway_port}"
    with httpx.Client(base_url=base, timeout=30) as browser:
        page = browser.get("/admin/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        answer = browser.post("/admin/login", data={"token": TOKEN, "csrf_token": csrf.group(1)})
        assert answer.status_code == 302
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        )
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert browser.get("/admin/").status_code == 200
        assert browser.post("/api/bench/jobs/nojob/cancel").json()["error"]["code"] == "csrf_failed"
        assert browser.post("/admin/logout").status_code == 403
        assert browser.get("/admin/").status_code == 200  # still logged in: the post was refused


def test_no_token_ever_reaches_a_log(rel_stack: Settings, figures: Callable[..., None]) -> None:
    base = f"http://127.0.0.1:{rel_stack.gateway_port}"
    with httpx.Client(base_url=base, timeout=30) as client:  # make sure both were just used
        client.get("/api/bench/jobs", headers=auth(WRONG))
        client.get("/api/bench/jobs", headers=auth())
    logs = sorted((Path(rel_stack.var_dir) / "log").glob("*.log"))
    assert {p.stem for p in logs} >= {"gateway", "collector", "recorder", "judge_bridge"}
    for path in logs:
        text = path.read_text(errors="replace")
        assert TOKEN not in text, path
        assert WRONG not in text, path
    figures(
        "security: no token in the logs",
        log_files=len(logs),
        bytes_checked=sum(p.stat().st_size for p in logs),
    )
