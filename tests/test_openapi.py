"""Specs of the API's description, its error shape and the gateway's metrics (in-process)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient

from services.gateway.app import create_app
from services.gateway.openapi import build_spec
from shared.contracts import BenchRequest, ScoreFile
from shared.settings import Settings
from tests.conftest import auth


@pytest.fixture
def spec(app: Flask) -> dict[str, Any]:
    answer = app.test_client().get("/api/openapi.json")  # public: no token
    assert answer.status_code == 200
    return dict(answer.json)


def test_the_document_is_openapi_3_1_and_loads_in_schemathesis(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.1.0"
    loaded = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in spec["paths"].values())


def test_every_api_route_is_described_with_its_methods(app: Flask, spec: dict[str, Any]) -> None:
    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/bench"):
            path = re.sub(r"<([a-z_]+)>", r"{\1}", rule.rule)
            methods.setdefault(path, set()).update(
                m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}
            )
    for path, expected in methods.items():
        assert path in spec["paths"], path
        assert set(spec["paths"][path]) == expected, path


def test_a_route_without_a_description_breaks_the_build(app: Flask) -> None:
    @app.get("/api/bench/undocumented")
    def undocumented() -> str:
        return "x"

    with pytest.raises(RuntimeError, match="/api/bench/undocumented"):
        build_spec(app)


def test_request_bodies_are_the_validating_models(spec: dict[str, Any]) -> None:
    def body_schema(path: str) -> dict[str, Any]:
        ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        name = ref["schema"]["$ref"].rsplit("/", 1)[-1]
        return dict(spec["components"]["schemas"][name])

    run = body_schema("/api/bench/run")
    expected = BenchRequest.model_json_schema()
    assert run["properties"] == expected["properties"]
    assert run["additionalProperties"] is False
    scores = body_schema("/api/bench/judge/{experiment}/scores")
    assert set(scores["properties"]) == set(ScoreFile.model_fields)
    assert scores["properties"]["scores"]["maxItems"] == 10000


def test_errors_and_auth_are_described(spec: dict[str, Any]) -> None:
    run = spec["paths"]["/api/bench/run"]["post"]
    for status in ("202", "400", "401", "403", "413", "415", "422", "500", "503"):
        assert status in run["responses"], status
    error = run["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/ErrorBody")
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    experiment = spec["paths"]["/api/bench/runs/{experiment}"]["get"]["parameters"][0]
    assert experiment["schema"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,62}$"


def test_the_docs_page_lists_every_operation(app: Flask, spec: dict[str, Any]) -> None:
    page = app.test_client().get("/api/docs").get_data(as_text=True)
    for path, methods in spec["paths"].items():
        for method in methods:
            assert f"{method.upper()} {path}" in page
    assert "BenchRequest" in page and "n_scenarios" in page


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/bench/nothing", 404, "not_found"),
        ("GET", "/nothing", 404, "not_found"),
        ("GET", "/api/bench/run", 405, "method_not_allowed"),
        ("DELETE", "/api/bench/jobs", 405, "method_not_allowed"),
    ],
)
def test_http_errors_have_the_json_shape(
    app: Flask, method: str, path: str, status: int, code: str
) -> None:
    answer = app.test_client().open(path, method=method, headers=auth())
    assert answer.status_code == status
    assert set(answer.json) == {"error"}
    assert answer.json["error"]["code"] == code
    assert set(answer.json["error"]) == {"code", "message", "details"}


def test_an_unexpected_exception_is_a_json_500_without_internals(
    core_settings: Settings, mlflow_server: str
) -> None:
    app = create_app(core_settings)

    @app.get("/api/bench/boom")
    def boom() -> str:
        raise ZeroDivisionError("secret internals")

    answer = app.test_client().get("/api/bench/boom", headers=auth())
    assert answer.status_code == 500
    assert answer.json["error"]["code"] == "internal_error"
    assert "secret internals" not in answer.get_data(as_text=True)
    assert answer.headers["X-Request-ID"] in answer.json["error"]["message"]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition, 0 if absent."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_by_route_and_status(app: Flask) -> None:
    client: FlaskClient = app.test_client()
    before = client.get("/metrics").get_data(as_text=True)
    for _ in range(3):
        client.get("/api/bench/jobs/nojob", headers=auth())
    after = client.get("/metrics").get_data(as_text=True)
    labels = {"method": "GET", "route": "/api/bench/jobs/<job_id>", "status": "404"}
    name = "tipbench_gateway_requests_total"
    assert metric(after, name, **labels) - metric(before, name, **labels) == 3
    timed = metric(
        after,
        "tipbench_gateway_request_duration_seconds_count",
        method="GET",
        route="/api/bench/jobs/<job_id>",
    )
    assert timed >= 3


def test_a_request_id_is_made_or_kept(app: Flask) -> None:
    client = app.test_client()
    made = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    kept = client.get("/healthz", headers={"X-Request-ID": "my-trace-0001"})
    assert kept.headers["X-Request-ID"] == "my-trace-0001"
    hostile = client.get("/healthz", headers={"X-Request-ID": "bad id; DROP <script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])
