"""Specs of the admin pages (in-process, real Redis and MLflow): forms, errors, queues,
suites, and pages that follow the suite's rubric."""

from __future__ import annotations

import html
import io
import json
import re
import time
import uuid
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from services.gateway.admin.results import CompositeAxis
from services.gateway.admin.scoring import flag_keys
from services.gateway.deps import deps
from shared import tracking
from shared.broker import worker_name_key
from shared.contracts import (
    Agreement,
    BenchRequest,
    Candidate,
    Disagreement,
    GroupWinner,
    Leaderboard,
    LeaderboardRow,
    Marginal,
    PacketScenario,
)
from shared.errors import SuiteInvalid, SuiteNotFound
from shared.queues import QueueInspector
from shared.rubric import Rubric, RubricFlag, RubricItem
from shared.settings import Settings
from shared.stores.jobs import JobStore
from shared.stores.packets import PacketStore
from shared.suite_files import builtin_suite, parse_suite
from testkit.cells import a_collect_cell
from testkit.processes import free_port
from tests.conftest import TOKEN

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "study-tips.yaml"
STUDY = parse_suite(EXAMPLE.read_text("utf-8"))


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


def upload(client: FlaskClient, text: str, *, as_file: str | None = None) -> tuple[int, str, str]:
    """Send a suite from the suites page's form: (status, page or "", where it redirects)."""
    data: dict[str, object] = {"csrf_token": csrf(client, "/admin/suites")}
    if as_file:
        data["file"] = (io.BytesIO(text.encode("utf-8")), as_file)
    else:
        data["text"] = text
    answer = client.post("/admin/suites", data=data, content_type="multipart/form-data")
    return answer.status_code, answer.get_data(as_text=True), answer.location or ""


def test_every_page_renders_for_a_logged_in_admin(browser: FlaskClient) -> None:
    tip_v2 = builtin_suite("tip-v2").content_version()
    for path in (
        "/admin/",
        "/admin/new",
        "/admin/new?suite=tip-v2",
        "/admin/queues",
        "/admin/suites",
        "/admin/suites/tip-v2",
        f"/admin/suites/tip-v2/{tip_v2}",
        "/admin/experiments/nothing-yet/score",
        "/admin/experiments/nothing-yet/score?judge=ann",
    ):
        answer = browser.get(path)
        assert answer.status_code == 200, path
        assert "<main>" in answer.get_data(as_text=True)
    for missing in (
        "/admin/experiments/no-such-experiment",
        "/admin/jobs/no-such-job",
        "/admin/suites/no-such-suite",
        "/admin/suites/tip-v2/000000000000",
        "/admin/suites/tip-v2/not-a-version",
        "/admin/new?suite=no-such-suite",
    ):
        assert browser.get(missing).status_code == 404, missing


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


def test_with_generation_hosts_the_form_lists_the_models_of_their_ollamas(
    core_settings: Settings, mlflow_server: str
) -> None:
    # Given TIPBENCH_HOSTS naming the (fake) Ollama, and TIPBENCH_OLLAMA_HOST answering nothing
    from services.gateway.app import create_app

    ollama = core_settings.ollama_host
    nowhere = f"http://127.0.0.1:{free_port()}"
    hosts = core_settings.model_copy(update={"hosts": f"gpu1={ollama}", "ollama_host": nowhere})
    client = create_app(hosts).test_client()
    client.environ_base["REMOTE_ADDR"] = "10.8.0.1"
    login = CSRF.search(client.get("/admin/login").get_data(as_text=True))
    assert login is not None
    client.post("/admin/login", data={"token": TOKEN, "csrf_token": login.group(1)})
    # Then the form offers the host's models, and says nothing is unreachable
    page = client.get("/admin/new").get_data(as_text=True)
    assert 'value="tidy:1b"' in page
    assert "did not answer" not in page


