"""The pairwise protocol through the real stack: a blind pair packet, verdicts checked and
ingested, and the Bradley-Terry section of the leaderboard beside the rubric's ranking."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from shared import tracking
from shared.settings import Settings
from tests.conftest import wait_until
from tests.jobs import packet_after_job
from tests.test_e2e import judge

pytestmark = pytest.mark.slow
EXPERIMENT = "pairs-e2e"


def tidy(answer: dict[str, Any], n_tips: int) -> bool:
    return len(answer["tips"]) == n_tips and "really" not in answer["answer"]


def verdicts(packet: dict[str, Any]) -> dict[str, Any]:
    """A judge preferring the tidy answer, and calling two tidy (or two rambling) a tie."""
    judgments = []
    for pair in packet["pairs"]:
        n_tips = pair["scenario"]["n_tips"]
        a, b = tidy(pair["a"], n_tips), tidy(pair["b"], n_tips)
        winner = "tie" if a == b else "a" if a else "b"
        judgments.append({"pair_id": pair["pair_id"], "winner": winner, "rationale": "tidier"})
    return {"packet_id": packet["packet_id"], "judge_id": "ann", "judgments": judgments}


def ingested(api: httpx.Client, accepted: httpx.Response) -> None:
    assert accepted.status_code == 202, accepted.text
    url = accepted.json()["status_url"]
    wait_until(lambda: api.get(url).json()["status"] == "ingested", timeout_s=60, what="ingestion")


def test_pair_packets_are_blind_and_verdicts_rank_rows_beside_the_rubric(
    api: httpx.Client, running_stack: Settings
) -> None:
    # Given a finished job of 2 models x 2 prompts x 3 scenarios, scored on the rubric
    request = {
        "models": ["tidy:1b", "rambler:2b"],
        "prompts": ["v1", "v2-mentor"],
        "n_scenarios": 3,
        "experiment": EXPERIMENT,
    }
    packet = packet_after_job(api, running_stack, request, timeout_s=180)
    ingested(api, api.post(f"/api/bench/judge/{EXPERIMENT}/scores", json=judge(packet)))
    board = wait_until(
        lambda: (
            (b := api.get(f"/api/bench/leaderboard/{EXPERIMENT}").json())
            and all(r["n_scored"] == 3 for r in b["rows"])
            and b
        ),
        timeout_s=60,
        what="the scored leaderboard",
    )
    assert board["pairwise"] is None  # no verdicts yet

    # When a judge asks for a pair packet
    pairs_url = f"/api/bench/judge/{EXPERIMENT}/pairs"
    got = api.get(pairs_url, params={"judge": "ann"})
    assert got.status_code == 200, got.text
    pair_packet = got.json()
    # Then it is blind: rows x scenarios pairs of two answers, no model, prompt or run
    assert pair_packet["schema_version"] == "tipbench.pair-packet/1"
    assert len(pair_packet["pairs"]) == 4 * 3
    text = json.dumps(pair_packet)
    runs = api.get(f"/api/bench/runs/{EXPERIMENT}").json()
    for secret in ["tidy:1b", "rambler:2b", "v2-mentor", *(r["run_id"] for r in runs)]:
        assert secret not in text
    assert all(set(p) == {"pair_id", "scenario", "a", "b"} for p in pair_packet["pairs"])
    # and asking again before judging gives the same packet back
    assert api.get(pairs_url, params={"judge": "ann"}).json() == pair_packet

    # When verdict files are wrong they are refused whole, naming each field
    good = verdicts(pair_packet)
    first = good["judgments"][0]
    bad = good | {"judgments": [*good["judgments"], first, first | {"pair_id": "forged"}]}
    refused = api.post(f"/api/bench/judge/{EXPERIMENT}/pair-scores", json=bad)
    assert refused.status_code == 422, refused.text
    fields = {d["field"]: d["message"] for d in refused.json()["error"]["details"]}
    assert fields == {
        "judgments[0].pair_id": f"pair {first['pair_id']!r} is judged more than once",
        "judgments[12].pair_id": f"pair {first['pair_id']!r} is judged more than once",
        "judgments[13].pair_id": "pair 'forged' is not in the packet",
    }
    for wrong, field in [
        (good | {"judge_id": "bob"}, "judge_id"),
        (good | {"judgments": [first | {"winner": "both"}]}, "judgments.0.winner"),
    ]:
        answer = api.post(f"/api/bench/judge/{EXPERIMENT}/pair-scores", json=wrong)
        assert answer.status_code == 422, answer.text
        assert field in {d["field"] for d in answer.json()["error"]["details"]}
    elsewhere = api.post("/api/bench/judge/other-exp/pair-scores", json=good)
    assert elsewhere.status_code == 422
    assert "packet_id" in {d["field"] for d in elsewhere.json()["error"]["details"]}
    for query, field in [
        ({}, "judge"),
        ({"judge": "ann", "n_pairs": "0"}, "n_pairs"),
        ({"judge": "ann", "n_pairs": "x"}, "n_pairs"),
        ({"judge": "ann", "n_pairs": "\u00b3"}, "n_pairs"),  # a digit to str.isdigit only
    ]:
        answer = api.get(pairs_url, params=query)
        assert answer.status_code == 422
        assert [d["field"] for d in answer.json()["error"]["details"]] == [field]
    assert api.get(f"/api/bench/leaderboard/{EXPERIMENT}").json()["pairwise"] is None

    # When the good file is posted
    ingested(api, api.post(f"/api/bench/judge/{EXPERIMENT}/pair-scores", json=good))

    # Then the leaderboard gains a pairwise section: tidy rows above rambling ones
    def with_pairwise() -> Any:
        found = api.get(f"/api/bench/leaderboard/{EXPERIMENT}").json()
        return found if found["pairwise"] else None

    section = wait_until(with_pairwise, timeout_s=60, what="the pairwise section")["pairwise"]
    assert section["n_judgments"] == 12 and section["judges"] == ["ann"]
    assert [r["model"] for r in section["rows"]] == ["tidy:1b"] * 2 + ["rambler:2b"] * 2
    assert sum(r["n_pairs"] for r in section["rows"]) == 24
    assert sum(r["wins"] for r in section["rows"]) == sum(r["losses"] for r in section["rows"])
    assert all(r["ci_low"] <= r["strength"] <= r["ci_high"] for r in section["rows"])
    assert section["tau_n"] == 4 and section["kendall_tau"] > 0.8
    assert "Hunter 2004" in section["method"]
    # and MLflow records each verdict on both its runs, as the outcome for each
    mlflow = tracking.make_client(running_stack)
    outcomes = [
        json.loads(value)["outcome"]
        for run in runs
        for key, value in mlflow.get_run(run["run_id"]).data.tags.items()
        if key.startswith("pairwise/ann/")
    ]
    assert len(outcomes) == 2 * 12
    wins = sum(r["wins"] for r in section["rows"])
    assert outcomes.count("win") == outcomes.count("loss") == wins

    # And the judge's next packet holds only the pairs not judged yet (18 exist in all)
    following = api.get(pairs_url, params={"judge": "ann"}).json()
    assert following["packet_id"] != pair_packet["packet_id"]
    assert len(following["pairs"]) == 18 - 12

    # And once every pair is judged, no empty packet: a 404 that says why
    ingested(api, api.post(f"/api/bench/judge/{EXPERIMENT}/pair-scores", json=verdicts(following)))
    done = api.get(pairs_url, params={"judge": "ann"})
    assert done.status_code == 404, done.text
    assert "no pair left for ann" in done.json()["error"]["message"]
