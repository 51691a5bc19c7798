"""Suite prompts in the MLflow Prompt Registry: one version per text, durable across a Redis
flush, and registered with the same meaning as the text the model gets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from mlflow.tracking import MlflowClient

from services.gateway.prompts import register_prompts, registry_name
from shared import tracking
from shared.settings import Settings
from shared.stores.suites import SuiteStore
from shared.suite import render_prompt
from shared.suite_files import builtin_suite, parse_suite
from tests.conftest import auth
from tests.test_gateway import client, queue  # noqa: F401 - the fixtures this file shares

EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "study-tips.yaml"
COACH_END = "Nothing else."


def example(name: str) -> str:
    """The docs' example suite under a name of the test's own."""
    return EXAMPLE.read_text("utf-8").replace("suite: study-tips", f"suite: {name}", 1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def registry_versions(mlflow: MlflowClient, name: str) -> list[int]:
    return sorted(int(v.version) for v in mlflow.search_prompt_versions(name, max_results=100))


@pytest.fixture
def rdb(core_settings: Settings) -> Iterator[redis.Redis[bytes]]:
    connection: redis.Redis[bytes] = redis.Redis.from_url(core_settings.redis_url)
    yield connection
    connection.close()


def test_an_older_version_run_after_a_redis_flush_keeps_its_recorded_prompt_uris(
    client: FlaskClient,  # noqa: F811 - the fixture
    queue: Any,  # noqa: F811 - the fixture
    rdb: redis.Redis[bytes],
    core_settings: Settings,
) -> None:
    # Given a suite pushed, then pushed again with its coach prompt edited
    name = unique("flush")
    first = client.post("/api/bench/suites", json=_data(example(name)), headers=auth())
    edited = example(name).replace(COACH_END, "Nothing more.")
    second = client.post("/api/bench/suites", json=_data(edited), headers=auth())
    assert (first.status_code, second.status_code) == (201, 201), second.text
    record = first.get_json()
    assert second.get_json()["prompt_uris"]["coach"] != record["prompt_uris"]["coach"]
    mlflow = tracking.make_client(core_settings)
    coach = registry_name(name, "coach")
    # And a copy of the first coach text registered after it (as a flush did before a fix)
    first_coach = mlflow.load_prompt(record["prompt_uris"]["coach"])
    mlflow.register_prompt(coach, first_coach.template)
    before = registry_versions(mlflow, coach)
    # When Redis loses every suite key of the namespace
    for key in rdb.scan_iter(match=core_settings.key("suite*"), count=500):
        rdb.delete(key)
    # And the first version is run
    body = {
        "suite": f"{name}@{record['version']}",
        "prompts": ["coach"],
        "models": ["tidy:1b"],
        "experiment": unique("flush"),
    }
    ran = client.post("/api/bench/run", json=body, headers=auth())
    assert ran.status_code == 202, ran.text
    # Then its cells name the URI the version's record names, and no registry version is new
    assert {c.prompt_uri for c in queue()} == {record["prompt_uris"]["coach"]}
    assert registry_versions(mlflow, coach) == before
    shown = client.get(f"/api/bench/suites/{name}/{record['version']}", headers=auth())
    assert shown.get_json()["record"]["prompt_uris"] == record["prompt_uris"]


def test_a_builtin_suites_prompt_uris_survive_a_lost_redis_copy_and_an_edit_in_mlflow(
    rdb: redis.Redis[bytes], core_settings: Settings, mlflow_server: str
) -> None:
    # Given tip-v1's prompts registered at a first job
    mlflow = tracking.make_client(core_settings)
    store = SuiteStore(rdb, mlflow, core_settings)
    suite = builtin_suite("tip-v1")
    uris = store.prompt_uris(suite, lambda s: register_prompts(mlflow, s))
    # And one of them edited in MLflow's own UI (a newer registry version, other text)
    name = registry_name(suite.suite, suite.prompts[0].version)
    edit = mlflow.register_prompt(name, "An edit made in the MLflow UI.")
    try:
        before = registry_versions(mlflow, name)
        # When Redis loses the suite's copy of its URIs
        rdb.delete(core_settings.key("suite-prompts", suite.suite, suite.content_version()))
        again = store.prompt_uris(suite, lambda s: register_prompts(mlflow, s))
        # Then they are the same URIs, and no registry version is new
        assert again == uris
        assert registry_versions(mlflow, name) == before
    finally:
        for version in registry_versions(mlflow, name):
            if version >= int(edit.version):
                mlflow.delete_prompt_version(name, str(version))


def test_an_escaped_brace_is_registered_as_the_literal_text_the_model_gets(
    core_settings: Settings, mlflow_server: str
) -> None:
    # Given a prompt whose template escapes braces, beside its fields
    name = unique("braces")
    text = example(name).replace(COACH_END, "Answer like {{tip}} lines, {{{when}}}.")
    suite = parse_suite(text)
    mlflow = tracking.make_client(core_settings)
    # When its prompts are registered
    uri = register_prompts(mlflow, suite)["coach"]
    registered = mlflow.load_prompt(uri)
    # Then `tip` is no registry variable, and filling the registered template gives the model's
    # own request, word for word
    assert registered.variables == {"who", "when", "n_tips", "word_limit"}
    scenario = suite.scenarios[0]
    fields = {**scenario.vars, "n_tips": 3, "word_limit": suite.checks.word_limit}
    filled = registered.format(**fields)
    rendered = render_prompt(suite, "coach", scenario.id, 3).messages
    assert filled == rendered
    assert "Answer like {tip} lines, {23:00" in rendered[-1]["content"]


def _data(text: str) -> dict[str, Any]:
    """A suite file's content as a push body."""
    return parse_suite(text).model_dump(mode="json")
