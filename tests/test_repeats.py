"""Repeats: k samples per cell, each its own run and judge item, averaged within a scenario."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import wait_until


def test_repeats_make_one_run_per_sample_with_consecutive_seeds_and_one_mean_per_scenario(
    api: httpx.Client,
) -> None:
    # Given a job of 1 model x 1 prompt x 3 scenarios, 2 samples each, judged by an LLM
    experiment = f"repeats-{uuid.uuid4().hex[:6]}"
    body = {
        "models": ["tidy:1b"],
        "prompts": ["v1"],
        "n_scenarios": 3,
        "repeats": 2,
        "seed": 100,
        "experiment": experiment,
        "judge": "llm:judge:8b",
    }
    # When it runs
    posted = api.post("/api/bench/run", json=body)
    assert posted.status_code == 202, posted.text
    assert posted.json()["cells"] == 6

    def board() -> Any:
        answer = api.get(f"/api/bench/leaderboard/{experiment}")
        found = answer.json() if answer.status_code == 200 else None
        return found if found and found["rows"] and found["rows"][0]["n_scored"] == 6 else None

    found = wait_until(board, timeout_s=180, what="the judged leaderboard")
    # Then each sample is a run of its own, seeds 100 and 101, repeat 0 and 1 per scenario
    runs = api.get(f"/api/bench/runs/{experiment}").json()
    assert len(runs) == 6 and len({r["cell_key"] for r in runs}) == 6
    samples = sorted(
        (r["params"]["scenario_id"], r["params"]["repeat"], r["params"]["seed"]) for r in runs
    )
    assert [(repeat, seed) for _, repeat, seed in samples] == [("0", "100"), ("1", "101")] * 3
    # And the leaderboard averages repeats within each scenario before comparing scenarios
    (row,) = found["rows"]
    assert (row["n"], row["n_scored"], row["n_scenarios"]) == (6, 6, 3)
    assert row["rank"] == 1 and row["mean_composite"] == 14.0  # the fake judge's 4+3+5+2-0
    assert (row["within_sd"], row["between_sd"]) == (0.0, 0.0)
