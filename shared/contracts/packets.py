"""A judge packet: self-describing and blind.

A packet's items carry an opaque id, the scenario and the tips, never the model, the
prompt version or the run. The item -> run mapping stays on the server.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.base import Record

PACKET_SCHEMA: Literal["tipbench.judge-packet/2"] = "tipbench.judge-packet/2"


class PacketScenario(Record):
    """The context a candidate was written for."""

    id: str = Field(description="Scenario id in the suite.")
    vars: dict[str, str] = Field(description="The scenario's fields, as the model saw them.")
    n_tips: int = Field(description="How many tips were asked for.")
    word_limit: int = Field(description="Words per tip above which a tip is overlong.")


class Candidate(Record):
    """What a judge sees of one run: the scenario and the answer, nothing identifying."""

    scenario: PacketScenario = Field(description="Who and when.")
    answer: str = Field(description="The candidate's full answer.")
    tips: list[str] = Field(description="The tips tipbench parsed from the answer.")


class PacketItem(Candidate):
    """One blind candidate to score."""

    item_id: str = Field(description="Opaque id; quote it in the score file.")


class JudgePacket(Record):
    """A self-describing, blind set of candidates for a judge."""

    schema_version: Literal["tipbench.judge-packet/2"] = Field(description="Packet format.")
    packet_id: str = Field(description="Quote it in the score file.")
    experiment: str = Field(description="Experiment name.")
    judge_id: str | None = Field(None, description="The judge it was made for, if any.")
    rubric: dict[str, Any] = Field(description="The full rubric.")
    instructions: str = Field(description="How to score.")
    score_file_example: dict[str, Any] = Field(description="The shape of the answer.")
    items: list[PacketItem] = Field(description="The candidates, in shuffled order.")
