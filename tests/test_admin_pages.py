"""Specs of the admin pages (in-process, real Redis and MLflow): forms, errors, queues."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from shared.contracts import BenchRequest
from shared.jobs import JobStore
from shared.queues import QueueInspector
from shared.settings import Settings
from tests.cells import a_collect_cell
from tests.conftest import TOKEN

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    page = client.get("/admin/login").get_data(as_text=True)
    found = CSRF.search(page)
    assert found
    assert (
        client.post("/admin/login", data={"token": TOKEN, "csrf_token": found.group(1)}).status_code
        == 302
    )
    return client


def csrf(client: FlaskClient, path: str = "/admin/") -> str:
    found = CSRF.search(client.get(path).get_data(as_text=True))
    assert found
    return found.group(1)


def test_every_page_renders_for_a_logged_in_admin(browser: FlaskClient) -> None:
    for path in (
        "/admin/",
        "/admin/new",
        "/admin/queues",
        "/admin/experiments/nothing-yet/score",
        "/admin/experiments/nothing-yet/score?judge=ann",
    ):
        answer = browser.get(path)
        assert answer.status_code == 200, path
        assert "<main>" in answer.get_data(as_text=True)
    assert browser.get("/admin/experiments/no-such-experiment").status_code == 404
    assert browser.get("/admin/jobs/no-such-job").status_code == 404


def test_the_form_shows_each_server_side_error_next_to_its_field(browser: FlaskClient) -> None:
    token = csrf(browser, "/admin/new")
    answer = browser.post(
        "/admin/new",
        data={
            "csrf_token": token,
            "models": ["tidy:1b"],
            "prompts": ["v1"],
            "n_tips": "11",
            "n_scenarios": "2",
            "temperature": "hot",
            "max_model_b": "4",
            "experiment": "Bad Name",
        },
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    for field in ("n_tips", "temperature", "experiment"):
        assert f'id="{field}-error"' in page, field
        assert f'aria-describedby="{field}-error"' in page, field
    assert 'value="Bad Name"' in page  # what was typed is kept


def test_the_form_lists_ollama_models_and_greys_out_those_over_the_limit(
    browser: FlaskClient,
) -> None:
    page = browser.get("/admin/new").get_data(as_text=True)
    assert (
        re.search(r'value="tidy:1b"\s*>', page) or 'value="tidy:1b"  >' in page or "tidy:1b" in page
    )
    giant = re.search(
        r'<label class="check disabled"><input type="checkbox" name="models" '
        r'value="giant:8b" disabled',
        page,
    )
    assert giant, "the 8B model is not disabled"
    assert "giant:8b has 8.00B parameters, over max_model_b=4" in page


def test_a_valid_form_starts_the_job_and_opens_its_page(browser: FlaskClient) -> None:
    answer = browser.post(
        "/admin/new",
        data={
            "csrf_token": csrf(browser, "/admin/new"),
            "models": ["tidy:1b"],
            "prompts": ["v1"],
            "n_tips": "3",
            "n_scenarios": "1",
            "temperature": "0.7",
            "max_model_b": "4",
            "experiment": "admin-form",
        },
    )
    assert answer.status_code == 302
    job_page = browser.get(answer.location)
    assert job_page.status_code == 200
    text = job_page.get_data(as_text=True)
    assert "admin-form" in text and "tidy:1b" in text and "<progress" in text


def test_a_dead_letter_can_be_requeued_purged_only_after_confirmation(
    browser: FlaskClient, core_settings: Settings
) -> None:
    with redis.Redis.from_url(core_settings.redis_url) as client:
        inspector = QueueInspector(client, core_settings)
        queue = "judge"
        ids = []
        for _ in range(3):
            message_id = str(uuid.uuid4())
            failed = {"retries": 5, "traceback": "Traceback\nValueError: boom"}
            body = {
                "queue_name": queue,
                "actor_name": "build_packet",
                "args": [{"job_id": "j1"}],
                "kwargs": {},
                "options": failed,
                "message_id": message_id,
                "message_timestamp": 1_700_000_000_000,
            }
            client.zadd(core_settings.key("dramatiq", f"{queue}.XQ"), {message_id: 1})
            client.hset(
                core_settings.key("dramatiq", f"{queue}.XQ.msgs"), message_id, json.dumps(body)
            )
            ids.append(message_id)
        page = browser.get("/admin/queues").get_data(as_text=True)
        assert "ValueError: boom" in page and "build_packet" in page
        token = csrf(browser, "/admin/queues")
        answer = browser.post(
            f"/admin/queues/{queue}/dead/{ids[0]}/requeue", data={"csrf_token": token}
        )
        assert answer.status_code == 302
        assert inspector.stats(queue).dead == 2
        (requeued,) = inspector.messages(queue, "ready")
        assert requeued.actor == "build_packet" and requeued.retries == 0 and requeued.error is None
        # purge: the first post without confirmation only asks
        asked = browser.post(f"/admin/queues/{queue}/dead/purge", data={"csrf_token": token})
        assert asked.status_code == 200 and "2 message(s)" in asked.get_data(as_text=True)
        assert inspector.stats(queue).dead == 2
        done = browser.post(
            f"/admin/queues/{queue}/dead/purge", data={"csrf_token": token, "confirm": "yes"}
        )
        assert done.status_code == 302 and inspector.stats(queue).dead == 0
        client.delete(
            core_settings.key("dramatiq", queue), core_settings.key("dramatiq", f"{queue}.msgs")
        )


def test_the_job_page_buttons_retry_failed_cells_and_cancel(
    browser: FlaskClient, core_settings: Settings
) -> None:
    with redis.Redis.from_url(core_settings.redis_url) as client:
        jobs = JobStore(client, core_settings)
        job_id = uuid.uuid4().hex
        cells = [
            a_collect_cell(experiment="admin-buttons", job_id=job_id, key=f"{job_id[:6]}-{i}")
            for i in range(2)
        ]
        jobs.create(job_id, BenchRequest(models=["tidy:1b"]), "p", cells)
        jobs.mark_cell(cells[0], ok=True)
        jobs.mark_cell(cells[1], ok=False, error="boom")
        assert jobs.get(job_id).status == "partial"
        page = browser.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
        assert "boom" in page
        token = csrf(browser, f"/admin/jobs/{job_id}")
        queue = core_settings.key("dramatiq", "collect")
        client.delete(queue, f"{queue}.msgs")
        assert (
            browser.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": token}).status_code
            == 302
        )
        assert (jobs.get(job_id).status, jobs.get(job_id).failed) == ("running", 0)
        assert [m.cell_key for m in QueueInspector(client, core_settings).messages("collect")] == [
            cells[1].cell_key
        ]
        assert (
            browser.post(f"/admin/jobs/{job_id}/cancel", data={"csrf_token": token}).status_code
            == 302
        )
        assert jobs.get(job_id).status == "cancelled"
        assert browser.post(f"/admin/jobs/{job_id}/cancel").status_code == 403  # no CSRF token
        client.delete(queue, f"{queue}.msgs")
