"""200 one-cell jobs as fast as the gateway takes them, 3 reporters: all complete, all final."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from shared.settings import Settings
from tests.conftest import gateway_client, wait_until
from tests.reliability.conftest import Clock, dead_letters

pytestmark = pytest.mark.slow
JOBS, EXPERIMENTS, CLIENTS = 200, 20, 8


def test_200_jobs_with_3_reporters_all_complete_with_final_leaderboards(
    rel_stack: Settings, rel_redis: redis.Redis[bytes], figures: Callable[..., None]
) -> None:
    dead_before = dead_letters(rel_stack, rel_redis)
    experiments = [f"rel-load-{i:02d}" for i in range(EXPERIMENTS)]
    statuses: Counter[int] = Counter()

    def submit(number: int) -> str:
        body = {
            "models": ["tidy:1b"],
            "prompts": ["v1"],
            "n_scenarios": 1,
            "experiment": experiments[number % EXPERIMENTS],
        }
        with gateway_client(rel_stack, timeout_s=120) as client:
            answer = client.post("/api/bench/run", json=body)
        statuses[answer.status_code] += 1
        assert answer.status_code == 202, answer.text
        return str(answer.json()["job_id"])

    clock = Clock()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        job_ids = list(pool.map(submit, range(JOBS)))
    submitted_in = clock()
    assert statuses == Counter({202: JOBS})

    with gateway_client(rel_stack, timeout_s=60) as api:
        pending = set(job_ids)

        def all_ended() -> bool:
            for job_id in sorted(pending):
                if api.get(f"/api/bench/jobs/{job_id}").json()["status"] in ("queued", "running"):
                    return False  # jobs run in order: the later ones are not done either
                pending.discard(job_id)
            return True

        wait_until(all_ended, timeout_s=600, what="every job to end")
        ended = [api.get(f"/api/bench/jobs/{i}").json() for i in job_ids]
        assert Counter(j["status"] for j in ended) == Counter({"finished": JOBS})
        jobs_done_in = clock()

        def final_boards() -> list[dict[str, object]] | None:
            boards = []
            for name in experiments:
                answer = api.get(f"/api/bench/leaderboard/{name}")
                if answer.status_code != 200 or answer.json()["n_runs"] != JOBS // EXPERIMENTS:
                    return None
                boards.append(answer.json())
            return boards

        boards = wait_until(final_boards, timeout_s=120, what="every final leaderboard")
    boards_final_in = clock()
    for board in boards:
        (row,) = board["rows"]  # type: ignore[misc]
        assert (row["model"], row["prompt_version"], row["n"]) == ("tidy:1b", "v1", 10)
    assert dead_letters(rel_stack, rel_redis) == dead_before  # nothing dead-lettered
    figures(
        "load: 200 one-cell jobs, 3 reporters",
        jobs=JOBS,
        experiments=EXPERIMENTS,
        clients=CLIENTS,
        answers=dict(statuses),
        submitted_in_s=submitted_in,
        all_jobs_finished_at_s=jobs_done_in,
        all_boards_final_at_s=boards_final_in,
        dead_letters_added=0,
    )
