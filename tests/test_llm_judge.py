"""An LLM judge through the stack: valid, invalid and partly valid JSON from the fake Ollama."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import tracking
from shared.rubric import Rubric
from shared.settings import Settings
from shared.suite_files import builtin_suite
from testkit.fake_ollama import FakeModel, FakeOllama
from tests.conftest import wait_until

pytestmark = pytest.mark.slow
RUBRIC = builtin_suite("tip-v1").rubric
EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "study-tips.yaml"
YAML = {"Content-Type": "application/yaml"}


def judged_job(api: httpx.Client, experiment: str) -> list[Any]:
    """A finished 4-cell job (scenarios: student, nurse, retiree, founder)."""
    body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 4, "experiment": experiment}
    job_id = api.post("/api/bench/run", json=body).json()["job_id"]
    wait_until(
        lambda: api.get(f"/api/bench/jobs/{job_id}").json()["status"] == "finished",
        timeout_s=60,
        what="the job",
    )
    wait_until(
        lambda: api.get(f"/api/bench/judge/{experiment}/packet").status_code == 200,
        timeout_s=30,
        what="the candidates pool",
    )
    return list(api.get(f"/api/bench/runs/{experiment}").json())


def test_an_llm_judge_scores_every_run_with_the_rubric_schema(
    api: httpx.Client, fake_ollama: FakeOllama, running_stack: Settings
) -> None:
    judged_job(api, "llm-ok")
    assert api.post("/api/bench/judge/llm-ok/run", json={"model": "judge:8b"}).status_code == 202

    def scored() -> Any:
        runs = api.get("/api/bench/runs/llm-ok").json()
        return runs if all("judge/llm:judge:8b/composite" in r["metrics"] for r in runs) else None

    runs = wait_until(scored, timeout_s=60, what="the LLM judge's scores")
    assert {r["metrics"]["judge/llm:judge:8b/composite"] for r in runs} == {4 + 3 + 5 + 2}
    asked = [c for c in fake_ollama.state.calls_to("/api/chat") if c["model"] == "judge:8b"]
    assert len(asked) == 4
    assert asked[0]["format"]["properties"]["relevance"]["maximum"] == 5
    assert api.get("/api/bench/judge/llm-ok/failures").json() == []
    mlflow = tracking.make_client(running_stack)
    trace_id = mlflow.get_run(runs[0]["run_id"]).data.tags[tracking.TAG_TRACE_ID]
    # a run's metrics are written before its feedback (one per criterion): wait for them
    feedback = wait_until(
        lambda: (
            found
            if set(found := {a.name: a for a in mlflow.get_trace(trace_id).info.assessments})
            == {*RUBRIC.score_names, "composite"}
            else None
        ),
        timeout_s=30,
        what="the judge's feedback on the trace",
    )
    assert {(a.source.source_type, a.source.source_id) for a in feedback.values()} == {
        ("LLM_JUDGE", "llm:judge:8b")
    }
    assert (feedback["tone"].value, feedback["tone"].rationale) == (5, "Clear and doable.")


def test_invalid_llm_answers_are_retried_then_recorded_as_failures_never_as_zeros(
    api: httpx.Client, fake_ollama: FakeOllama
) -> None:
    runs = judged_job(api, "llm-erratic")
    by_persona = {r["params"]["facet.persona"]: r["run_id"] for r in runs}
    posted = api.post("/api/bench/judge/llm-erratic/run", json={"model": "erratic-judge:8b"})
    assert posted.status_code == 202

    def three_failures() -> Any:
        found = api.get("/api/bench/judge/llm-erratic/failures").json()
        return found if len(found) == 3 else None

    failures = wait_until(three_failures, timeout_s=60, what="the judge failures")
    assert {f["run_id"] for f in failures} == {
        by_persona[p] for p in ("student", "retiree", "founder")
    }
    assert all(f["error"].startswith("invalid answer") for f in failures)
    asked = [c for c in fake_ollama.state.calls_to("/api/chat") if c["model"] == "erratic-judge:8b"]
    assert len(asked) == 1 + 3 * 3  # the nurse once; every other item three times

    def nurse_scored() -> Any:
        runs = api.get("/api/bench/runs/llm-erratic").json()
        return [r for r in runs if "judge/llm:erratic-judge:8b/relevance" in r["metrics"]] or None

    (nurse,) = wait_until(nurse_scored, timeout_s=30, what="the valid score")
    assert nurse["run_id"] == by_persona["nurse"]
    assert nurse["metrics"]["judge/llm:erratic-judge:8b/relevance"] == 4.0


def test_an_llm_judge_request_is_validated(api: httpx.Client) -> None:
    assert api.post("/api/bench/judge/llm-none/run", json={"model": "judge:8b"}).status_code == 404
    bad = api.post("/api/bench/judge/llm-ok/run", json={"model": "bad name/x"})
    assert bad.status_code == 422 and "model" in bad.json()["error"]["message"]


def test_a_bench_request_can_name_an_llm_judge_that_runs_when_the_job_ends(
    api: httpx.Client,
) -> None:
    body = {
        "models": ["tidy:1b"],
        "prompts": ["v1"],
        "n_scenarios": 2,
        "experiment": "llm-auto",
        "judge": "llm:judge:8b",
    }
    assert api.post("/api/bench/run", json=body).status_code == 202

    def scored() -> Any:
        runs = api.get("/api/bench/runs/llm-auto").json()
        ok = len(runs) == 2 and all("judge/llm:judge:8b/composite" in r["metrics"] for r in runs)
        return runs if ok else None

    wait_until(scored, timeout_s=60, what="the LLM judge's scores, unasked")
    bad = api.post("/api/bench/run", json=body | {"judge": "gpt-judge"})
    assert bad.status_code == 422 and "judge" in bad.json()["error"]["message"]


def test_an_llm_judge_on_an_openai_compatible_server(
    api: httpx.Client, fake_ollama: FakeOllama
) -> None:
    judged_job(api, "llm-openai")
    posted = api.post("/api/bench/judge/llm-openai/run", json={"model": "openai:judge:8b"})
    assert posted.status_code == 202 and posted.json()["judge_id"] == "llm:openai:judge:8b"

    def scored() -> Any:
        runs = api.get("/api/bench/runs/llm-openai").json()
        key = "judge/llm:openai:judge:8b/composite"
        return runs if all(key in r["metrics"] for r in runs) else None

    wait_until(scored, timeout_s=60, what="the OpenAI-compatible judge's scores")
    asked = [
        c for c in fake_ollama.state.calls_to("/v1/chat/completions") if c["model"] == "judge:8b"
    ]
    assert len(asked) == 4
    assert (
        asked[0]["response_format"]["json_schema"]["schema"]["properties"]["tone"]["minimum"] == 1
    )


def test_a_two_model_job_judged_by_a_person_and_an_llm_shows_both_and_their_agreement(
    api: httpx.Client,
) -> None:
    # Given a 2-model job that names an LLM judge
    body = {
        "models": ["tidy:1b", "rambler:2b"],
        "prompts": ["v1"],
        "n_scenarios": 2,
        "experiment": "panel",
        "judge": "llm:judge:8b",
    }
    job_id = api.post("/api/bench/run", json=body).json()["job_id"]
    wait_until(
        lambda: api.get(f"/api/bench/jobs/{job_id}").json()["status"] == "finished",
        timeout_s=60,
        what="the job",
    )

    def first_board() -> Any:
        answer = api.get("/api/bench/leaderboard/panel")
        return answer.json() if answer.status_code == 200 else None

    before = wait_until(first_board, timeout_s=30, what="a first leaderboard")

    # When a person scores a packet of their own
    def anns_packet() -> Any:
        answer = api.get("/api/bench/judge/panel/packet", params={"judge": "ann"})
        return answer.json() if answer.status_code == 200 else None

    packet = wait_until(anns_packet, timeout_s=30, what="ann's packet")
    scores = [
        {
            "item_id": i["item_id"],
            "relevance": 4,
            "actionability": 3,
            "tone": 5,
            "format_ok": 1,
            "overlong": 0,
            "rationale": "fine",
        }
        for i in packet["items"]
    ]
    body = {"packet_id": packet["packet_id"], "judge_id": "ann", "scores": scores}
    assert api.post("/api/bench/judge/panel/scores", json=body).status_code == 202

    # Then, with no further request, every run has both judges' scores ...
    def both() -> Any:
        runs = api.get("/api/bench/runs/panel").json()
        keys = ("judge/ann/composite", "judge/llm:judge:8b/composite")
        return runs if all(k in r["metrics"] for r in runs for k in keys) else None

    runs = wait_until(both, timeout_s=60, what="both judges' scores")
    assert len(runs) == 4

    # ... the agreement table pairs them on every run, and the leaderboard moved on
    def paired_on_every_run() -> Any:
        found = api.get("/api/bench/judge/panel/agreement").json()
        return found if found["pairs"] and found["pairs"][0]["n_shared"] == 4 else None

    agreement = wait_until(paired_on_every_run, timeout_s=30, what="the agreement table")
    assert agreement["judges"] == ["ann", "llm:judge:8b"]
    kappa = agreement["pairs"][0]["kappa"]["relevance"]
    assert (kappa["value"], kappa["n"]) == (None, 4)  # both always say 4: undefined
    assert agreement["pairs"][0]["exact"]["relevance"] == 1.0  # ...which exact agreement shows
    after = api.get("/api/bench/leaderboard/panel").json()
    assert after["version"] > before["version"]
    assert all(row["n_scored"] == 2 for row in after["rows"])


def rubric_judge_reply(model: str, messages: list[dict[str, str]]) -> str:
    """An LLM judge that answers the rubric its prompt shows (after the first line)."""
    shown = Rubric.from_dict(json.loads(messages[0]["content"].split("\n", 1)[1]))
    return json.dumps(shown.example_scores() | {"rationale": "By the rubric shown."})


def test_an_llm_judge_scores_a_custom_rubric_suite_by_its_own_rubric(
    api: httpx.Client, fake_ollama: FakeOllama
) -> None:
    # Given an experiment of the example suite, whose rubric has the items relevance and calm
    name = f"llm-study-{uuid.uuid4().hex[:6]}"
    example = EXAMPLE.read_text("utf-8").replace("suite: study-tips", f"suite: {name}", 1)
    pushed = api.post("/api/bench/suites", content=example, headers=YAML)
    assert pushed.status_code in (200, 201), pushed.text
    judge = fake_ollama.add(
        FakeModel("rubric-judge:8b", parameter_size="8B", reply=rubric_judge_reply)
    )
    experiment = f"{name}-exp"
    body = {"suite": name, "models": ["tidy:1b"], "experiment": experiment}
    posted = api.post("/api/bench/run", json=body)
    assert posted.status_code == 202, posted.text
    wait_until(
        lambda: api.get(f"/api/bench/judge/{experiment}/packet").status_code == 200,
        timeout_s=90,
        what="the packet",
    )
    # When the LLM judge scores it
    asked = api.post(f"/api/bench/judge/{experiment}/run", json={"model": judge.name})
    assert asked.status_code == 202, asked.text

    # Then every run has the suite's items from it, and none of tip-v1's own
    prefix = f"judge/llm:{judge.name}/"

    def scored() -> Any:
        runs = api.get(f"/api/bench/runs/{experiment}").json()
        done = runs and all(f"{prefix}composite" in r["metrics"] for r in runs)
        return runs if done else None

    runs = wait_until(scored, timeout_s=90, what="the LLM judge's scores")
    for run in runs:
        items = {key.removeprefix(prefix) for key in run["metrics"] if key.startswith(prefix)}
        assert items == {"relevance", "calm", "format_ok", "overlong", "composite"}
    schema = [
        c["format"] for c in fake_ollama.state.calls_to("/api/chat") if c["model"] == judge.name
    ]
    assert schema and all(
        "calm" in s["properties"] and "tone" not in s["properties"] for s in schema
    )
    assert api.get(f"/api/bench/judge/{experiment}/failures").json() == []