def test_the_form_takes_typed_models_and_allows_unknown_sizes_when_ticked(
    browser: FlaskClient,
) -> None:
    form = {
        "prompts": ["v1"],
        "n_tips": "3",
        "n_scenarios": "1",
        "temperature": "0.7",
        "max_model_b": "4",
        "experiment": "admin-form-unknown",
        "other_models": "mystery:latest",
    }
    # A model whose size Ollama does not report is refused, the checkbox offered
    refused = browser.post("/admin/new", data=form | {"csrf_token": csrf(browser, "/admin/new")})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "mystery:latest: parameter count unknown" in page
    assert 'value="mystery:latest"' in page and 'name="allow_unknown_size"' in page
    # and accepted once it is ticked
    ticked = form | {"allow_unknown_size": "true", "csrf_token": csrf(browser, "/admin/new")}
    assert browser.post("/admin/new", data=ticked).status_code == 302


def test_a_dead_letter_can_be_requeued_purged_only_after_confirmation(
    browser: FlaskClient, core_settings: Settings
) -> None:
    with redis.Redis.from_url(core_settings.redis_url) as client:
        inspector = QueueInspector(client, core_settings)
        queue = "judge"
        job_id = uuid.uuid4().hex  # other specs of this session may leave messages there
        ids = []
        for _ in range(3):
            message_id = str(uuid.uuid4())
            failed = {"retries": 5, "traceback": "Traceback\nValueError: boom"}
            body = {
                "queue_name": queue,
                "actor_name": "build_packet",
                "args": [{"job_id": job_id}],
                "kwargs": {},
                "options": failed,
                "message_id": message_id,
                "message_timestamp": 1_700_000_000_000,
            }
            # scored as dramatiq does, by when it died: one scored long ago would be gone
            # at the next maintenance pass (dead letters live 7 days), which an enqueue may run
            dead_at = int(time.time() * 1000)
            client.zadd(core_settings.key("dramatiq", f"{queue}.XQ"), {message_id: dead_at})
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
        ready = inspector.messages(queue, "ready", limit=100_000)
        (requeued,) = [m for m in ready if m.job_id == job_id]
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


def test_the_queues_page_names_a_dead_cell_by_model_prompt_and_scenario(
    browser: FlaskClient, core_settings: Settings
) -> None:
    # Given a collect message of a cell, dead, and a collector worker's heartbeat
    cell = a_collect_cell("tidy:1b", prompt_version="coach", scenario_id="nurse@night")
    message_id, queue = str(uuid.uuid4()), "collect"
    body = {
        "queue_name": queue,
        "actor_name": "collect_cell",
        "args": [cell.model_dump()],
        "kwargs": {},
        "options": {"retries": 3, "traceback": "Traceback\nValueError: boom"},
        "message_id": message_id,
        "message_timestamp": 1_700_000_000_000,
    }
    dead, msgs = core_settings.key("dramatiq", f"{queue}.XQ"), f"{queue}.XQ.msgs"
    beats, worker = core_settings.key("dramatiq", "__heartbeats__"), uuid.uuid4().hex
    with redis.Redis.from_url(core_settings.redis_url) as client:
        client.zadd(dead, {message_id: time.time() * 1000})  # when it died, as dramatiq does
        client.zadd(beats, {worker: time.time() * 1000})
        client.set(worker_name_key(core_settings, worker), "collector-x", ex=60)
        client.hset(core_settings.key("dramatiq", msgs), message_id, json.dumps(body))
        try:
            # When the queues page is shown
            page = browser.get("/admin/queues").get_data(as_text=True)
        finally:
            client.zrem(dead, message_id)
            client.zrem(beats, worker)
            client.hdel(core_settings.key("dramatiq", msgs), message_id)
    # Then the cell is named by what it is, not by its key
    assert "cell tidy:1b | coach | nurse@night" in page
    assert cell.cell_key[:10] not in page
    # And the worker is named by its service
    assert f"<td>collector-x</td><td><code>{worker[:12]}</code></td>" in page


