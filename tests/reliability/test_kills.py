"""Workers killed with SIGKILL at chosen moments: nothing lost, nothing done twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from shared import tracking
from shared.settings import Settings
from shared.stores.scores import ScoreStore
from testkit.fake_ollama import FakeOllama
from tests.conftest import wait_until
from tests.reliability.conftest import (
    REPORTERS,
    Clock,
    alive,
    cell_runs,
    dead_letters,
    ended_job,
    kill9,
    pid_of,
    start_service,
)
from tipbench import stack

pytestmark = pytest.mark.slow
MODELS = ["tidy:1b", "tidy-b:0.5b", "tidy-c:3b", "tidy-d:1.5b"]
PROMPTS = ["v1", "v2-mentor", "v3-few-shot"]
# moment -> (service to kill, failpoint armed in it; "" = killed from outside)
MOMENTS = {
    "during a generation": ("collector", ""),
    "between the run's creation and its end": ("recorder", "record.run_created"),
    "while acknowledging": ("collector", "ack.collect_cell"),
}


@pytest.fixture
def slow_generations(rel_fake: FakeOllama) -> Iterator[None]:
    rel_fake.state.generation_delay_s = 0.15
    yield
    rel_fake.state.generation_delay_s = 0.0


def wait_dead_and_restart(settings: Settings, name: str, timeout_s: float = 120) -> None:
    """Wait until the service died (its failpoint fired), then restart it unarmed."""
    pid = pid_of(settings, name)
    wait_until(lambda: not alive(pid), timeout_s=timeout_s, what=f"{name} to die")
    stack.stop(settings, name)
    start_service(settings, name)


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_killed_collector_loses_no_cell_and_repeats_none(
    moment: str,
    rel_stack: Settings,
    rel_api: httpx.Client,
    rel_redis: redis.Redis[bytes],
    rel_fake: FakeOllama,
    slow_generations: None,
    figures: Callable[..., None],
) -> None:
    service, point = MOMENTS[moment]
    experiment = "rel-kill-" + moment.split()[-1]
    if point:
        rel_redis.delete(rel_stack.key("fault-fired", point))
        stack.stop(rel_stack, service)
        start_service(rel_stack, service, faults=point)
    body = {"models": MODELS, "prompts": PROMPTS, "n_scenarios": 4, "experiment": experiment}
    clock = Clock()
    job_id = rel_api.post("/api/bench/run", json=body).json()["job_id"]
    if point:
        wait_dead_and_restart(rel_stack, service)
    else:
        wait_until(
            lambda: (
                rel_api.get(f"/api/bench/jobs/{job_id}").json()["done"] >= 5
                and rel_fake.state.in_flight >= 1
            ),
            timeout_s=120,
            what="a generation in flight",
        )
        kill9(rel_stack, service)
        start_service(rel_stack, service)
    killed_at = clock()
    done_at_kill = rel_api.get(f"/api/bench/jobs/{job_id}").json()["done"]

    job = ended_job(rel_api, job_id, timeout_s=300)
    assert (job["status"], job["done"], job["failed"]) == ("finished", 48, 0), job
    runs = cell_runs(rel_stack, experiment)
    keys = Counter(run.data.tags[tracking.TAG_CELL_KEY] for run in runs)
    assert len(runs) == 48 and len(keys) == 48, keys.most_common(3)  # no duplicate, no loss
    assert {run.info.status for run in runs} == {"FINISHED"}
    if point:
        assert rel_redis.exists(rel_stack.key("fault-fired", point))
    assert dead_letters(rel_stack, rel_redis)["record"] == 0
    figures(
        f"collector killed {moment}",
        cells=48,
        done_at_kill=done_at_kill,
        killed_at_s=killed_at,
        ended_at_s=clock(),
        finished_runs=len(runs),
        distinct_cell_keys=len(keys),
    )


def test_a_stopped_collector_finishes_the_cell_in_hand_first(
    rel_stack: Settings,
    rel_api: httpx.Client,
    rel_fake: FakeOllama,
    figures: Callable[..., None],
) -> None:
    """`tipbench down` (SIGTERM) mid-generation: the collector ends that cell, then exits;
    the cell is recorded while the collector is still down, none is done twice."""
    experiment = "rel-stop-collector"
    body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 4, "experiment": experiment}
    log = Path(rel_stack.var_dir) / "log" / "collector.log"
    chats_before = len(rel_fake.state.chat_spans)
    # long enough to stop the collector mid-generation, within the stack's 3 s warm timeout
    rel_fake.state.generation_delay_s = 2.0
    try:
        job_id = rel_api.post("/api/bench/run", json=body).json()["job_id"]
        wait_until(lambda: rel_fake.state.in_flight >= 1, timeout_s=60, what="a generation")
        log_at_stop = log.stat().st_size
        clock = Clock()
        stack.stop(rel_stack, "collector")
        stopped_at = clock()
    finally:
        rel_fake.state.generation_delay_s = 0.0
    try:
        with log.open("rb") as f:
            f.seek(log_at_stop)
            shutdown_log = f.read().decode(errors="replace")
        assert "Killing worker process" not in shutdown_log, shutdown_log
        # Every generation the collector began, it ended before exiting, and each one's cell
        # is recorded while the collector is down (an abandoned one would never be)
        generated = len(rel_fake.state.chat_spans) - chats_before
        assert generated >= 1
        wait_until(
            lambda: rel_api.get(f"/api/bench/jobs/{job_id}").json()["done"] == generated,
            timeout_s=60,
            what=f"the {generated} generated cells recorded while the collector is down",
        )
    finally:
        start_service(rel_stack, "collector")  # the next tests need it, whatever happened
    job = ended_job(rel_api, job_id, timeout_s=120)
    assert (job["status"], job["done"], job["failed"]) == ("finished", 4, 0), job
    keys = Counter(run.data.tags[tracking.TAG_CELL_KEY] for run in cell_runs(rel_stack, experiment))
    assert sorted(keys.values()) == [1, 1, 1, 1], keys
    figures("collector stopped mid-generation", cells=4, stopped_after_s=stopped_at)


def score_file(packet: dict[str, Any], judge: str) -> dict[str, Any]:
    scores = [
        {
            "item_id": item["item_id"],
            "relevance": 5,
            "actionability": 4,
            "tone": 3,
            "format_ok": 1,
            "overlong": 0,
            "rationale": "fine",
        }
        for item in packet["items"]
    ]
    return {"packet_id": packet["packet_id"], "judge_id": judge, "scores": scores}


def test_a_judge_bridge_killed_mid_ingest_completes_it_exactly_once(
    rel_stack: Settings,
    rel_api: httpx.Client,
    rel_redis: redis.Redis[bytes],
    figures: Callable[..., None],
) -> None:
    experiment, judge = "rel-ingest", "rel-judge"
    body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 6, "experiment": experiment}
    job_id = rel_api.post("/api/bench/run", json=body).json()["job_id"]
    assert ended_job(rel_api, job_id, timeout_s=120)["done"] == 6
    packet = wait_until(
        lambda: (
            (r := rel_api.get(f"/api/bench/judge/{experiment}/packet?judge={judge}")).status_code
            == 200
            and len(r.json()["items"]) == 6
            and r.json()
        ),
        timeout_s=60,
        what="the packet",
    )
    rel_redis.delete(rel_stack.key("fault-fired", "ingest.partial"))
    stack.stop(rel_stack, "judge_bridge")
    start_service(rel_stack, "judge_bridge", faults="ingest.partial")
    clock = Clock()
    posted = rel_api.post(f"/api/bench/judge/{experiment}/scores", json=score_file(packet, judge))
    assert posted.status_code == 202, posted.text
    wait_dead_and_restart(rel_stack, "judge_bridge")
    killed_at = clock()
    status = wait_until(
        lambda: (s := rel_api.get(posted.json()["status_url"]).json())["status"] != "queued" and s,
        timeout_s=120,
        what="the ingestion after the restart",
    )
    assert status["status"] == "ingested", status
    history = [
        h for h in ScoreStore(rel_redis, rel_stack).history(experiment) if h["judge_id"] == judge
    ]
    assert len(history) == 6 and len({h["run_id"] for h in history}) == 6  # each item once
    board = wait_until(
        lambda: (
            (b := rel_api.get(f"/api/bench/leaderboard/{experiment}").json())["rows"]
            and b["rows"][0]["n_scored"] == 6
            and b
        ),
        timeout_s=60,
        what="the leaderboard with every score",
    )
    assert board["rows"][0]["mean_composite"] == 14.0  # 5 + 4 + 3 + 2*1 - 0
    figures(
        "judge_bridge killed mid-ingest",
        items=6,
        killed_at_s=killed_at,
        ingested_at_s=clock(),
        history_entries=len(history),
    )


def test_a_reporter_killed_mid_rebuild_lets_the_next_rebuild_complete(
    rel_stack: Settings,
    rel_api: httpx.Client,
    rel_redis: redis.Redis[bytes],
    figures: Callable[..., None],
) -> None:
    experiment, point = "rel-rebuild", "rebuild.locked"
    rel_redis.delete(rel_stack.key("fault-fired", point))
    reporters = [f"reporter-{i}" for i in range(1, REPORTERS + 1)]
    for name in reporters:  # every replica armed: whichever rebuilds first dies
        stack.stop(rel_stack, name)
        start_service(rel_stack, name, faults=point)
    clock = Clock()
    body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 3, "experiment": experiment}
    job_id = rel_api.post("/api/bench/run", json=body).json()["job_id"]
    assert ended_job(rel_api, job_id, timeout_s=120)["done"] == 3
    wait_until(
        lambda: rel_redis.exists(rel_stack.key("fault-fired", point)),
        timeout_s=60,
        what="a reporter to die holding the lock",
    )
    killed_at = clock()
    dead = wait_until(
        lambda: [n for n in reporters if not alive(pid_of(rel_stack, n))],
        timeout_s=30,
        what="the dead reporter",
    )
    assert len(dead) == 1
    for name in reporters:  # back to normal: the dead one restarted, the others disarmed
        stack.stop(rel_stack, name)
        start_service(rel_stack, name)
    board = wait_until(
        lambda: (
            (r := rel_api.get(f"/api/bench/leaderboard/{experiment}")).status_code == 200
            and r.json()["n_runs"] == 3
            and r.json()
        ),
        timeout_s=120,
        what="a complete leaderboard after the lock lapsed",
    )
    assert len(board["rows"]) == 1 and board["rows"][0]["n"] == 3
    # the dead replica's lock lapsed; later rebuilds (its redelivered message) release theirs
    wait_until(
        lambda: not rel_redis.exists(rel_stack.key("rebuild-lock", experiment)),
        timeout_s=60,
        what="the rebuild lock to be free",
    )
    figures(
        "reporter killed mid-rebuild",
        runs=3,
        killed_at_s=killed_at,
        complete_board_at_s=clock(),
        board_version=board["version"],
    )
