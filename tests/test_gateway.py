"""Specs of the gateway app (in-process Flask client) against a real Redis and MLflow server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

from services.gateway.app import create_app
from services.gateway.auth import PUBLIC_ENDPOINTS
from shared import tracking
from shared.contracts import (
    Candidate,
    CollectCell,
    ExperimentInfo,
    Health,
    JobAccepted,
    JudgeFailureInfo,
    LlmJudgeAccepted,
    PacketScenario,
    Readiness,
    RetryAccepted,
    RunInfo,
    ScoresAccepted,
    SubmissionStatus,
    SuitePushed,
    SuiteRecord,
    SuiteVersion,
)
from shared.judging import assemble_packet
from shared.messaging import JUDGE_QUEUE
from shared.settings import Settings
from shared.stores.packets import PacketStore
from shared.stores.scores import ScoreStore
from shared.suite_files import builtin_suite, parse_suite
from testkit.processes import free_port
from tests.conftest import TIP_V1_SCORE, TOKEN, auth

VALID_SCORE = TIP_V1_SCORE
TIP_V1 = builtin_suite("tip-v1")
# A candidate answer to put in a tip-v1 packet.
CANDIDATE = Candidate(
    scenario=PacketScenario(id="s", vars={"who": "x"}, n_tips=3, word_limit=30),
    answer="1. a",
    tips=["a"],
)
ROUTE_ARGS = {
    "experiment": "nothing-here",
    "job_id": "nojob",
    "submission_id": "nosub",
    "queue": "collect",
    "message_id": "nomsg",
    "action": "purge",
    "run_id": "norun",
    "filename": "admin.css",
    "name": "nosuite",
    "version": "0123456789ab",
}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def queue(core_settings: Settings) -> Iterator[Any]:
    """Reads the collect queue's messages, in order, from Redis."""
    client = redis.Redis.from_url(core_settings.redis_url)
    name = core_settings.key("dramatiq", "collect")
    client.delete(name, f"{name}.msgs")

    def messages() -> list[CollectCell]:
        # dramatiq's Redis broker appends ids on the right and consumes from the left.
        bodies = [client.hget(f"{name}.msgs", i) for i in client.lrange(name, 0, -1)]
        return [CollectCell.model_validate(json.loads(b)["args"][0]) for b in bodies if b]

    yield messages
    client.delete(name, f"{name}.msgs")
    client.close()


@pytest.fixture
def judge_queue(core_settings: Settings) -> Iterator[None]:
    """Empties the judge queue afterwards: no worker consumes it, and later tests count it."""
    yield
    with redis.Redis.from_url(core_settings.redis_url) as client:
        name = core_settings.key("dramatiq", JUDGE_QUEUE)
        client.delete(name, f"{name}.msgs")