def test_the_job_page_buttons_retry_failed_cells_and_cancel(
    browser: FlaskClient, core_settings: Settings
) -> None:
    with redis.Redis.from_url(core_settings.redis_url) as client:
        jobs = JobStore(client, core_settings)
        job_id = uuid.uuid4().hex
        scenarios = ["student@morning", "nurse@evening"]
        cells = [
            a_collect_cell(experiment="admin-buttons", job_id=job_id, scenario_id=scenario)
            for scenario in scenarios
        ]
        asked = BenchRequest(models=["tidy:1b"], prompts=["v1"], scenarios=scenarios)
        jobs.create(job_id, asked, cells)
        jobs.mark_cell(cells[0], ok=True)
        jobs.mark_cell(cells[1], ok=False, error="boom")
        assert jobs.get(job_id).status == "partial"
        page = browser.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
        # the failed cell is named by what it ran, not by its key
        row = f'<tr data-cell="{cells[1].cell_key}">'
        named = "<td>tidy:1b</td><td>v1</td><td>nurse@evening</td><td>0</td><td>boom</td></tr>"
        assert f"{row}{named}" in page
        (failure,) = jobs.get(job_id).failures
        assert (failure.model, failure.scenario_id, failure.error) == (
            "tidy:1b",
            "nurse@evening",
            "boom",
        )
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


def test_an_uploaded_suite_file_is_stored_and_shown_whole(browser: FlaskClient) -> None:
    # Given the example suite file, sent through the upload form
    status, _, location = upload(browser, EXAMPLE.read_text("utf-8"), as_file="study-tips.yaml")
    # Then it is stored and its version's page opens
    version = STUDY.content_version()
    assert (status, location) == (302, f"/admin/suites/study-tips/{version}")
    assert version in [r.version for r in stored_versions(browser, "study-tips")]
    page = html.unescape(browser.get(location).get_data(as_text=True))
    assert "Short tips for students on exam days." in page
    assert "Tips per answer by default: <strong>3</strong>" in page
    assert "a tip over <strong>20</strong> words is overlong" in page
    for scenario in STUDY.scenarios:
        assert f"<code>{scenario.id}</code>" in page
        for facet, value in scenario.facets.items():
            assert f"<th>{facet}</th>" in page and f"<td>{value}</td>" in page
        for name, text in scenario.vars.items():
            assert f"<dt>{name}</dt><dd>{text}</dd>" in page
    for prompt in STUDY.prompts:
        assert f'id="prompt-{prompt.version}"' in page
        assert prompt.system in page and prompt.user in page
        registry = f"/#/prompts/tipbench-study-tips-{prompt.version}?promptVersion="
        assert registry in page
    assert STUDY.prompts[1].examples[0].answer in page
    for item in STUDY.rubric.items:
        assert f'id="item-{item.id}"' in page
        for level, text in item.levels.items():
            assert f"<dt>{level}</dt><dd>{text}</dd>" in page
    assert "<td><code>format_ok</code></td>" in page and "<td>+2</td>" in page
    assert "<td><code>overlong</code></td>" in page and "<td>-1</td>" in page
    assert "<code>relevance + calm + 2*format_ok - overlong</code>, from 1 to 12" in page
    # And the list shows it as a pushed suite, with its versions a click away
    listing = browser.get("/admin/suites").get_data(as_text=True)
    row = re.search(r'<tr data-suite="study-tips">.*?</tr>', listing, re.S)
    assert row and version in row.group(0) and "plain, coach" in row.group(0)
    assert "study-v1" in row.group(0) and "pushed" in row.group(0)
    assert 'data-suite="tip-v1"' in listing and "built-in" in listing
    versions = browser.get("/admin/suites/study-tips").get_data(as_text=True)
    assert f"/admin/suites/study-tips/{version}" in versions


BAD_SUITE = """\
suite: {name}
scenarios:
  - id: same
    vars: {{who: a nurse}}
  - id: same
    vars: {{who: a founder}}
prompts:
  - version: plain
    system: Short tips.
    user: "Tips for {{whom}}"
rubric:
  id: broken
  items:
    - id: composite
      question: Anything?
      levels: {{1: No.}}
"""


