"""Specs of blind packets: nothing identifying in them, a fresh order for every judge."""

from __future__ import annotations

import json

from shared.judging import Candidate, PacketScenario, assemble_packet


def candidates(n: int) -> dict[str, Candidate]:
    scenario = PacketScenario(persona="Nurse", persona_description="d", time_slot="t", n_tips=3)
    return {
        f"run-{i:02d}": Candidate(scenario=scenario, answer=f"answer {i}", tips=[f"tip {i}"])
        for i in range(n)
    }


def test_a_packet_carries_no_run_id_and_maps_every_item_back() -> None:
    packet, item_runs = assemble_packet("exp", candidates(12), judge_id="ann")
    text = json.dumps(packet.model_dump(mode="json"))
    assert "run-" not in text
    assert sorted(item_runs.values()) == sorted(candidates(12))
    assert {i.item_id for i in packet.items} == set(item_runs)
    assert packet.score_file_example["judge_id"] == "ann"
    assert set(packet.rubric["scales"]) == {"relevance", "actionability", "tone"}


def test_two_judges_get_different_orders_and_item_ids() -> None:
    first, first_runs = assemble_packet("exp", candidates(12), judge_id="ann")
    second, second_runs = assemble_packet("exp", candidates(12), judge_id="bob")
    order = [first_runs[i.item_id] for i in first.items]
    other = [second_runs[i.item_id] for i in second.items]
    assert sorted(order) == sorted(other) and order != other  # 1 in 12! to fail by chance
    assert set(first_runs).isdisjoint(second_runs)


def test_a_judge_with_nothing_left_gets_an_empty_packet() -> None:
    packet, item_runs = assemble_packet("exp", {}, judge_id="ann")
    assert (packet.items, item_runs) == ([], {})
