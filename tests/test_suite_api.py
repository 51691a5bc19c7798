"""Suites through the API: pushed, versioned, durable, benchmarked with their own rubric."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import redis
from mlflow.tracking import MlflowClient

from shared.settings import Settings
from shared.suite_files import parse_document
from tests.conftest import wait_until

EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "study-tips.yaml"
YAML = {"Content-Type": "application/yaml"}


def example(name: str) -> str:
    """The issue's example suite under another name (each test owns its suites)."""
    return EXAMPLE.read_text("utf-8").replace("suite: study-tips", f"suite: {name}", 1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def finished(api: httpx.Client, job_id: str) -> dict[str, Any]:
    def ended() -> Any:
        job = api.get(f"/api/bench/jobs/{job_id}").json()
        return job if job["status"] in ("finished", "partial", "failed") else None

    job: dict[str, Any] = wait_until(ended, timeout_s=180, what=f"job {job_id}")
    return job


def test_a_pushed_suite_gets_a_content_version_and_a_second_push_changes_nothing(
    api: httpx.Client, settings: Settings
) -> None:
    name = unique("push")
    # When the issue's example is pushed as YAML, then the same content again as JSON
    first = api.post("/api/bench/suites", content=example(name), headers=YAML)
    data, _ = parse_document(example(name), is_json=False)
    second = api.post("/api/bench/suites", json=data)
    # Then the first answer is 201 with a version id, the second 200 with the same one
    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    record = first.json()
    assert (record["suite"], record["created"], second.json()["created"]) == (name, True, False)
    assert second.json()["version"] == record["version"] and len(record["version"]) == 12
    assert (record["n_scenarios"], record["prompts"], record["rubric_id"]) == (
        2,
        ["plain", "coach"],
        "study-v1",
    )
    # And one version is listed; every prompt version is in the MLflow Prompt Registry
    versions = api.get(f"/api/bench/suites/{name}").json()
    assert [v["version"] for v in versions] == [record["version"]]
    mlflow = MlflowClient(settings.mlflow_uri)
    for version, uri in record["prompt_uris"].items():
        assert uri.startswith(f"prompts:/tipbench-{name}-{version}/")
        assert mlflow.load_prompt(uri).tags["suite_version"] == record["version"]
    whole = api.get(f"/api/bench/suites/{name}/{record['version']}").json()
    assert whole["suite"]["rubric"]["id"] == "study-v1"
    assert name in {s["suite"] for s in api.get("/api/bench/suites").json()}


def test_a_changed_suite_is_a_new_version_listed_first(api: httpx.Client) -> None:
    name = unique("versions")
    first = api.post("/api/bench/suites", content=example(name), headers=YAML).json()
    changed = example(name).replace("Nothing else.", "Nothing more.")
    second = api.post("/api/bench/suites", content=changed, headers=YAML).json()
    assert second["version"] != first["version"]
    listed = [v["version"] for v in api.get(f"/api/bench/suites/{name}").json()]
    assert listed == [second["version"], first["version"]]


def test_suites_survive_a_redis_flush_because_mlflow_holds_them(
    api: httpx.Client, settings: Settings
) -> None:
    name = unique("durable")
    record = api.post("/api/bench/suites", content=example(name), headers=YAML).json()
    # When Redis loses every cached suite of the stack
    with redis.Redis.from_url(settings.redis_url) as client:
        cached = list(client.scan_iter(match=settings.key("suite", "*")))
        assert cached
        client.delete(*cached)
    # Then the suite is still there, whole
    again = api.get(f"/api/bench/suites/{name}/{record['version']}")
    assert again.status_code == 200
    assert again.json()["record"]["version"] == record["version"]


def test_a_refused_suite_gets_422_with_the_validators_messages_and_nothing_is_stored(
    api: httpx.Client,
) -> None:
    name = unique("refused")
    bad = (
        example(name)
        .replace("Who: {who}\\nWhen", "Who: {whoo}\\nWhen", 1)
        .replace("weight: 2}", "weight: two}")
    )
    answer = api.post("/api/bench/suites", content=bad, headers=YAML)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_suite"
    assert {(d["field"], d["line"]) for d in error["details"]} == {
        ("prompts[0].user", 20),
        ("rubric.flags[0].weight", 37),
    }
    assert "unknown field {whoo}" in error["message"]
    assert api.get(f"/api/bench/suites/{name}").status_code == 404


def big_suite(name: str) -> dict[str, Any]:
    """The example with 900 scenarios of a 3,500-character `who`: 3.2 MB as JSON."""
    data, _ = parse_document(example(name), is_json=False)
    scenario = data["scenarios"][0]
    long_who = "w" * 3_500
    data["scenarios"] = [
        {**scenario, "id": f"s{i}", "vars": {**scenario["vars"], "who": long_who}}
        for i in range(900)
    ]
    return data


@pytest.mark.parametrize("media", ["application/json", "application/yaml"])  # JSON is YAML too
def test_a_suite_file_over_2_mib_gets_422_whatever_its_type_and_nothing_is_stored(
    api: httpx.Client, media: str
) -> None:
    # Given a stored suite
    name = unique("big")
    kept = api.post("/api/bench/suites", content=example(name), headers=YAML).json()
    # When a version of it over 2 MiB (under the gateway's 4 MiB body limit) is pushed
    body = json.dumps(big_suite(name)).encode("utf-8")
    assert 2 * 1024 * 1024 < len(body) < 4 * 1024 * 1024
    answer = api.post("/api/bench/suites", content=body, headers={"Content-Type": media})
    # Then it is refused as `tipbench suite validate` refuses the file, and not stored
    assert answer.status_code == 422, answer.text[:300]
    error = answer.json()["error"]
    assert error["code"] == "invalid_suite"
    message = f"{len(body)} bytes; the limit is 2 MiB"
    assert [(d["field"], d["message"]) for d in error["details"]] == [("(file)", message)]
    listed = [v["version"] for v in api.get(f"/api/bench/suites/{name}").json()]
    assert listed == [kept["version"]]


def test_a_text_over_64_kib_in_utf8_gets_422_naming_its_place_and_nothing_is_stored(
    api: httpx.Client,
) -> None:
    # Given a stored suite
    name = unique("long-text")
    kept = api.post("/api/bench/suites", content=example(name), headers=YAML).json()
    # When a version whose description is 40,000 "é" (80,000 bytes, 40,000 characters) is
    # pushed as JSON
    data, _ = parse_document(example(name), is_json=False)
    answer = api.post("/api/bench/suites", json=data | {"description": "é" * 40_000})
    # Then it is refused naming the field and the limit, and not stored
    assert answer.status_code == 422, answer.text[:300]
    details = answer.json()["error"]["details"]
    assert [(d["field"], d["message"]) for d in details] == [
        ("description", "80000 bytes in UTF-8; the limit is 64 KiB (65536 bytes)")
    ]
    listed = [v["version"] for v in api.get(f"/api/bench/suites/{name}").json()]
    assert listed == [kept["version"]]


def test_a_built_in_suite_name_cannot_be_taken(api: httpx.Client) -> None:
    answer = api.post("/api/bench/suites", content=example("tip-v1"), headers=YAML)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "suite_reserved"


def test_the_suite_json_schema_is_published_and_accepts_the_example(api: httpx.Client) -> None:
    schema = api.get("/api/bench/suites/schema.json").json()
    data, _ = parse_document(EXAMPLE.read_text("utf-8"), is_json=False)
    jsonschema.validate(data, schema)
    without_rubric = {k: v for k, v in data.items() if k != "rubric"}
    jsonschema.validate(without_rubric, schema)
    assert schema["title"] == "tipbench suite file"


def judge_by_hand(packet: dict[str, Any]) -> dict[str, Any]:
    """A judge of the study-v1 rubric: tidy answers score high, the rambler low."""
    assert [i["id"] for i in packet["rubric"]["items"]] == ["relevance", "calm"]
    scores = []
    for item in packet["items"]:
        tidy = len(item["tips"]) == item["scenario"]["n_tips"] and "Sure!" not in item["answer"]
        scores.append(
            {
                "item_id": item["item_id"],
                "relevance": 5 if tidy else 2,
                "calm": 4 if tidy else 1,
                "format_ok": 1 if tidy else 0,
                "overlong": 0 if tidy else 1,
                "rationale": "fits" if tidy else "rambles",
            }
        )
    return {"packet_id": packet["packet_id"], "judge_id": "study-judge", "scores": scores}


def test_the_issues_example_suite_runs_end_to_end_with_its_own_rubric(
    api: httpx.Client,
) -> None:
    # Given the example suite pushed under a name of its own
    name = unique("study")
    pushed = api.post("/api/bench/suites", content=example(name), headers=YAML).json()
    experiment = unique("study-exp")
    # When 2 models x 2 prompts (its default: all) x 2 scenarios (all) run
    posted = api.post(
        "/api/bench/run",
        json={"suite": name, "models": ["tidy:1b", "rambler:2b"], "experiment": experiment},
    )
    assert posted.status_code == 202, posted.text
    assert posted.json()["cells"] == 8
    assert posted.json()["suite"] == f"{name}@{pushed['version']}"
    job = finished(api, posted.json()["job_id"])
    assert (job["status"], job["done"]) == ("finished", 8)
    # Then every run names its exact suite version, prompt and facets
    runs = api.get(f"/api/bench/runs/{experiment}").json()
    assert {r["params"]["suite"] for r in runs} == {name}
    assert {r["params"]["suite_version"] for r in runs} == {pushed["version"]}
    assert {r["params"]["prompt_uri"] for r in runs} == set(pushed["prompt_uris"].values())
    assert {r["params"]["facet.who"] for r in runs} == {"freshman", "parent"}
    # When the blind packet is scored against the suite's rubric
    packet = wait_until(
        lambda: (
            (r := api.get(f"/api/bench/judge/{experiment}/packet")).status_code == 200 and r.json()
        ),
        timeout_s=60,
        what="the packet",
    )
    assert packet["rubric"]["composite"] == {
        "formula": "relevance + calm + 2*format_ok - overlong",
        "min": 1.0,
        "max": 12.0,
    }
    assert set(packet["items"][0]["scenario"]["vars"]) == {"who", "when"}
    accepted = api.post(f"/api/bench/judge/{experiment}/scores", json=judge_by_hand(packet))
    assert accepted.status_code == 202, accepted.text

    # Then the leaderboard follows the rubric: its range, its items, its facets
    def scored() -> Any:
        answer = api.get(f"/api/bench/leaderboard/{experiment}")
        board = answer.json() if answer.status_code == 200 else None
        return board if board and all(r["n_scored"] == 2 for r in board["rows"]) else None

    board = wait_until(scored, timeout_s=60, what="the scored leaderboard")
    assert (board["composite_min"], board["composite_max"]) == (1.0, 12.0)
    assert board["score_names"] == ["relevance", "calm", "format_ok", "overlong"]
    assert board["rubric_id"] == "study-v1"
    assert set(board["by_facet"]) == {"who", "when"}
    best = board["rows"][0]
    assert (best["model"], best["mean_composite"]) == ("tidy:1b", 11.0)
    assert best["item_means"] == {"relevance": 5.0, "calm": 4.0, "format_ok": 1.0, "overlong": 0.0}
    worst = board["rows"][-1]
    assert (worst["model"], worst["mean_composite"]) == ("rambler:2b", 2.0)
    csv = api.get(f"/api/bench/leaderboard/{experiment}?format=csv").text
    assert "mean_calm" in csv.splitlines()[0]


def test_an_experiment_keeps_one_suite_version(api: httpx.Client) -> None:
    name, experiment = unique("mix"), unique("mix-exp")
    first = api.post("/api/bench/suites", content=example(name), headers=YAML).json()
    body = {"suite": name, "models": ["tidy:1b"], "n_scenarios": 1, "experiment": experiment}
    assert api.post("/api/bench/run", json=body).status_code == 202
    # When the suite changes and a run of the new version names the same experiment
    changed = example(name).replace("Nothing else.", "Nothing more.")
    second = api.post("/api/bench/suites", content=changed, headers=YAML).json()
    refused = api.post("/api/bench/run", json=body)
    # Then it is refused: results of two versions would mix
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "suite_mismatch"
    assert f"{name}@{first['version']}" in refused.json()["error"]["message"]
    # Unless it names a new experiment, or the old version explicitly
    pinned = body | {"suite": f"{name}@{first['version']}"}
    assert api.post("/api/bench/run", json=pinned).status_code == 202
    fresh = body | {"experiment": unique("mix-new")}
    answer = api.post("/api/bench/run", json=fresh)
    assert answer.status_code == 202 and answer.json()["suite"].endswith(second["version"])


def test_a_registry_prompt_edited_in_mlflow_is_benchmarked_at_a_fixed_version(
    api: httpx.Client, settings: Settings
) -> None:
    # Given a prompt a user keeps in the MLflow Prompt Registry, with an alias
    mlflow = MlflowClient(settings.mlflow_uri)
    prompt = unique("coach")
    template = "Who: {{persona_description}}\nWhen: {{time_label}}\nGive {{n_tips}} numbered tips."
    v1 = mlflow.register_prompt(prompt, template)
    mlflow.set_prompt_alias(prompt, "live", v1.version)
    experiment = unique("registry")
    body = {
        "models": ["tidy:1b"],
        "prompts": [f"prompts:/{prompt}@live", "v1"],
        "n_scenarios": 1,
        "experiment": experiment,
    }
    # When it is benchmarked, then edited in MLflow (a new version behind the alias) and run again
    first = api.post("/api/bench/run", json=body)
    assert first.status_code == 202, first.text
    finished(api, first.json()["job_id"])
    v2 = mlflow.register_prompt(prompt, template.replace("numbered tips", "short numbered tips"))
    mlflow.set_prompt_alias(prompt, "live", v2.version)
    second = api.post("/api/bench/run", json=body)
    assert second.status_code == 202, second.text
    finished(api, second.json()["job_id"])
    # Then each job resolved the alias once, to a fixed version recorded on its runs
    jobs = [api.get(f"/api/bench/jobs/{r.json()['job_id']}").json() for r in (first, second)]
    assert [j["request"]["prompts"][0] for j in jobs] == [
        f"prompts:/{prompt}/{v1.version}",
        f"prompts:/{prompt}/{v2.version}",
    ]
    runs = api.get(f"/api/bench/runs/{experiment}").json()
    registry_runs = [r for r in runs if r["params"]["prompt_version"].startswith("prompts:/")]
    assert sorted(r["params"]["prompt_version"] for r in registry_runs) == [
        f"prompts:/{prompt}/{v1.version}",
        f"prompts:/{prompt}/{v2.version}",
    ]
    # And the rendered prompts differ by the edit, with the scenario's fields filled in
    rendered = {r["params"]["prompt_version"]: r["params"]["prompt_sha256"] for r in registry_runs}
    assert len(set(rendered.values())) == 2


def test_a_registry_prompt_whose_fields_the_scenarios_lack_is_refused(
    api: httpx.Client, settings: Settings
) -> None:
    mlflow = MlflowClient(settings.mlflow_uri)
    prompt = unique("stranger")
    version = mlflow.register_prompt(prompt, "Tips for {{pet_name}}, {{n_tips}} of them.")
    body = {"prompts": [f"prompts:/{prompt}/{version.version}"], "models": ["tidy:1b"]}
    answer = api.post("/api/bench/run", json=body)
    assert answer.status_code == 422
    detail = answer.json()["error"]["details"][0]
    assert detail["field"] == "prompts.0" and "pet_name" in detail["message"]
    missing = api.post("/api/bench/run", json=body | {"prompts": [f"prompts:/{prompt}/99"]})
    assert missing.status_code == 422
    assert json.dumps(missing.json()).count("no registry prompt") == 1
