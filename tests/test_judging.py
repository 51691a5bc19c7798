"""Specs of blind packets: nothing identifying in them, a fresh order for every judge."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.contracts import Candidate, PacketScenario
from shared.errors import PacketNotFound
from shared.judging import assemble_packet, packet_for_judge
from shared.settings import Settings
from shared.stores.packets import PacketStore
from shared.stores.scores import ScoreStore
from shared.suite_files import builtin_suite, parse_suite

RUBRIC = builtin_suite("tip-v1").rubric
EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "study-tips.yaml"


def candidates(n: int) -> dict[str, Candidate]:
    scenario = PacketScenario(id="s1", vars={"who": "A nurse"}, n_tips=3, word_limit=30)
    return {
        f"run-{i:02d}": Candidate(scenario=scenario, answer=f"answer {i}", tips=[f"tip {i}"])
        for i in range(n)
    }


def test_a_packet_carries_no_run_id_and_maps_every_item_back() -> None:
    packet, item_runs = assemble_packet("exp", candidates(12), judge_id="ann", rubric=RUBRIC)
    text = json.dumps(packet.model_dump(mode="json"))
    assert "run-" not in text
    assert sorted(item_runs.values()) == sorted(candidates(12))
    assert {i.item_id for i in packet.items} == set(item_runs)
    assert packet.score_file_example["judge_id"] == "ann"
    assert [item["id"] for item in packet.rubric["items"]] == ["relevance", "actionability", "tone"]
    assert packet.rubric["composite"] == {
        "formula": "relevance + actionability + tone + 2*format_ok - overlong",
        "min": 2.0,
        "max": 17.0,
    }


def test_a_packet_follows_its_rubric_in_instructions_and_example() -> None:
    rubric = parse_suite(EXAMPLE.read_text("utf-8")).rubric
    packet, _ = assemble_packet("exp", candidates(2), judge_id=None, rubric=rubric)
    example = packet.score_file_example["scores"][0]
    assert set(example) == {"item_id", "relevance", "calm", "format_ok", "overlong", "rationale"}
    assert "Give relevance, calm as integers 1-5" in packet.instructions
    assert "format_ok, overlong as 0 or 1" in packet.instructions


def test_two_judges_get_different_orders_and_item_ids() -> None:
    first, first_runs = assemble_packet("exp", candidates(12), judge_id="ann", rubric=RUBRIC)
    second, second_runs = assemble_packet("exp", candidates(12), judge_id="bob", rubric=RUBRIC)
    order = [first_runs[i.item_id] for i in first.items]
    other = [second_runs[i.item_id] for i in second.items]
    assert sorted(order) == sorted(other) and order != other  # 1 in 12! to fail by chance
    assert set(first_runs).isdisjoint(second_runs)


def test_a_judge_with_nothing_left_gets_an_empty_packet() -> None:
    packet, item_runs = assemble_packet("exp", {}, judge_id="ann", rubric=RUBRIC)
    assert (packet.items, item_runs) == ([], {})


@pytest.fixture
def client(core_settings: Settings) -> Iterator[redis.Redis[bytes]]:
    with redis.Redis.from_url(core_settings.redis_url) as connection:
        yield connection


def test_packet_for_judge_holds_only_the_runs_the_judge_has_not_scored(
    core_settings: Settings, client: redis.Redis[bytes]
) -> None:
    # Given a pool of four runs, one of them scored by ann
    experiment = f"judge-{uuid.uuid4().hex[:6]}"
    packets, scores = PacketStore(client, core_settings), ScoreStore(client, core_settings)
    packets.add_candidates(experiment, candidates(4), RUBRIC)
    scores.record(experiment, "run-00", "ann", {"composite": 12}, None)
    # When ann asks for a packet
    packet, item_runs = packet_for_judge(packets, scores, experiment, "ann")
    # Then it holds the three others, made for her, kept with its mapping but not current
    assert sorted(item_runs.values()) == ["run-01", "run-02", "run-03"]
    assert packet.judge_id == "ann"
    assert packets.get(packet.packet_id) == packet
    assert packets.item_runs(packet.packet_id) == item_runs
    with pytest.raises(PacketNotFound):
        packets.latest(experiment)
    # And bob, who scored nothing, is given all four
    assert len(packet_for_judge(packets, scores, experiment, "bob")[1]) == 4
