"""Security against the live gunicorn gateway: every route closed, failed authentications
limited per client, sessions revoked at logout, admin pages' headers, bounded metrics, no
GET that writes for ever, secrets out of the logs, the session cookie's flags, CSRF.
Runs last: the log check covers the suite."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from services.gateway.app import create_app
from services.gateway.auth import AUTH_MAX_FAILURES, SESSION_COOKIE
from shared.settings import Settings
from shared.stores.packets import JUDGE_PACKET_TTL_S
from tests.conftest import TOKEN, auth, wait_until
from tests.reliability.conftest import client_headers, ended_job
from tests.test_gateway import protected_routes

pytestmark = pytest.mark.slow
WRONG = "wrong-token-for-the-log-check-42"


def routes(settings: Settings) -> list[tuple[str, str]]:
    return protected_routes(create_app(settings))


def base_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.gateway_port}"


def log_in(browser: httpx.Client, token: str = TOKEN) -> httpx.Response:
    page = browser.get("/admin/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    return browser.post("/admin/login", data={"token": token, "csrf_token": csrf.group(1)})


def test_every_route_of_the_live_gateway_is_closed(
    rel_stack: Settings, figures: Callable[..., None]
) -> None:
    checked = routes(rel_stack)
    assert len(checked) >= 16
    with httpx.Client(base_url=base_url(rel_stack), timeout=30) as client:
        for number, (method, path) in enumerate(checked):
            bare = client.request(method, path, json={})
            if path.startswith("/admin") and method == "GET":
                assert bare.status_code == 302 and "/admin/login" in bare.headers["location"]
            else:
                assert bare.status_code == 401, (method, path)
                assert bare.headers["WWW-Authenticate"].startswith("Bearer")
            # each wrong token from an address of its own: below the per-client limit
            headers = auth(WRONG) | client_headers(f"10.9.{number // 250}.{number % 250}")
            wrong = client.request(method, path, json={}, headers=headers)
            assert wrong.status_code == 403, (method, path)
    figures("security: every route closed", routes=len(checked))


def test_token_guessing_is_limited_per_client_and_the_admin_still_gets_in(
    rel_stack: Settings, figures: Callable[..., None]
) -> None:
    # Given a client that sends 16 wrong tokens at once, from the admin's own address
    guesser = client_headers("10.8.0.1")

    def guess(number: int) -> int:
        with httpx.Client(base_url=base_url(rel_stack), timeout=30) as client:
            headers = auth(f"{WRONG}-{number}") | guesser
            return client.get("/api/bench/jobs", headers=headers).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        answered = Counter(pool.map(guess, range(16)))
    # Then exactly 5 were answered and the rest refused with 429, counted atomically
    assert answered == Counter({403: AUTH_MAX_FAILURES, 429: 16 - AUTH_MAX_FAILURES})
    with httpx.Client(base_url=base_url(rel_stack), timeout=30) as client:
        locked = client.get("/api/bench/jobs", headers=auth(WRONG) | guesser)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
        # And the admin's right token passes the lockout of the address they share
        assert client.get("/api/bench/jobs", headers=auth() | guesser).status_code == 200
    figures(
        "security: token guessing limited",
        parallel_wrong_tokens=16,
        answered={str(k): v for k, v in sorted(answered.items())},
        right_token_during_lockout=200,
    )


def test_logging_out_ends_the_session_for_a_copied_cookie_too(rel_stack: Settings) -> None:
    with httpx.Client(base_url=base_url(rel_stack), timeout=30) as browser:
        assert log_in(browser).status_code == 302
        cookie = browser.cookies[SESSION_COOKIE]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)  # an id, not a payload
        page = browser.get("/admin/")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        with httpx.Client(base_url=base_url(rel_stack), timeout=30) as thief:
            thief.cookies.set(SESSION_COOKIE, cookie)
            assert thief.get("/api/bench/jobs").status_code == 200
            assert browser.post("/admin/logout", data={"csrf_token": csrf.group(1)}).is_redirect
            assert thief.get("/api/bench/jobs").status_code == 401
            assert thief.get("/admin/").status_code == 302


def test_admin_pages_of_the_live_gateway_carry_the_security_headers(rel_stack: Settings) -> None:
    with httpx.Client(base_url=base_url(rel_stack), timeout=30) as browser:
        pages = [browser.get("/admin/login")]
        assert log_in(browser).status_code == 302
        pages += [browser.get("/admin/"), browser.get("/admin/queues")]
    for page in pages:
        assert page.status_code == 200, page.url
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "same-origin"


def request_series(client: httpx.Client) -> set[str]:
    """The request counter's series (one line each) on /metrics."""
    text = client.get("/metrics").text
    return {line.split(" ")[0] for line in text.splitlines() if line.startswith("tipbench_")}


def test_metrics_stay_bounded_whatever_methods_and_paths_clients_send(
    rel_stack: Settings, figures: Callable[..., None]
) -> None:
    with httpx.Client(base_url=base_url(rel_stack), timeout=30) as client:
        # the series any odd request lands in, and /metrics' own
        client.request("ZZWARM", "/api/bench/warm-up")
        client.get("/warm-up")
        client.get("/metrics")
        before = request_series(client)
        for number in range(40):
            client.request(f"ZZ{number:03d}", f"/api/bench/nothing-{number}")
            client.get(f"/nothing-{number}")
        after = request_series(client)
    assert after == before, sorted(after - before)[:10]
    assert not any("ZZ" in series or "nothing-" in series for series in after)
    figures("security: metrics bounded", odd_requests=80, new_series=len(after - before))


def test_a_judge_packet_made_on_a_get_is_kept_for_a_while_not_for_ever(
    rel_stack: Settings, rel_api: httpx.Client, rel_redis: redis.Redis[bytes]
) -> None:
    body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 1, "experiment": "rel-ttl"}
    job = ended_job(rel_api, rel_api.post("/api/bench/run", json=body).json()["job_id"], 120)
    assert job["status"] == "finished"
    wait_until(
        lambda: rel_api.get("/api/bench/judge/rel-ttl/packet").status_code == 200,
        timeout_s=60,
        what="the experiment's packet",
    )
    packet = rel_api.get("/api/bench/judge/rel-ttl/packet", params={"judge": "ann"}).json()
    key = rel_stack.key("packet", packet["packet_id"])
    for name in (key, f"{key}:runs"):
        assert 0 < rel_redis.ttl(name) <= JUDGE_PACKET_TTL_S, name


def test_no_token_ever_reaches_a_log(rel_stack: Settings, figures: Callable[..., None]) -> None:
    with httpx.Client(base_url=base_url(rel_stack), timeout=30) as client:
        client.get("/api/bench/jobs", headers=auth(WRONG) | client_headers("10.7.0.1"))
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


def test_the_session_cookie_flags_and_csrf_on_the_live_gateway(rel_stack: Settings) -> None:
    with httpx.Client(base_url=base_url(rel_stack), timeout=30) as browser:
        answer = log_in(browser)
        assert answer.status_code == 302
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        )
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert browser.get("/admin/").status_code == 200
        assert browser.post("/api/bench/jobs/nojob/cancel").json()["error"]["code"] == "csrf_failed"
        assert browser.post("/admin/logout").status_code == 403
        assert browser.get("/admin/").status_code == 200  # still logged in: the post was refused
