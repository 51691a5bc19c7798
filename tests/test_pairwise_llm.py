"""An LLM judge in the pairwise protocol, through the stack against the fake Ollama."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.settings import Settings
from testkit.fake_ollama import FakeOllama
from tests.conftest import wait_until
from tests.test_e2e import finished_job

pytestmark = pytest.mark.slow
EXPERIMENT = "pairs-llm"


def test_an_llm_judge_says_which_of_two_answers_is_better(
    api: httpx.Client, fake_ollama: FakeOllama, running_stack: Settings
) -> None:
    # Given a finished job of a tidy and a rambling model on three scenarios
    body = {
        "models": ["tidy:1b", "rambler:2b"],
        "prompts": ["v1"],
        "n_scenarios": 3,
        "experiment": EXPERIMENT,
    }
    posted = api.post("/api/bench/run", json=body)
    assert posted.status_code == 202, posted.text
    finished_job(api, running_stack, posted.json()["job_id"], timeout_s=120)
    wait_until(
        lambda: api.get(f"/api/bench/judge/{EXPERIMENT}/packet").status_code == 200,
        timeout_s=60,
        what="the candidates' pool",
    )
    # When a pairwise LLM judge is asked to judge
    asked = {"model": "pair-judge:8b", "pairwise": True}
    accepted = api.post(f"/api/bench/judge/{EXPERIMENT}/run", json=asked)
    assert accepted.status_code == 202, accepted.text

    # Then its verdicts rank the tidy row first in the leaderboard's pairwise section
    def section() -> Any:
        board = api.get(f"/api/bench/leaderboard/{EXPERIMENT}")  # 404 until the first rebuild
        return board.json()["pairwise"] if board.status_code == 200 else None

    found = wait_until(section, timeout_s=90, what="the LLM judge's pairwise verdicts")
    assert found["judges"] == ["llm:pair-judge:8b"] and found["n_judgments"] == 3
    assert [(r["model"], r["wins"], r["losses"]) for r in found["rows"]] == [
        ("tidy:1b", 3, 0),
        ("rambler:2b", 0, 3),
    ]
    # asked with the pairwise schema, both answers in one message
    chats = [c for c in fake_ollama.state.calls_to("/api/chat") if c["model"] == "pair-judge:8b"]
    assert len(chats) == 3
    assert chats[0]["format"]["properties"]["winner"]["enum"] == ["a", "b", "tie"]
    user = chats[0]["messages"][-1]["content"]
    assert "Answer A:" in user and "Answer B:" in user
    assert "tidy" not in user and "rambler" not in user
    assert api.get(f"/api/bench/judge/{EXPERIMENT}/failures").json() == []