def protected_routes(app: Flask) -> list[tuple[str, str]]:
    """Every (method, concrete path) in the URL map but the public endpoints."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", ROUTE_ARGS[arg])
        found += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


def test_only_the_probes_the_api_description_and_the_login_form_answer_without_credentials(
    app: Flask, client: FlaskClient
) -> None:
    answering = set()
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", ROUTE_ARGS[arg])
        method = "GET" if "GET" in (rule.methods or set()) else sorted(rule.methods or {"POST"})[0]
        answer = client.open(path, method=method)
        to_login = answer.status_code in (302, 303) and "/admin/login" in answer.location
        if answer.status_code != 401 and not to_login:
            answering.add(rule.endpoint)
    assert answering == PUBLIC_ENDPOINTS
    # and that list opens no API route and no admin page but the login form
    assert not {e for e in answering if e.startswith("bench.")}
    assert {e for e in answering if e.startswith("admin.")} == {"admin.login", "admin.static"}


def test_every_route_refuses_a_missing_credential(
    app: Flask, client: FlaskClient, queue: Any
) -> None:
    routes = protected_routes(app)
    assert len(routes) >= 16
    assert any(path.startswith("/admin") for _, path in routes)
    for method, path in routes:
        response = client.open(path, method=method, json={})
        if path.startswith("/admin") and method == "GET":
            # a page: to the login form, which comes back here afterwards
            assert response.status_code == 302, (method, path)
            assert response.location.startswith("/admin/login?next=")
            continue
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json["error"]["code"] == "unauthorized"
    assert queue() == []


def test_every_route_refuses_a_wrong_token_with_403(
    app: Flask, client: FlaskClient, queue: Any
) -> None:
    for index, (method, path) in enumerate(protected_routes(app)):
        # one address per request: past a few wrong tokens an address is answered 429
        address = {"REMOTE_ADDR": f"10.9.{index // 250}.{index % 250}"}
        wrong = auth("wrong-token-0123456789")
        response = client.open(path, method=method, json={}, headers=wrong, environ_base=address)
        assert response.status_code == 403, (method, path)
        assert "not valid" in response.json["error"]["message"]
        assert "wrong-token" not in response.get_data(as_text=True)
    assert queue() == []


def test_a_rotated_token_set_accepts_each_token(
    core_settings: Settings, mlflow_server: str
) -> None:
    old, new = "old-token-aaaaaaaaaaaa", "new-token-bbbbbbbbbbbb"
    rotated = create_app(
        core_settings.model_copy(update={"admin_token": SecretStr(f"{old},{new}")})
    )
    client = rotated.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.8.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    for token in (old, new):
        assert client.get("/api/bench/jobs", headers=auth(token)).status_code == 200
    assert client.get("/api/bench/jobs", headers=auth(TOKEN)).status_code == 403
    basic = {"Authorization": "Basic " + old}
    assert client.get("/api/bench/jobs", headers=basic).status_code == 401


def test_healthz_answers_without_a_token(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"models": ["gguf:nope"]}, "models"),
        ({"prompts": ["v0"]}, "prompts.0"),
        ({"scenarios": ["nobody@never"]}, "scenarios.0"),
        ({"n_scenarios": 9}, "n_scenarios"),
        ({"suite": "no-such-suite"}, "suite"),
        ({"n_tips": 99}, "n_tips"),
        ({"temperature": -1}, "temperature"),
        ({"experiment": "a/b"}, "experiment"),
        ({"models": "tidy:1b"}, "models"),
        ({"unknown": True}, "unknown"),
    ],
)
def test_bad_bench_request_gets_422_naming_the_field_and_enqueues_nothing(
    client: FlaskClient, queue: Any, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/bench/run", json=body, headers=auth())
    assert response.status_code == 422
    error = response.json["error"]
    assert field in error["message"]
    assert [d["field"] for d in error["details"]] == [field]
    assert queue() == []


@pytest.mark.parametrize(
    ("data", "status", "says"),
    [
        (b"not json", 400, "not valid JSON"),
        (b"", 400, "not valid JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (b'{"n_tips": 3, "n_tips": 4}', 400, "duplicate key 'n_tips'"),
        (b'{"temperature": NaN}', 400, "NaN is not a JSON number"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
        (b"\xff\xfe{", 400, "not valid JSON"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    client: FlaskClient, queue: Any, data: bytes, status: int, says: str
) -> None:
    response = client.post(
        "/api/bench/run", data=data, headers=auth() | {"Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert says in response.json["error"]["message"]
    assert queue() == []


def test_a_body_that_is_not_json_gets_415(client: FlaskClient, queue: Any) -> None:
    response = client.post("/api/bench/run", data="models=x", headers=auth())
    assert response.status_code == 415
    assert "application/json" in response.json["error"]["message"]
    assert queue() == []


def test_a_body_over_the_size_limit_gets_413_json(
    core_settings: Settings, mlflow_server: str, queue: Any
) -> None:
    small = create_app(core_settings.model_copy(update={"max_body_bytes": 1024})).test_client()
    response = small.post("/api/bench/run", json={"experiment": "x" * 2000}, headers=auth())
    assert response.status_code == 413
    assert response.json["error"]["code"] == "request_entity_too_large"
    assert queue() == []


def test_a_request_over_the_cell_limit_is_refused(
    core_settings: Settings, mlflow_server: str, queue: Any
) -> None:
    client = create_app(core_settings.model_copy(update={"max_cells_per_job": 5})).test_client()
    response = client.post(
        "/api/bench/run",
        json={"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 6},
        headers=auth(),
    )
    assert response.status_code == 422
    assert "6 cells; the limit is 5" in response.json["error"]["message"]
    assert queue() == []


def test_accepted_request_enqueues_one_message_per_cell_grouped_by_model(
    client: FlaskClient, queue: Any
) -> None:
    body = {
        "models": ["tidy:1b", "rambler:2b"],
        "prompts": ["v1", "v3-few-shot"],
        "n_scenarios": 3,
        "experiment": "gw-grouping",
    }
    response = client.post("/api/bench/run", json=body, headers=auth())
    assert response.status_code == 202
    answer = response.json
    assert answer["cells"] == 12 and answer["mlflow_experiment"] == "tip-bench-gw-grouping"
    cells = queue()
    assert [c.model for c in cells] == ["tidy:1b"] * 6 + ["rambler:2b"] * 6
    assert len({c.cell_key for c in cells}) == 12
    assert {c.job_id for c in cells} == {answer["job_id"]}
    job = client.get(answer["status_url"], headers=auth()).json
    assert (job["status"], job["total"], job["done"]) == ("queued", 12, 0)


def test_unknown_things_get_404_with_the_json_error_shape(client: FlaskClient) -> None:
    for path in [
        "/api/bench/jobs/nojob",
        "/api/bench/runs/never-made",
        "/api/bench/leaderboard/never-made",
        "/api/bench/judge/never-made/packet",
        "/api/bench/no-such-route",
    ]:
        response = client.get(path, headers=auth())
        assert response.status_code == 404, path
        assert set(response.json["error"]) == {"code", "message", "details"}


def test_scores_for_an_unknown_packet_are_refused_whole(client: FlaskClient) -> None:
    body = {
        "packet_id": "nopacket",
        "judge_id": "me",
        "scores": [VALID_SCORE],
    }
    response = client.post("/api/bench/judge/some-exp/scores", json=body, headers=auth())
    assert response.status_code == 422
    assert "no judge packet 'nopacket'" in response.json["error"]["details"][0]["message"]


@pytest.mark.parametrize(
    ("score", "field", "says"),
    [
        ({"relevance": 6}, "scores[0].relevance", "must be an integer 1-5, not 6"),
        ({"tone": 0}, "scores[0].tone", "must be an integer 1-5, not 0"),
        ({"format_ok": 2}, "scores[0].format_ok", "must be an integer 0-1, not 2"),
        ({"composite": 17}, "scores[0].composite", "not in rubric tip-v1"),
        ({"calm": 3}, "scores[0].calm", "not in rubric tip-v1"),
    ],
)
def test_score_values_out_of_the_rubric_get_422(
    client: FlaskClient, core_settings: Settings, score: dict[str, int], field: str, says: str
) -> None:
    # Given a packet of the experiment, judged by tip-v1
    with redis.Redis.from_url(core_settings.redis_url) as connection:
        packets = PacketStore(connection, core_settings)
        packet, _ = assemble_packet("gw-rubric", {"run-1": CANDIDATE}, None, TIP_V1.rubric)
        packets.save(packet, {packet.items[0].item_id: "run-1"}, latest=False)
    item = VALID_SCORE | {"item_id": packet.items[0].item_id} | score
    body = {"packet_id": packet.packet_id, "judge_id": "me", "scores": [item]}
    # When a score is off the rubric
    response = client.post("/api/bench/judge/gw-rubric/scores", json=body, headers=auth())
    # Then the file is refused, naming the place
    assert response.status_code == 422
    details = {d["field"]: d["message"] for d in response.json["error"]["details"]}
    assert says in details[field]


def test_a_boolean_where_a_score_is_expected_is_refused(client: FlaskClient) -> None:
    body = {"packet_id": "p", "judge_id": "me", "scores": [VALID_SCORE | {"format_ok": True}]}
    response = client.post("/api/bench/judge/some-exp/scores", json=body, headers=auth())
    assert response.status_code == 422
    assert "scores.0.format_ok" in [d["field"] for d in response.json["error"]["details"]]


def test_an_unreachable_mlflow_gets_503_and_enqueues_nothing(
    core_settings: Settings, queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The MLflow client's own retries (minutes by default) are turned off for this test.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = core_settings.model_copy(update={"mlflow_uri": f"http://127.0.0.1:{free_port()}"})
    client = create_app(down).test_client()
    response = client.post("/api/bench/run", json={"models": ["tidy:1b"]}, headers=auth())
    assert response.status_code == 503
    assert response.json["error"]["code"] == "mlflow_unavailable"
    assert queue() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"models": ["giant:8b"]}, "giant:8b has 8.00B parameters, over max_model_b=4"),
        (
            {"models": ["tidy-c:3b"], "max_model_b": 2},
            "tidy-c:3b has 3.00B parameters, over max_model_b=2",
        ),
        ({"models": ["mystery:latest"]}, "mystery:latest: parameter count unknown"),
        ({"models": ["not-pulled:1b"]}, "Ollama has no model 'not-pulled:1b'"),
    ],
)
def test_the_size_guard_refuses_models_at_submission(
    client: FlaskClient, queue: Any, body: dict[str, Any], message: str
) -> None:
    response = client.post("/api/bench/run", json=body | {"experiment": "gw-size"}, headers=auth())
    assert response.status_code == 422
    assert message in response.json["error"]["message"]
    assert response.json["error"]["details"][0]["field"] == "models"
    assert queue() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"models": ["gguf:nope"]}, "models"),
        ({"models": ["tidy:1b"], "judge": "llm:gguf:nope"}, "judge"),
    ],
)
def test_an_embedded_model_neither_in_the_catalog_nor_in_the_folder_is_refused(
    core_settings: Settings, queue: Any, tmp_path: Path, body: dict[str, Any], field: str
) -> None:
    # Given a models folder that holds mine.gguf only
    (tmp_path / "mine.gguf").write_bytes(b"GGUF")
    client = create_app(core_settings.model_copy(update={"gguf_dir": str(tmp_path)})).test_client()
    # When a request names gguf:nope, as a candidate or as the judge
    response = client.post("/api/bench/run", json=body | {"experiment": "gw-gguf"}, headers=auth())
    # Then it is refused whole, saying what the folder and the catalog offer
    assert response.status_code == 422, response.json
    detail = response.json["error"]["details"][0]
    assert detail["field"] == field
    assert f"no nope.gguf in the models folder {tmp_path}" in detail["message"]
    assert "known: gguf:smollm2-135m, gguf:mine" in detail["message"]
    assert queue() == []
    # and so is a judging by it, asked for apart
    judging = client.post(
        "/api/bench/judge/gw-gguf/run", json={"model": "gguf:nope"}, headers=auth()
    )
    assert judging.status_code == 422, judging.json
    assert "no nope.gguf in the models folder" in judging.json["error"]["details"][0]["message"]


def test_a_declared_size_stands_in_for_an_unreported_one(client: FlaskClient, queue: Any) -> None:
    body = {"models": ["mystery:latest"], "prompts": ["v1"], "n_scenarios": 1}
    # A size the request declares is checked like a reported one
    too_big = body | {"sizes": {"mystery:latest": 8}, "experiment": "gw-declared"}
    refused = client.post("/api/bench/run", json=too_big, headers=auth())
    assert refused.status_code == 422
    assert (
        "mystery:latest has 8.00B parameters, over max_model_b=4"
        in refused.json["error"]["message"]
    )
    # and, within the limit, runs the model without allow_unknown_size; the cells carry it
    fits = body | {"sizes": {"mystery:latest": 3.5}, "experiment": "gw-declared"}
    assert client.post("/api/bench/run", json=fits, headers=auth()).status_code == 202
    assert [c.declared_params_b for c in queue()] == [3.5]
    # a size for a model not in the request is refused, naming the field
    stray = body | {"sizes": {"other:1b": 1.0}, "experiment": "gw-declared"}
    answer = client.post("/api/bench/run", json=stray, headers=auth())
    assert answer.status_code == 422
    assert answer.json["error"]["details"][0]["field"] == "sizes"
    assert "other:1b not among the models" in answer.json["error"]["details"][0]["message"]


def test_the_size_guard_admits_unknown_sizes_when_asked(client: FlaskClient, queue: Any) -> None:
    body = {
        "models": ["mystery:latest"],
        "allow_unknown_size": True,
        "prompts": ["v1"],
        "n_scenarios": 2,
        "experiment": "gw-size",
    }
    assert client.post("/api/bench/run", json=body, headers=auth()).status_code == 202
    assert len(queue()) == 2


def test_the_size_guard_leaves_the_decision_to_the_collector_when_ollama_is_down(
    core_settings: Settings, mlflow_server: str, queue: Any
) -> None:
    offline = core_settings.model_copy(update={"ollama_host": f"http://127.0.0.1:{free_port()}"})
    client = create_app(offline).test_client()
    body = {"models": ["giant:8b"], "prompts": ["v1"], "n_scenarios": 1, "experiment": "gw-size"}
    assert client.post("/api/bench/run", json=body, headers=auth()).status_code == 202
    assert [c.model for c in queue()] == ["giant:8b"]


def test_prompt_versions_are_registered_once_and_named_by_every_cell(
    client: FlaskClient, queue: Any, core_settings: Settings
) -> None:
    body = {"models": ["tidy:1b"], "prompts": ["v1", "v3-few-shot"], "experiment": "gw-prompts"}
    assert client.post("/api/bench/run", json=body, headers=auth()).status_code == 202
    assert client.post("/api/bench/run", json=body, headers=auth()).status_code == 202
    cells = queue()
    uris = {c.prompt_version: c.prompt_uri for c in cells}
    assert {c.prompt_uri for c in cells} == set(uris.values())  # the same versions both times
    assert uris["v1"].startswith("prompts:/tipbench-tip-v1-v1/")
    registry = tracking.make_client(core_settings)
    few_shot = registry.load_prompt(uris["v3-few-shot"])
    assert few_shot is not None
    assert [m["role"] for m in few_shot.template] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert "{{persona_description}}" in few_shot.template[-1]["content"]


def test_readyz_says_ready_when_redis_and_mlflow_answer(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "failed": {}}


def test_readyz_names_what_is_unreachable(core_settings: Settings, mlflow_server: str) -> None:
    broken = core_settings.model_copy(
        update={
            "mlflow_uri": f"http://127.0.0.1:{free_port()}",
            "redis_url": f"redis://127.0.0.1:{free_port()}/0",
        }
    )
    response = create_app(broken).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    assert set(response.json["failed"]) == {"redis", "mlflow"}


def test_an_experiment_holds_at_most_its_limit_of_queued_cells(
    core_settings: Settings, mlflow_server: str, queue: Any
) -> None:
    # Given a limit of 5 cells waiting per experiment, and nothing consuming the queue
    limited = core_settings.model_copy(update={"max_queued_cells_per_experiment": 5})
    client = create_app(limited).test_client()
    experiment = f"gw-queued-{uuid.uuid4().hex[:6]}"
    body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 3, "experiment": experiment}
    # When two jobs of 3 cells are posted to it
    first = client.post("/api/bench/run", json=body, headers=auth())
    second = client.post("/api/bench/run", json=body, headers=auth())
    # Then the second is refused, naming the cells waiting, and enqueues nothing
    assert first.status_code == 202, first.json
    assert second.status_code == 422
    assert "3 cells waiting in unfinished jobs" in second.json["error"]["message"]
    assert len(queue()) == 3
    # And another experiment is not held up by this one
    other = body | {"experiment": f"{experiment}-b"}
    assert client.post("/api/bench/run", json=other, headers=auth()).status_code == 202


def test_first_submissions_at_once_register_each_prompt_without_refusing_any(
    core_settings: Settings, mlflow_server: str
) -> None:
    # Given a suite none of whose prompts is in the registry yet
    import threading

    from services.gateway.prompts import register_prompts
    from shared.suite_files import parse_suite

    text = (Path(__file__).parent.parent / "docs/examples/study-tips.yaml").read_text("utf-8")
    name = f"race-{uuid.uuid4().hex[:8]}"
    suite = parse_suite(text.replace("suite: study-tips", f"suite: {name}", 1))
    client = tracking.make_client(core_settings)
    found: list[dict[str, str]] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            found.append(register_prompts(client, suite))
        except BaseException as exc:  # noqa: BLE001 - the assertion below names it
            errors.append(exc)

    # When six submissions register them at the same moment
    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Then none is refused (the one that lost the race reads the prompt again)
    assert errors == []
    assert len(found) == 6 and all(set(f) == {p.version for p in suite.prompts} for f in found)


def test_each_answer_has_its_models_fields_in_order(
    client: FlaskClient, core_settings: Settings, queue: Any, judge_queue: None
) -> None:
    # Given an experiment with a finished cell run, candidates to judge, a packet, a judge
    # failure, a job, and a suite pushed under a name of its own
    experiment = f"gw-answers-{uuid.uuid4().hex[:6]}"
    mlflow = tracking.make_client(core_settings)
    run = mlflow.create_run(
        tracking.ensure_experiment(mlflow, experiment),
        tags={tracking.TAG_KIND: "cell", tracking.TAG_JOB_ID: "j", tracking.TAG_CELL_KEY: "c"},
    )
    mlflow.log_metric(run.info.run_id, "composite", 12)
    mlflow.set_terminated(run.info.run_id, tracking.RUN_FINISHED)
    pool = {run.info.run_id: CANDIDATE}
    with redis.Redis.from_url(core_settings.redis_url) as connection:
        packets = PacketStore(connection, core_settings)
        packets.add_candidates(experiment, pool, TIP_V1.rubric)
        packet, item_runs = assemble_packet(experiment, pool, None, TIP_V1.rubric)
        packets.save(packet, item_runs, latest=False)
        ScoreStore(connection, core_settings).record_failure(experiment, "me", "r", "why")
    score = VALID_SCORE | {"item_id": packet.items[0].item_id}
    scores = {"packet_id": packet.packet_id, "judge_id": "me", "scores": [score]}
    body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 1, "experiment": experiment}
    job = client.post("/api/bench/run", json=body, headers=auth())
    name = f"answers-{uuid.uuid4().hex[:8]}"
    example = (Path(__file__).parent.parent / "docs/examples/study-tips.yaml").read_text("utf-8")
    suite = parse_suite(example.replace("suite: study-tips", f"suite: {name}", 1))
    pushed = client.post("/api/bench/suites", json=suite.model_dump(mode="json"), headers=auth())
    judging = f"/api/bench/judge/{experiment}"
    # When each route answers
    submitted = client.post(f"{judging}/scores", json=scores, headers=auth())
    answers = [
        (JobAccepted, job),
        (Health, client.get("/healthz")),
        (Readiness, client.get("/readyz")),
        (RetryAccepted, client.post(f"/api/bench/jobs/{job.json['job_id']}/retry", headers=auth())),
        (ExperimentInfo, client.get("/api/bench/experiments", headers=auth())),
        (RunInfo, client.get(f"/api/bench/runs/{experiment}", headers=auth())),
        (
            LlmJudgeAccepted,
            client.post(f"{judging}/run", json={"model": "judge:8b"}, headers=auth()),
        ),
        (JudgeFailureInfo, client.get(f"{judging}/failures", headers=auth())),
        (ScoresAccepted, submitted),
        (SubmissionStatus, client.get(submitted.json["status_url"], headers=auth())),
        (SuitePushed, pushed),
        (SuiteRecord, client.get("/api/bench/suites", headers=auth())),
        (
            SuiteVersion,
            client.get(f"/api/bench/suites/{name}/{pushed.json['version']}", headers=auth()),
        ),
    ]
    # Then every answer is its model's fields, in the model's order
    for model, answer in answers:
        assert answer.status_code in (200, 201, 202), (model.__name__, answer.json)
        items = answer.json if isinstance(answer.json, list) else [answer.json]
        assert items, model.__name__
        for item in items:
            assert list(item) == list(model.model_fields), model.__name__