def test_a_refused_suite_shows_every_problem_with_its_line_and_stores_nothing(
    browser: FlaskClient,
) -> None:
    # Given a file with three problems on three lines
    text = BAD_SUITE.format(name=f"bad-{uuid.uuid4().hex[:8]}")
    with pytest.raises(SuiteInvalid) as refused:
        parse_suite(text)
    expected = refused.value.lines
    assert len(expected) >= 3 and all("(line " in line for line in expected)
    # When it is pasted into the upload form
    status, page, _ = upload(browser, text)
    # Then every problem is listed with its line, exactly as the parser words it
    assert status == 422
    shown = re.findall(r"<li>(.*?)</li>", page.split('id="upload-problems"')[1].split("</ul>")[0])
    assert [html.unescape(line) for line in shown] == expected
    kept = re.search(r'<textarea id="text"[^>]*>(.*?)</textarea>', page, re.S)
    assert kept and html.unescape(kept[1]) == text  # the text is kept, to be fixed
    # And nothing is stored
    name = text.splitlines()[0].removeprefix("suite: ")
    assert browser.get(f"/api/bench/suites/{name}").status_code == 404
    with pytest.raises(SuiteNotFound):
        stored_versions(browser, name)


def test_a_suite_named_like_a_builtin_one_is_refused_with_the_apis_409(
    browser: FlaskClient,
) -> None:
    text = EXAMPLE.read_text("utf-8").replace("suite: study-tips", "suite: tip-v1")
    status, page, _ = upload(browser, text, as_file="mine.yaml")
    assert status == 409 and "built-in suite" in page


