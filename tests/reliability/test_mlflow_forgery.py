"""Metrics forged in MLflow behind tipbench's back: whoever reaches MLflow's REST API can
write any metric on any run. The leaderboard must not believe them: the reporter recomputes
the composite from the item scores and ignores scores outside the rubric."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.broker import make_broker
from shared.contracts import CellFinished
from shared.messaging import send
from shared.settings import Settings
from tests.conftest import wait_until
from tests.reliability.conftest import ended_job

pytestmark = pytest.mark.slow
EXPERIMENT = "rel-forge"


def forge(settings: Settings, run_id: str, **metrics: float) -> None:
    """Write metrics straight through MLflow's REST API, as an intruder would."""
    now = int(time.time() * 1000)
    answer = httpx.post(
        f"{settings.mlflow_uri}/api/2.0/mlflow/runs/log-batch",
        json={
            "run_id": run_id,
            "metrics": [
                {"key": k, "value": v, "timestamp": now, "step": 0} for k, v in metrics.items()
            ],
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def rebuilt_after(api: httpx.Client, settings: Settings, job_id: str, version: int) -> Any:
    """The leaderboard once the reporter has read the whole experiment again."""
    # An event that cannot name its runs makes the reporter read every run from MLflow,
    # as after a restart that lost its Redis copy.
    event = CellFinished(job_id=job_id, experiment=EXPERIMENT, cell_key="forged", ok=True)
    send(make_broker(settings), event)

    def newer() -> Any:
        board = api.get(f"/api/bench/leaderboard/{EXPERIMENT}").json()
        return board if board["version"] > version else None

    return wait_until(newer, timeout_s=60, what="a rebuild after the forgery")


def test_metrics_forged_in_mlflow_do_not_move_the_leaderboard(
    rel_stack: Settings, rel_api: httpx.Client, figures: Callable[..., None]
) -> None:
    # Given a judged experiment: one (model, prompt) row over 3 scenarios
    body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 3, "experiment": EXPERIMENT}
    job_id = rel_api.post("/api/bench/run", json=body).json()["job_id"]
    assert ended_job(rel_api, job_id, timeout_s=120)["status"] == "finished"
    packet = wait_until(
        lambda: (
            (r := rel_api.get(f"/api/bench/judge/{EXPERIMENT}/packet")).status_code == 200
            and r.json()
        ),
        timeout_s=60,
        what="the packet",
    )
    item = {"relevance": 4, "actionability": 3, "tone": 4, "format_ok": 1, "overlong": 0}
    scores = [{"item_id": i["item_id"], **item} for i in packet["items"]]
    file = {"packet_id": packet["packet_id"], "judge_id": "forge-judge", "scores": scores}
    assert rel_api.post(f"/api/bench/judge/{EXPERIMENT}/scores", json=file).status_code == 202

    def scored() -> Any:
        answer = rel_api.get(f"/api/bench/leaderboard/{EXPERIMENT}")
        board = answer.json() if answer.status_code == 200 else None
        return board if board and board["rows"] and board["rows"][0]["n_scored"] == 3 else None

    honest = wait_until(scored, timeout_s=60, what="the scored leaderboard")
    (row,) = honest["rows"]
    runs = rel_api.get(f"/api/bench/runs/{EXPERIMENT}").json()
    assert len(runs) == 3

    # When someone who reaches MLflow writes composite = 999 on a run
    forge(rel_stack, runs[0]["run_id"], composite=999.0)
    after_composite = rebuilt_after(rel_api, rel_stack, job_id, honest["version"])
    # Then the leaderboard still shows the composite of the item scores
    (forged_row,) = after_composite["rows"]
    assert forged_row["mean_composite"] == row["mean_composite"]
    assert forged_row["n_scored"] == 3

    # When an item score is forged outside the rubric (relevance 9 on a 1-5 scale)
    forge(rel_stack, runs[1]["run_id"], relevance=9.0)
    after_item = rebuilt_after(rel_api, rel_stack, job_id, after_composite["version"])
    # Then that run counts as unscored, and the mean is that of the honest runs
    (unscored_row,) = after_item["rows"]
    assert unscored_row["n_scored"] == 2
    assert unscored_row["mean_composite"] == row["mean_composite"]
    figures(
        "forged MLflow metrics",
        honest_mean=row["mean_composite"],
        after_composite_999=forged_row["mean_composite"],
        after_relevance_9={"mean": unscored_row["mean_composite"], "n_scored": 2},
    )
