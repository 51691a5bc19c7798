"""A leaderboard stored by an older version is rebuilt, never answered with a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import redis

from shared.settings import Settings
from tests.conftest import wait_until
from tests.test_e2e import finished_job


def old_shaped(board: dict[str, Any]) -> dict[str, Any]:
    """A board as an older version stored it: by_persona/by_time_slot, no by_facet, and
    an agreement without its alphas."""
    old = {key: value for key, value in board.items() if key != "by_facet"}
    old["by_persona"], old["by_time_slot"] = [], []
    old["agreement"] = {"alpha": {"relevance": None, "composite": None}}
    return old


def test_a_leaderboard_stored_before_an_upgrade_is_rebuilt_not_a_500(
    api: httpx.Client, running_stack: Settings
) -> None:
    # Given an experiment with a finished run and its leaderboard
    experiment = "upgraded-board"
    request = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 1, "n_tips": 3}
    posted = api.post("/api/bench/run", json={**request, "experiment": experiment})
    assert posted.status_code == 202, posted.text
    finished_job(api, running_stack, posted.json()["job_id"], timeout_s=120)
    path = f"/api/bench/leaderboard/{experiment}"
    board = wait_until(
        lambda: (r := api.get(path)).status_code == 200 and r.json()["n_runs"] == 1 and r.json(),
        timeout_s=60,
        what="the first leaderboard",
    )
    # ... replaced by the board an older version stored, with a version the counter of
    # this one has not reached
    key = running_stack.key("leaderboard", experiment)
    with redis.Redis.from_url(running_stack.redis_url) as client:
        client.hset(key, mapping={"version": 10**9, "board": json.dumps(old_shaped(board))})

    # When it is asked for, through the API and the admin page
    answer = api.get(path)
    page = api.get(f"/admin/experiments/{experiment}")

    # Then both say it is being rebuilt (not a 500, not a 404)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "leaderboard_rebuilding"
    assert int(answer.headers["Retry-After"]) > 0
    assert page.status_code == 503, page.text
    # ... and the reporter's full rebuild replaces it with today's shape
    rebuilt = wait_until(
        lambda: (r := api.get(path)).status_code == 200 and r.json(),
        timeout_s=60,
        what="the rebuilt leaderboard",
    )
    assert "by_facet" in rebuilt and "by_persona" not in rebuilt
    assert rebuilt["n_runs"] == 1