def test_the_form_for_a_pushed_suite_starts_a_job_with_its_prompts(browser: FlaskClient) -> None:
    # Given the study-tips suite, pushed
    upload(browser, EXAMPLE.read_text("utf-8"), as_file="study-tips.yaml")
    ref = f"study-tips@{STUDY.content_version()}"
    # When the form is loaded for it
    page = browser.get("/admin/new?suite=study-tips").get_data(as_text=True)
    # Then its prompt versions and scenarios are offered, every one by default
    assert f'name="suite" value="{ref}"' in page
    for prompt in STUDY.prompts:
        assert re.search(rf'name="prompts" value="{prompt.version}" checked', page)
    for scenario in STUDY.scenarios:
        assert f'name="scenarios" value="{scenario.id}"' in page
    assert re.search(r'id="n_scenarios"[^>]* value="2"', page)
    assert re.search(rf'id="n_tips"[^>]* value="{STUDY.checks.n_tips}"', page)
    assert "v2-mentor" not in page  # tip-v1's prompts are not
    # And posting it as offered starts a job of every prompt on every scenario
    experiment = f"study-{uuid.uuid4().hex[:8]}"
    answer = browser.post(
        "/admin/new",
        data={
            "csrf_token": csrf(browser, "/admin/new?suite=study-tips"),
            "suite": ref,
            "models": ["tidy:1b"],
            "prompts": [p.version for p in STUDY.prompts],
            "n_tips": str(STUDY.checks.n_tips),
            "n_scenarios": "2",
            "temperature": "0.7",
            "max_model_b": "4",
            "experiment": experiment,
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    job_id = answer.location.rsplit("/", 1)[1]
    with browser.application.app_context():
        asked = deps().jobs.get(job_id).request
    assert asked["suite"] == ref
    assert asked["prompts"] == ["plain", "coach"]
    assert asked["scenarios"] == ["freshman-eve", "parent-morning"]
    assert deps_total(browser, job_id) == 4
    # And picked scenarios take the place of "the first N"
    picked = browser.post(
        "/admin/new",
        data={
            "csrf_token": csrf(browser, "/admin/new?suite=study-tips"),
            "suite": ref,
            "models": ["tidy:1b"],
            "prompts": ["coach"],
            "scenarios": ["parent-morning"],
            "n_scenarios": "2",
            "n_tips": "2",
            "temperature": "0.7",
            "max_model_b": "4",
            "experiment": experiment,
        },
    )
    assert picked.status_code == 302
    with browser.application.app_context():
        again = deps().jobs.get(picked.location.rsplit("/", 1)[1]).request
    assert (again["prompts"], again["scenarios"], again["n_tips"]) == (
        ["coach"],
        ["parent-morning"],
        2,
    )


def test_the_form_names_an_experiment_of_another_suite_next_to_its_field_with_a_409(
    browser: FlaskClient,
) -> None:
    upload(browser, EXAMPLE.read_text("utf-8"), as_file="study-tips.yaml")
    experiment = f"mixed-{uuid.uuid4().hex[:8]}"
    for suite, prompt in (("tip-v1", "v1"), ("study-tips", "plain")):
        answer = browser.post(
            f"/admin/new?suite={suite}",
            data={
                "csrf_token": csrf(browser, "/admin/new"),
                "models": ["tidy:1b"],
                "prompts": [prompt],
                "n_scenarios": "1",
                "n_tips": "3",
                "temperature": "0.7",
                "max_model_b": "4",
                "experiment": experiment,
            },
        )
    assert answer.status_code == 409  # the status the API answers a suite mismatch with
    page = html.unescape(answer.get_data(as_text=True))
    assert 'id="experiment-error"' in page and "uses suite tip-v1@" in page


@pytest.mark.parametrize(
    ("flags", "keys"),
    [
        (["format_ok", "overlong"], ["f", "o"]),
        (["next", "prev", "nice"], ["e", "r", "i"]),  # n and p move between items
        (["fast", "far", "fun"], ["f", "a", "u"]),
        (["pp"], ["a"]),  # no letter of its own is free: the first free one
    ],
)
def test_each_flag_gets_the_first_free_letter_of_its_id(flags: list[str], keys: list[str]) -> None:
    rubric = Rubric(
        id="keys",
        items=[RubricItem(id="fit", question="Fits?", levels={1: "No."})],
        flags=[RubricFlag(id=f, question="?", weight=1.0) for f in flags],
    )
    assert flag_keys(rubric) == dict(zip(flags, keys, strict=True))


def test_the_scoring_page_follows_the_experiments_rubric(
    browser: FlaskClient, core_settings: Settings
) -> None:
    # Given an experiment whose candidates are judged by the study-tips rubric
    experiment = f"score-{uuid.uuid4().hex[:8]}"
    with redis.Redis.from_url(core_settings.redis_url) as client:
        PacketStore(client, core_settings).add_candidates(experiment, {}, STUDY.rubric)
    # When a judge opens the scoring page
    page = browser.get(f"/admin/experiments/{experiment}/score?judge=ann").get_data(as_text=True)
    # Then the form is that rubric: its items with 1-5 levels, its flags with their keys
    assert re.findall(r'data-item="([a-z_]+)"', page) == ["relevance", "calm"]
    for level in range(1, 6):
        assert f'name="calm" value="{level}"' in page
    assert "Clearly calming." in page
    assert 'data-flag="format_ok" data-key="f"' in page
    assert 'data-flag="overlong" data-key="o"' in page
    assert "actionability" not in page and "tone" not in page
    help_text = html.unescape(re.search(r'<p class="hint" id="key-help">(.*?)</p>', page, re.S)[1])
    assert help_text == (
        "Keys: 1–5 score the current item (relevance, then calm, then relevance again); "
        "f toggles format_ok, o toggles overlong, n saves and goes on, p goes back. "
        "In the rationale box the keys type text."
    )


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (2, 17, [2, 4, 6, 8, 10, 12, 14, 16]),
        (1, 12, [2, 4, 6, 8, 10, 12]),
        (-3, 7, list(range(-3, 8))),
        (0, 100, list(range(0, 101, 10))),
        (4, 20, [4, 6, 8, 10, 12, 14, 16, 18, 20]),
    ],
)
def test_the_chart_axis_spans_the_rubrics_range(low: float, high: float, ticks: list[int]) -> None:
    axis = CompositeAxis(low, high)
    assert axis.ticks() == ticks
    assert (axis.x(low), axis.x(high)) == (axis.left, axis.width - axis.margin)


