"""tipbench's rubric as an MLflow scorer: `mlflow.genai.evaluate` on a user's own rows gets
one feedback per criterion, from the judge bridge's own prompt, schema and reading."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import mlflow
import pytest
from mlflow.entities import Feedback
from mlflow.tracking import MlflowClient

import tipbench
from shared import tracking
from shared.errors import UnknownModel
from shared.settings import Settings
from testkit.fake_ollama import FakeOllama
from tests.test_mlflow_feedback import CRITERIA, JUDGED, RUBRIC, valid


@pytest.fixture(autouse=True)
def judge_models_unloaded(fake_ollama: FakeOllama) -> Iterator[None]:
    """evaluate leaves the judge model loaded, as a user's Ollama would; the session's fake
    must not keep it (the stack's LLM judges wait until no other model is resident)."""
    yield
    with fake_ollama.state.lock:
        fake_ollama.state.resident.clear()


@pytest.fixture
def client(core_settings: Settings, mlflow_server: str) -> MlflowClient:
    return tracking.use_tracking_server(core_settings)


@pytest.mark.parametrize(
    ("model", "path"), [("judge:8b", "/api/chat"), ("openai:judge:8b", "/v1/chat/completions")]
)
def test_the_rubric_as_an_mlflow_scorer_gives_per_criterion_feedback_in_evaluate(
    core_settings: Settings, client: MlflowClient, fake_ollama: FakeOllama, model: str, path: str
) -> None:
    # Given a user's own application rows and tipbench's rubric as a scorer
    mlflow.set_experiment(f"scorer-{uuid.uuid4().hex[:8]}")
    rows = [
        {"inputs": {"question": "How do I sleep better?"}, "outputs": "1. Dim the lights."},
        {"inputs": {"question": "How do I focus?"}, "outputs": "1. Close the tabs."},
    ]
    scorer = tipbench.mlflow_scorer(rubric="tip-v1", model=model, settings=core_settings)
    asked_before = len(fake_ollama.state.calls_to(path))
    # When MLflow evaluates them
    result = mlflow.genai.evaluate(data=rows, scorers=[scorer])
    # Then each row's trace has one LLM_JUDGE feedback per criterion, with the judge's values
    traces = mlflow.search_traces(run_id=result.run_id, return_type="list")
    assert len(traces) == 2
    for trace in traces:
        found = valid([a for a in trace.info.assessments if isinstance(a, Feedback)])
        assert {n: f.value for n, f in found.items()} == JUDGED
        assert {f.source.source_id for f in found.values()} == {f"llm:{model}"}
    # And MLflow aggregates each criterion on its own
    assert result.metrics["tone/mean"] == 5.0
    # And the judge was asked with the rubric's verdict schema, the judge bridge's way
    asked = fake_ollama.state.calls_to(path)[asked_before:]
    assert len(asked) == 2
    schema = asked[0].get("format") or asked[0]["response_format"]["json_schema"]["schema"]
    assert schema == RUBRIC.verdict_schema()
    assert "Answer to judge:\n1. " in asked[0]["messages"][-1]["content"]


def test_the_scorer_records_invalid_verdicts_as_errors_never_as_scores(
    core_settings: Settings, client: MlflowClient
) -> None:
    mlflow.set_experiment(f"scorer-{uuid.uuid4().hex[:8]}")
    scorer = tipbench.mlflow_scorer(RUBRIC, "erratic-judge:8b", settings=core_settings)
    rows = [{"inputs": {"question": "How do I rest?"}, "outputs": "1. Lie down."}]
    result = mlflow.genai.evaluate(data=rows, scorers=[scorer])
    (trace,) = mlflow.search_traces(run_id=result.run_id, return_type="list")
    found: dict[str, Any] = valid([a for a in trace.info.assessments if isinstance(a, Feedback)])
    assert set(found) == CRITERIA
    assert all(f.value is None and f.error.error_code == "INVALID_VERDICT" for f in found.values())


@pytest.mark.parametrize(
    ("rubric", "model", "message"),
    [
        ("tip-v9", "judge:8b", "rubric 'tip-v9': name a built-in suite"),
        ("tip-v1", "gguf:smollm2-135m", "embedded gguf: judges run in the judge bridge only"),
        ("tip-v1", "bad name/x", "must be 1-128 characters"),
    ],
)
def test_the_scorer_refuses_what_it_cannot_judge_with(
    rubric: str, model: str, message: str
) -> None:
    with pytest.raises((ValueError, UnknownModel), match=message):
        tipbench.mlflow_scorer(rubric, model)