def a_board(experiment: str) -> Leaderboard:
    """A study-tips leaderboard with one scored row."""
    low, high = STUDY.rubric.composite_range
    row = LeaderboardRow(
        rank=1,
        rank_ci=[1, 1],
        bootstrap_rank_ci=[1, 1],
        tied_with_best=True,
        insufficient_data=None,
        model="tidy:1b",
        prompt_version="coach",
        n=2,
        n_scored=2,
        n_scenarios=2,
        awaiting_judge=False,
        mean_composite=9.5,
        ci_low=8.0,
        ci_high=11.0,
        diff_to_best=0.0,
        diff_low=None,
        diff_high=None,
        n_shared_with_best=2,
        p_adjusted=None,
        p_shown="",
        within_sd=None,
        between_sd=0.5,
        item_means={"relevance": 4.25, "calm": 3.75, "format_ok": 1.0, "overlong": 0.5},
        format_ok_rate=1.0,
        overlong_rate=0.0,
        mean_latency_s=1.0,
        mean_load_s=0.1,
        mean_tokens_per_s=50.0,
    )

    def winner(group: str) -> GroupWinner:
        return GroupWinner(
            group=group,
            model="tidy:1b",
            prompt_version="coach",
            leader="tidy:1b | coach",
            mean_composite=9.5,
            tied=[],
            n_scenarios=1,
            note=None,
            scores={},
        )

    return Leaderboard(
        experiment=experiment,
        version=1,
        built_at=time.time(),
        n_runs=2,
        run_ids=[],
        suite=f"study-tips@{STUDY.content_version()}",
        rubric_id=STUDY.rubric.id,
        score_names=list(STUDY.rubric.score_names),
        composite_min=low,
        composite_max=high,
        min_scenarios=2,
        power_note=None,
        rows=[row],
        by_model=[],
        by_prompt=[],
        by_facet={"who": [winner("freshman")], "when": [winner("eve")]},
        agreement=Agreement(judges=["ann"], pairs=[], alpha={}, disagreements=[]),
    )


def test_the_leaderboard_follows_the_boards_rubric_and_facets(
    browser: FlaskClient, core_settings: Settings
) -> None:
    # Given a study-tips leaderboard
    experiment = f"board-{uuid.uuid4().hex[:8]}"
    with browser.application.app_context():
        tracking.ensure_experiment(deps().mlflow, experiment)
        assert deps().leaderboards.save(a_board(experiment))
    # When it is shown
    page = browser.get(f"/admin/experiments/{experiment}").get_data(as_text=True)
    # Then its columns are the rubric's means, its breakdowns the suite's facets
    assert re.findall(r'<th data-item="([a-z_]+)">', page) == list(STUDY.rubric.score_names)
    assert re.findall(r'<td class="item-mean">([^<]+)</td>', page) == [
        "4.25",
        "3.75",
        "1.00",
        "0.50",
    ]
    assert "<h2>By who</h2>" in page and "<h2>By when</h2>" in page and "freshman" in page
    assert f"study-tips@{STUDY.content_version()}" in page and "composite 1 to 12" in page
    # And the chart's axis runs over the rubric's range, 1 to 12
    ticks = re.findall(r'class="tick">([^<]+)</text>', page)
    assert ticks == ["2", "4", "6", "8", "10", "12"]
    assert "By persona" not in page and "17" not in ticks


def test_the_leaderboard_shows_marginals_spreads_disagreements_and_the_cells_tips(
    browser: FlaskClient, core_settings: Settings
) -> None:
    # Given a board with marginals and a disagreement, and a finished run with pooled tips
    experiment = f"rich-{uuid.uuid4().hex[:8]}"
    mlflow = tracking.make_client(core_settings)
    run = mlflow.create_run(
        tracking.ensure_experiment(mlflow, experiment),
        run_name="tidy:1b | coach | s1",
        tags={tracking.TAG_KIND: "cell"},
    )
    for key, value in (("model", "tidy:1b"), ("prompt_version", "coach"), ("scenario_id", "s1")):
        mlflow.log_param(run.info.run_id, key, value)
    mlflow.log_metric(run.info.run_id, "composite", 9.0)
    mlflow.set_terminated(run.info.run_id, tracking.RUN_FINISHED)
    scenario = PacketScenario(id="s1", vars={}, n_tips=2, word_limit=30)
    tips = ["Sleep before the exam", "Tea & <biscuits>"]
    marginal = Marginal(
        name="tidy:1b",
        rows=1,
        n_scenarios=2,
        mean_composite=9.5,
        ci_low=8.0,
        ci_high=11.0,
        rank=1,
        tied_with_best=True,
        insufficient_data=None,
    )
    board = a_board(experiment)
    row = board.rows[0].model_copy(update={"bootstrap_rank_ci": [1, 2], "within_sd": 0.25})
    board = board.model_copy(
        update={
            "rows": [row],
            "by_model": [marginal],
            "by_prompt": [marginal.model_copy(update={"name": "coach"})],
            "agreement": Agreement(
                judges=["ann", "bob"],
                pairs=[],
                alpha={},
                disagreements=[
                    Disagreement(run_id=run.info.run_id, item="calm", scores={"ann": 1, "bob": 4})
                ],
            ),
        }
    )
    with redis.Redis.from_url(core_settings.redis_url) as client:
        PacketStore(client, core_settings).add_candidates(
            experiment,
            {run.info.run_id: Candidate(scenario=scenario, answer="...", tips=tips)},
            STUDY.rubric,
        )
    with browser.application.app_context():
        assert deps().leaderboards.save(board)
    # When the leaderboard page is shown
    page = browser.get(f"/admin/experiments/{experiment}").get_data(as_text=True)
    # Then the rows show their bootstrap ranks and spreads
    assert '<td class="bootstrap-ranks">1–2</td>' in page
    assert '<td class="within-sd">0.25</td><td class="between-sd">0.50</td>' in page
    # And the marginals by model and by prompt have their tables
    assert '<table class="marginals" id="by-model">' in page and "<h2>By prompt</h2>" in page
    assert re.search(r"<td>coach</td><td>1</td><td>9.50</td><td>8.00–11.00</td>", page)
    # And the disagreement names its run by model, prompt and scenario, with each judge's score
    found = re.search(r'<table id="disagreements">.*?</table>', page, re.S)
    assert found and "tidy:1b | coach | s1</a></td><td>calm</td><td>1</td><td>4</td>" in found[0]
    # And the matrix cell carries its tips, to hover and to expand, escaped
    assert 'title="Sleep before the exam\nTea &amp; &lt;biscuits&gt;"' in page
    assert "<summary>2 tips</summary><ol><li>Sleep before the exam</li>" in page
    assert '<table id="matrix" class="matrix sortable">' in page and 'data-sort="9.0"' in page


def stored_versions(client: FlaskClient, name: str) -> list[object]:
    with client.application.app_context():
        return list(deps().suites.versions(name))


def deps_total(client: FlaskClient, job_id: str) -> int:
    with client.application.app_context():
        return deps().jobs.get(job_id).total


def test_a_cell_page_shows_a_run_only_under_its_own_experiment(
    browser: FlaskClient, core_settings: Settings
) -> None:
    # Given a run of experiment A, and an experiment B
    mlflow = tracking.make_client(core_settings)
    own, other = f"cell-a-{uuid.uuid4().hex[:6]}", f"cell-b-{uuid.uuid4().hex[:6]}"
    run = mlflow.create_run(tracking.ensure_experiment(mlflow, own))
    mlflow.set_terminated(run.info.run_id, tracking.RUN_FINISHED)
    tracking.ensure_experiment(mlflow, other)
    # Then its page opens under A, and is not found under B's URL
    assert browser.get(f"/admin/experiments/{own}/runs/{run.info.run_id}").status_code == 200
    elsewhere = browser.get(f"/admin/experiments/{other}/runs/{run.info.run_id}")
    assert elsewhere.status_code == 404
    assert "no run" in elsewhere.get_data(as_text=True)


def test_the_job_page_names_each_models_generation_host(
    browser: FlaskClient, core_settings: Settings
) -> None:
    # Given a job whose two models run on hosts a and b
    with redis.Redis.from_url(core_settings.redis_url) as client:
        job_id = uuid.uuid4().hex
        cells = [
            a_collect_cell(model, experiment="admin-hosts", job_id=job_id).model_copy(
                update={"host": host}
            )
            for model, host in (("tidy:1b", "a"), ("tidy-b:0.5b", "b"))
        ]
        asked = BenchRequest(models=["tidy:1b", "tidy-b:0.5b"], prompts=["v1"])
        JobStore(client, core_settings).create(job_id, asked, cells)
        page = browser.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    # Then its page says where each model runs
    assert "<code>tidy:1b</code> on <code>a</code>" in page
    assert "<code>tidy-b:0.5b</code> on <code>b</code>" in page
